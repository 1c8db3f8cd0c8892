-- The award catalogue: titles and forms of commendation, with who grants them.
CREATE TABLE award_forms (
    code            text PRIMARY KEY,
    name_vi         text NOT NULL,
    category        text NOT NULL,
    for_whom        text NOT NULL,
    authority_level text NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Criteria as data: every change is a new version; nominations record the version used.
CREATE TABLE award_rules (
    form_code  text NOT NULL REFERENCES award_forms (code),
    version    integer NOT NULL,
    rule       jsonb NOT NULL,
    note       text,
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (form_code, version)
);

-- Emulation registration (đăng ký thi đua): what a unit aims for in a year.
CREATE TABLE enrollment_windows (
    year      integer PRIMARY KEY,
    closes_on date NOT NULL,
    set_by    text NOT NULL,
    set_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrollments (
    enrollment_id uuid PRIMARY KEY,
    unit_id       uuid NOT NULL,
    year          integer NOT NULL,
    registered_by text NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrollment_items (
    enrollment_id uuid NOT NULL REFERENCES enrollments (enrollment_id),
    form_code     text NOT NULL REFERENCES award_forms (code),
    nominee_kind  text NOT NULL,
    nominee_id    text NOT NULL,
    nominee_name  text NOT NULL,
    nominee_unit  uuid NOT NULL,
    PRIMARY KEY (enrollment_id, form_code, nominee_kind, nominee_id)
);
CREATE INDEX enrollment_items_nominee ON enrollment_items (nominee_kind, nominee_id, form_code);

-- Nomination dossiers and every step taken on them.
CREATE TABLE nominations (
    nomination_id       uuid PRIMARY KEY,
    form_code           text NOT NULL REFERENCES award_forms (code),
    year                integer NOT NULL,
    nominee_kind        text NOT NULL,
    nominee_id          text NOT NULL,
    nominee_name        text NOT NULL,
    nominee_unit        uuid NOT NULL,
    nominee_details     jsonb NOT NULL DEFAULT '{}',
    proposing_unit_id   uuid NOT NULL,
    achievements        text NOT NULL,
    status              text NOT NULL,
    enrolled            boolean NOT NULL,
    council             jsonb,
    appraisal           jsonb,
    rule_version        integer,
    needs_reappraisal   boolean NOT NULL DEFAULT false,
    reappraisal_reason  text,
    decision            jsonb,
    revocation          jsonb,
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- one open (or granted) nomination per nominee, form and year
CREATE UNIQUE INDEX nominations_one_open ON nominations (nominee_kind, nominee_id, form_code, year)
    WHERE status NOT IN ('rejected', 'revoked');
CREATE INDEX nominations_status ON nominations (year, status, form_code);

CREATE TABLE nomination_steps (
    nomination_id uuid NOT NULL REFERENCES nominations (nomination_id),
    seq           integer NOT NULL,
    step          text NOT NULL,
    status        text NOT NULL,
    actor         text NOT NULL,
    actor_roles   text[] NOT NULL,
    comment       text,
    details       jsonb,
    at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (nomination_id, seq)
);

CREATE TABLE evidence (
    evidence_id   uuid PRIMARY KEY,
    nomination_id uuid NOT NULL REFERENCES nominations (nomination_id),
    file_name     text NOT NULL,
    media_type    text NOT NULL,
    size_bytes    integer NOT NULL,
    sha256        text NOT NULL,
    content       bytea NOT NULL,
    added_by      text NOT NULL,
    added_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX evidence_nomination ON evidence (nomination_id);

-- Reported facts, from the indicators service's events (this service's own copy).
CREATE TABLE reported_facts (
    campaign_id uuid NOT NULL,
    unit_id     uuid NOT NULL,
    year        integer NOT NULL,
    version     integer NOT NULL,
    "values"    jsonb NOT NULL,
    on_time     boolean,
    status      text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, unit_id, year)
);
CREATE INDEX reported_facts_unit ON reported_facts (unit_id, year);

CREATE TABLE unit_targets (
    campaign_id        uuid NOT NULL,
    unit_id            uuid NOT NULL,
    year               integer NOT NULL,
    reduction_pp_min   numeric,
    households_out_min integer,
    PRIMARY KEY (campaign_id, unit_id, year)
);
