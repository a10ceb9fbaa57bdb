-- What email providers report back: addresses never to send to again, and per-email delivery events.

CREATE TABLE suppressions (
    email       text    NOT NULL PRIMARY KEY,   -- lower case
    reason      text    NOT NULL,               -- bounce | blocked | spamreport | dropped
    detail      text,
    created_at  bigint  NOT NULL
);

CREATE TABLE email_deliveries (
    event_id      text    NOT NULL PRIMARY KEY,  -- the provider's event id: a repeated delivery is ignored
    enrolment_id  uuid,
    template      text,
    event         text    NOT NULL,
    occurred_at   bigint  NOT NULL,
    detail        text
);
CREATE INDEX ix_email_deliveries_enrolment ON email_deliveries (enrolment_id, occurred_at);
