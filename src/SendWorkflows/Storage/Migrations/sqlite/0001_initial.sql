-- The workflow store. Times are Unix milliseconds (UTC); ids are text.

CREATE TABLE api_clients (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    key_hash    TEXT    NOT NULL UNIQUE,
    scopes      TEXT    NOT NULL,          -- space-separated
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE programmes (
    id          TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    definition  TEXT    NOT NULL,          -- the validated JSON document
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE enrolments (
    id                 TEXT    NOT NULL PRIMARY KEY,
    programme_id       TEXT    NOT NULL,
    programme_version  INTEGER NOT NULL,
    school_urn         TEXT    NOT NULL,
    external_id        TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    state              TEXT    NOT NULL,   -- the decider's state as JSON
    version            INTEGER NOT NULL,   -- optimistic concurrency
    next_wake_at       INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (programme_id, school_urn, external_id)
);
CREATE INDEX ix_enrolments_next_wake ON enrolments (next_wake_at) WHERE next_wake_at IS NOT NULL;
CREATE INDEX ix_enrolments_school ON enrolments (school_urn, status);

-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE enrolment_events (
    seq           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    enrolment_id  TEXT    NOT NULL REFERENCES enrolments (id),
    event_key     TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    recorded_at   INTEGER NOT NULL,
    UNIQUE (enrolment_id, event_key)
);

CREATE TABLE live_sessions (
    id            TEXT    NOT NULL PRIMARY KEY,
    programme_id  TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    starts_at     INTEGER NOT NULL,
    ends_at       INTEGER NOT NULL,
    location      TEXT    NOT NULL,
    capacity      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE session_bookings (
    session_id    TEXT    NOT NULL REFERENCES live_sessions (id),
    enrolment_id  TEXT    NOT NULL REFERENCES enrolments (id),
    status        TEXT    NOT NULL,        -- booked | cancelled
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (session_id, enrolment_id)
);

CREATE TABLE outbox (
    id               INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    dedupe_key       TEXT    NOT NULL UNIQUE,
    enrolment_id     TEXT,
    kind             TEXT    NOT NULL,     -- email
    template         TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL,     -- pending | sent | dead
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER
);
CREATE INDEX ix_outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX ix_outbox_enrolment ON outbox (enrolment_id);

CREATE TABLE idempotent_requests (
    client_id     TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    request_hash  TEXT    NOT NULL,
    status_code   INTEGER,                 -- null while the first request is still running
    content_type  TEXT,
    body          BLOB,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (client_id, key)
);
CREATE INDEX ix_idempotent_requests_created ON idempotent_requests (created_at);
