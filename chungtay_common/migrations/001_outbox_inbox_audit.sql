-- Shared tables every service has: outbox (events to publish), processed events
-- (idempotent consumers), audit log (every state change: who, when, what, before, after).
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          text NOT NULL,
    event_type   text NOT NULL,
    body         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE processed_events (
    event_id     uuid PRIMARY KEY,
    event_type   text NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    actor_roles text[] NOT NULL DEFAULT '{}',
    action      text NOT NULL,
    entity_type text NOT NULL,
    entity_id   text NOT NULL,
    before      jsonb,
    after       jsonb,
    correlation_id uuid
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, at);

CREATE TABLE idempotency_keys (
    key          text NOT NULL,
    actor        text NOT NULL,
    method       text NOT NULL,
    path         text NOT NULL,
    request_hash text NOT NULL,
    status_code  integer NOT NULL,
    response     jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, key)
);
