-- Webhooks out: API clients' subscriptions, and every delivery attempt, readable by the subscriber.

CREATE TABLE webhook_subscriptions (
    id               uuid    NOT NULL PRIMARY KEY,
    client_id        uuid    NOT NULL REFERENCES api_clients (id),
    url              text    NOT NULL,
    events           jsonb   NOT NULL,   -- array of event types
    secret           text    NOT NULL,   -- whsec_…: needed to sign each delivery, so kept as issued
    created_at       bigint  NOT NULL,
    disabled_at      bigint,             -- the receiver answered 410 Gone
    disabled_reason  text,
    seq              bigint  GENERATED ALWAYS AS IDENTITY   -- creation order among equal created_at
);
CREATE INDEX ix_webhook_subscriptions_client ON webhook_subscriptions (client_id);

-- One row per attempt. The outbox row is the delivery itself (pending, sent, dead); this is its history.
CREATE TABLE webhook_deliveries (
    id               bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id  uuid    NOT NULL,
    outbox_id        bigint  NOT NULL,
    event_type       text    NOT NULL,
    webhook_id       text    NOT NULL,   -- the same for every attempt at one event
    attempt          integer NOT NULL,
    attempted_at     bigint  NOT NULL,
    status_code      integer,            -- null when no answer came (timeout, refused connection)
    error            text,
    outcome          text    NOT NULL,   -- delivered | retrying | dead | disabled
    next_attempt_at  bigint
);
CREATE INDEX ix_webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);
