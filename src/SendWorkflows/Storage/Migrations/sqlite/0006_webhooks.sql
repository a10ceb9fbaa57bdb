-- Webhooks out: API clients' subscriptions, and every delivery attempt, readable by the subscriber.

CREATE TABLE webhook_subscriptions (
    id               TEXT    NOT NULL PRIMARY KEY,
    client_id        TEXT    NOT NULL REFERENCES api_clients (id),
    url              TEXT    NOT NULL,
    events           TEXT    NOT NULL,   -- JSON array of event types
    secret           TEXT    NOT NULL,   -- whsec_…: needed to sign each delivery, so kept as issued
    created_at       INTEGER NOT NULL,
    disabled_at      INTEGER,            -- the receiver answered 410 Gone
    disabled_reason  TEXT
);
CREATE INDEX ix_webhook_subscriptions_client ON webhook_subscriptions (client_id);

-- One row per attempt. The outbox row is the delivery itself (pending, sent, dead); this is its history.
CREATE TABLE webhook_deliveries (
    id               INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    subscription_id  TEXT    NOT NULL,
    outbox_id        INTEGER NOT NULL,
    event_type       TEXT    NOT NULL,
    webhook_id       TEXT    NOT NULL,   -- the same for every attempt at one event
    attempt          INTEGER NOT NULL,
    attempted_at     INTEGER NOT NULL,
    status_code      INTEGER,            -- null when no answer came (timeout, refused connection)
    error            TEXT,
    outcome          TEXT    NOT NULL,   -- delivered | retrying | dead | disabled
    next_attempt_at  INTEGER
);
CREATE INDEX ix_webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);
