-- The workflow store on PostgreSQL: the same tables and columns as the SQLite store. Times are Unix
-- milliseconds (UTC) in bigint, as there; ids are uuid; the decider's state is jsonb, so reports can
-- read it in SQL.

CREATE TABLE api_clients (
    id          uuid    NOT NULL PRIMARY KEY,
    name        text    NOT NULL,
    key_hash    text    NOT NULL UNIQUE,
    scopes      text    NOT NULL,          -- space-separated
    created_at  bigint  NOT NULL,
    revoked_at  bigint
);

CREATE TABLE programmes (
    id          text    NOT NULL,
    version     integer NOT NULL,
    definition  text    NOT NULL,          -- the validated JSON document
    created_at  bigint  NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE enrolments (
    id                 uuid    NOT NULL PRIMARY KEY,
    programme_id       text    NOT NULL,
    programme_version  integer NOT NULL,
    school_urn         text    NOT NULL,
    external_id        text    NOT NULL,
    status             text    NOT NULL,
    state              jsonb   NOT NULL,   -- the decider's state
    version            bigint  NOT NULL,   -- optimistic concurrency
    next_wake_at       bigint,
    wake_lease_until   bigint,             -- a worker has claimed the due timer until then
    created_at         bigint  NOT NULL,
    updated_at         bigint  NOT NULL,
    UNIQUE (programme_id, school_urn, external_id)
)
-- Every event rewrites its enrolment's row: leave room on each page for the new version, and vacuum
-- after 2% of the table has changed rather than the default 20% (a million rows).
WITH (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX ix_enrolments_next_wake ON enrolments (next_wake_at) WHERE next_wake_at IS NOT NULL;
CREATE INDEX ix_enrolments_school ON enrolments (school_urn, status);

-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE enrolment_events (
    seq           bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enrolment_id  uuid    NOT NULL REFERENCES enrolments (id),
    event_key     text    NOT NULL,
    type          text    NOT NULL,
    payload       text    NOT NULL,
    recorded_at   bigint  NOT NULL,
    UNIQUE (enrolment_id, event_key)
);

CREATE TABLE live_sessions (
    id            text    NOT NULL PRIMARY KEY,
    programme_id  text    NOT NULL,
    title         text    NOT NULL,
    starts_at     bigint  NOT NULL,
    ends_at       bigint  NOT NULL,
    location      text    NOT NULL,
    capacity      integer NOT NULL,
    created_at    bigint  NOT NULL,
    updated_at    bigint  NOT NULL
);

CREATE TABLE session_bookings (
    session_id    text    NOT NULL REFERENCES live_sessions (id),
    enrolment_id  uuid    NOT NULL REFERENCES enrolments (id),
    status        text    NOT NULL,        -- booked | cancelled
    updated_at    bigint  NOT NULL,
    PRIMARY KEY (session_id, enrolment_id)
);

CREATE TABLE outbox (
    id               bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key       text    NOT NULL UNIQUE,
    enrolment_id     uuid,
    kind             text    NOT NULL,     -- email | certificate | webhook
    template         text    NOT NULL,
    payload          text    NOT NULL,
    status           text    NOT NULL,     -- pending | sent | dead | cancelled
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  bigint  NOT NULL,
    lease_until      bigint,
    last_error       text,
    created_at       bigint  NOT NULL,
    sent_at          bigint
)
-- Each row is written, claimed and marked sent: the same reasoning as enrolments.
WITH (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX ix_outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX ix_outbox_enrolment ON outbox (enrolment_id);

CREATE TABLE idempotent_requests (
    client_id     uuid    NOT NULL,
    key           text    NOT NULL,
    request_hash  text    NOT NULL,
    status_code   integer,                 -- null while the first request is still running
    content_type  text,
    body          bytea,
    created_at    bigint  NOT NULL,
    PRIMARY KEY (client_id, key)
);
CREATE INDEX ix_idempotent_requests_created ON idempotent_requests (created_at);
