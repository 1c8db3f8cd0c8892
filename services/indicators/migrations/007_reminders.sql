-- Urging late units (đôn đốc): contact points, each campaign's reminder policy, the notices
-- (each unit's inbox) and their deliveries by email and webhook.

-- A unit's contact points, kept by registrars of its subtree. Personal data: read only within
-- scope, every read audited. A removed contact is kept (its deliveries name it) but not used.
CREATE TABLE contacts (
    contact_id     uuid PRIMARY KEY,
    unit_id        uuid NOT NULL,
    name           text NOT NULL,
    role           text,
    email          text,
    phone          text,
    webhook_url    text,
    webhook_secret text,  -- the HMAC key of the webhook's signatures, shown once
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    removed_at     timestamptz,
    CHECK (email IS NOT NULL OR phone IS NOT NULL OR webhook_url IS NOT NULL),
    CHECK ((webhook_url IS NULL) = (webhook_secret IS NULL))
);
CREATE INDEX contacts_of_unit ON contacts (unit_id) WHERE removed_at IS NULL;

-- When a campaign's units are reminded (no row: the defaults of domain_reminders.Policy).
CREATE TABLE reminder_policies (
    campaign_id         uuid PRIMARY KEY REFERENCES campaigns (campaign_id),
    before_days         integer[] NOT NULL,
    after_first_days    integer NOT NULL,
    after_every_days    integer NOT NULL,
    stop_after_days     integer NOT NULL,
    escalate_after_days integer NOT NULL,
    updated_by          text NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- One notice per unit, cycle and step ('before:7', 'after:8', 'escalation:7'), whatever
-- restarts, redeliveries or instances run: the key below.
CREATE TABLE notices (
    notice_id   uuid PRIMARY KEY,
    campaign_id uuid NOT NULL REFERENCES campaigns (campaign_id),
    year        integer NOT NULL,
    unit_id     uuid NOT NULL,        -- whose inbox
    kind        text NOT NULL CHECK (kind IN ('before_due', 'after_due', 'escalation')),
    step        text NOT NULL,
    about       uuid[] NOT NULL,      -- the units still missing it tells of
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    read_at     timestamptz,
    read_by     text,
    UNIQUE (campaign_id, year, unit_id, step)
);
CREATE INDEX notices_inbox ON notices (unit_id, created_at DESC);

-- A notice to one contact by one channel: sent, or retried with back-off until it is, or
-- after the last try listed as dead (and retried by hand); cancelled when its contact is
-- removed. While a round sends it, next_attempt_at is the round's lease.
CREATE TABLE deliveries (
    delivery_id     uuid PRIMARY KEY,
    notice_id       uuid NOT NULL REFERENCES notices (notice_id),
    contact_id      uuid NOT NULL REFERENCES contacts (contact_id),
    channel         text NOT NULL CHECK (channel IN ('email', 'webhook')),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'dead', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (notice_id, contact_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
