-- The reporting service's read models, all in one schema (``views``), built from the event
-- stream and rebuildable: ``python -m services.reporting rebuild`` builds a fresh copy in another
-- schema from the topics' beginning and swaps it in. The dated hierarchy's tables (the shared
-- DDL of chungtay_common/hierarchy) are created in the same schema before this file.

-- Which definition of the views this is: a service finding another one rebuilds them.
CREATE TABLE generation (generation integer NOT NULL);

-- Events applied to these tables (idempotent consumers: same transaction as the change), as
-- every service records them, here beside the views they changed.
CREATE TABLE processed_events (LIKE public.processed_events INCLUDING ALL);
CREATE INDEX processed_events_position ON processed_events (topic, partition, "offset");

-- The last event applied per topic and partition: freshness and rebuild positions.
CREATE TABLE positions (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    event_type  text NOT NULL,
    occurred_at timestamptz NOT NULL,
    applied_at  timestamptz NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Merges and splits: where a unit's area went (restating figures onto today's units).
CREATE TABLE lineage (
    predecessor_id uuid NOT NULL,
    successor_id   uuid NOT NULL,
    effective_date date NOT NULL,
    change         text NOT NULL CHECK (change IN ('merge', 'split')),
    PRIMARY KEY (predecessor_id, successor_id, effective_date)
);

CREATE TABLE campaigns (
    campaign_id         uuid PRIMARY KEY,
    code                text NOT NULL,
    name                text NOT NULL,
    first_year          integer NOT NULL,
    last_year           integer NOT NULL,
    participating_kinds text[] NOT NULL
);

CREATE TABLE cycles (
    campaign_id uuid NOT NULL REFERENCES campaigns ON DELETE CASCADE,
    year        integer NOT NULL,
    due_at      timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, year)
);

-- The indicator catalogue as last defined: what is summed above a unit.
CREATE TABLE indicators (
    code        text PRIMARY KEY,
    version     integer NOT NULL,
    name_vi     text NOT NULL,
    aggregation text NOT NULL,
    derived     boolean NOT NULL,
    retired     boolean NOT NULL
);

CREATE TABLE targets (
    campaign_id              uuid NOT NULL,
    year                     integer NOT NULL,
    unit_id                  uuid NOT NULL,
    reduction_pp_min         double precision,
    reduction_pp_max         double precision,
    households_out_min       bigint,
    households_out_max       bigint,
    at_most_national_average boolean NOT NULL,
    PRIMARY KEY (campaign_id, year, unit_id)
);

CREATE TABLE national_averages (
    year          integer PRIMARY KEY,
    poor_rate_pct double precision NOT NULL
);

-- Facts per unit and year: the values as last submitted (a correction replaces them), the
-- report's state and punctuality.
CREATE TABLE facts (
    campaign_id        uuid NOT NULL,
    unit_id            uuid NOT NULL,
    year               integer NOT NULL,
    report_id          uuid NOT NULL,
    version            integer NOT NULL,
    state              text NOT NULL,
    "values"           jsonb NOT NULL,
    warnings           jsonb NOT NULL DEFAULT '[]',
    first_submitted_at timestamptz NOT NULL,
    submitted_at       timestamptz NOT NULL,
    on_time            boolean NOT NULL,
    figures            text NOT NULL,  -- estimated (sơ bộ) or official (chính thức)
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, year, unit_id)
);
CREATE INDEX facts_unit ON facts (unit_id, campaign_id, year);

CREATE TABLE nominations (
    nomination_id     uuid PRIMARY KEY,
    form_code         text NOT NULL,
    year              integer NOT NULL,
    nominee_kind      text NOT NULL,
    nominee_unit_id   uuid NOT NULL,
    proposing_unit_id uuid NOT NULL,
    status            text NOT NULL,
    authority_level   text,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX nominations_year ON nominations (year, status);

-- Rollups per district and province and year: sums over the commune reports of the subtree as
-- it stood in the year, the like-for-like sums for the reduction, and report counts. Derived
-- figures (rates, attainment, national average) are computed from these on read.
CREATE TABLE rollups (
    campaign_id   uuid NOT NULL,
    year          integer NOT NULL,
    unit_id       uuid NOT NULL,
    kind          text NOT NULL,
    hierarchy_day date NOT NULL,
    refreshed_at  timestamptz NOT NULL DEFAULT now(),
    reports       integer NOT NULL,
    official      integer NOT NULL,  -- of those reports, how many with official figures
    sums          jsonb NOT NULL,
    both_reports  integer NOT NULL,
    both_now      jsonb NOT NULL,
    both_before   jsonb NOT NULL,
    due_at        timestamptz NOT NULL,
    expected      integer NOT NULL,
    on_time       integer NOT NULL,
    late          integer NOT NULL,
    accepted      integer NOT NULL,
    PRIMARY KEY (campaign_id, year, unit_id)
);
CREATE INDEX rollups_kind ON rollups (campaign_id, year, kind);

-- Exemplary models (điển hình tiên tiến) of the awards register as last announced, and where the
-- recognised ones were replicated: counted per district and province in the summaries (a model
-- in the year it was found, a replication in the year it took place, each by its unit).
CREATE TABLE exemplary_models (
    model_id   uuid PRIMARY KEY,
    name       text NOT NULL,
    kind       text NOT NULL,
    unit_id    uuid NOT NULL,
    year       integer NOT NULL,
    recognised boolean NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX exemplary_models_year ON exemplary_models (year, unit_id);

CREATE TABLE replications (
    replication_id uuid PRIMARY KEY,
    model_id       uuid NOT NULL,
    unit_id        uuid NOT NULL,
    replicated_on  date NOT NULL,
    outcome        text NOT NULL
);
CREATE INDEX replications_year ON replications (replicated_on, unit_id);
