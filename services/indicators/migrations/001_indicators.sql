-- Campaigns and their yearly reporting cycles.
CREATE TABLE campaigns (
    campaign_id         uuid PRIMARY KEY,
    code                text NOT NULL UNIQUE,
    name                text NOT NULL,
    first_year          integer NOT NULL,
    last_year           integer NOT NULL CHECK (last_year >= first_year),
    legal_basis         jsonb NOT NULL DEFAULT '[]',
    participating_kinds text[] NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    created_by          text NOT NULL
);

CREATE TABLE reporting_cycles (
    campaign_id uuid NOT NULL REFERENCES campaigns (campaign_id),
    year        integer NOT NULL,
    due_at      timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, year)
);

-- The indicator catalogue: one row per code, its current definition and version.
CREATE TABLE indicators (
    code            text PRIMARY KEY,
    version         integer NOT NULL DEFAULT 1,
    name_vi         text NOT NULL,
    name_en         text NOT NULL,
    unit_of_measure text NOT NULL,
    value_type      text NOT NULL,
    min_value       numeric,
    max_value       numeric,
    reported_by     text[] NOT NULL,
    aggregation     text NOT NULL,
    derived         boolean NOT NULL,
    formula         text,
    required        boolean NOT NULL,
    retired         boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      text NOT NULL
);

CREATE TABLE targets (
    campaign_id               uuid NOT NULL REFERENCES campaigns (campaign_id),
    year                      integer NOT NULL,
    unit_id                   uuid NOT NULL,
    reduction_pp_min          numeric,
    reduction_pp_max          numeric,
    households_out_min        integer,
    households_out_max        integer,
    at_most_national_average  boolean NOT NULL DEFAULT false,
    source                    text,
    set_at                    timestamptz NOT NULL DEFAULT now(),
    set_by                    text NOT NULL,
    PRIMARY KEY (campaign_id, year, unit_id),
    CHECK (reduction_pp_max IS NULL OR reduction_pp_min IS NULL
           OR reduction_pp_max >= reduction_pp_min),
    CHECK (households_out_max IS NULL OR households_out_min IS NULL
           OR households_out_max >= households_out_min)
);

CREATE TABLE national_averages (
    year          integer PRIMARY KEY,
    poor_rate_pct numeric NOT NULL,
    source        text NOT NULL,
    set_at        timestamptz NOT NULL DEFAULT now(),
    set_by        text NOT NULL
);

-- One report per unit, campaign and year; every change is a new version.
CREATE TABLE reports (
    report_id          uuid PRIMARY KEY,
    campaign_id        uuid NOT NULL REFERENCES campaigns (campaign_id),
    unit_id            uuid NOT NULL,
    year               integer NOT NULL,
    status             text NOT NULL,
    version            integer NOT NULL,
    "values"           jsonb NOT NULL DEFAULT '{}',
    warnings           jsonb NOT NULL DEFAULT '[]',
    first_submitted_at timestamptz,
    submitted_at       timestamptz,
    on_time            boolean,
    accepted_at        timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, unit_id, year)
);
CREATE INDEX reports_year ON reports (campaign_id, year, status);

CREATE TABLE report_versions (
    report_id  uuid NOT NULL REFERENCES reports (report_id),
    version    integer NOT NULL,
    action     text NOT NULL,
    status     text NOT NULL,
    "values"   jsonb NOT NULL,
    warnings   jsonb NOT NULL,
    note       text,
    actor      text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (report_id, version)
);

-- report.overdue goes out once per unit and cycle, whatever restarts happen.
CREATE TABLE overdue_notices (
    campaign_id uuid NOT NULL,
    year        integer NOT NULL,
    unit_id     uuid NOT NULL,
    noticed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, year, unit_id)
);
