-- What email providers report back: addresses never to send to again, and per-email delivery events.

CREATE TABLE suppressions (
    email       TEXT    NOT NULL PRIMARY KEY,   -- lower case
    reason      TEXT    NOT NULL,               -- bounce | blocked | spamreport | dropped
    detail      TEXT,
    created_at  INTEGER NOT NULL
);

CREATE TABLE email_deliveries (
    event_id      TEXT    NOT NULL PRIMARY KEY,  -- the provider's event id: a repeated delivery is ignored
    enrolment_id  TEXT,
    template      TEXT,
    event         TEXT    NOT NULL,
    occurred_at   INTEGER NOT NULL,
    detail        TEXT
);
CREATE INDEX ix_email_deliveries_enrolment ON email_deliveries (enrolment_id, occurred_at);
