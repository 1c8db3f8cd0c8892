-- Units and their dated versions: the authoritative hierarchy. Validity is [valid_from, valid_to).
CREATE TABLE units (
    unit_id    uuid PRIMARY KEY,
    kind       text NOT NULL,
    revision   integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE unit_versions (
    unit_id     uuid NOT NULL REFERENCES units (unit_id),
    valid_from  date NOT NULL,
    valid_to    date,
    code        text,
    name        text NOT NULL CHECK (name = normalize(name, NFC)),
    name_folded text NOT NULL,
    subkind     text,
    parent_id   uuid REFERENCES units (unit_id),
    PRIMARY KEY (unit_id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from),
    -- one version of a unit at a time
    EXCLUDE USING gist (unit_id WITH =, daterange(valid_from, valid_to) WITH &&),
    -- two units never hold the same code on the same day
    EXCLUDE USING gist (code WITH =, daterange(valid_from, valid_to) WITH &&)
        WHERE (code IS NOT NULL)
);
CREATE INDEX unit_versions_parent ON unit_versions (parent_id, valid_from);
CREATE INDEX unit_versions_code ON unit_versions (code);
CREATE INDEX unit_versions_folded ON unit_versions (name_folded text_pattern_ops);

-- Merges and splits: which units a unit came from, so each predecessor's history stays readable.
CREATE TABLE unit_lineage (
    id             bigserial PRIMARY KEY,
    change         text NOT NULL CHECK (change IN ('merge', 'split')),
    effective_date date NOT NULL,
    predecessor_id uuid NOT NULL REFERENCES units (unit_id),
    successor_id   uuid NOT NULL REFERENCES units (unit_id),
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (change, predecessor_id, successor_id, effective_date)
);
CREATE INDEX unit_lineage_successor ON unit_lineage (successor_id);
