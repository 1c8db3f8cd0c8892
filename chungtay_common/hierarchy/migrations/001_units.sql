-- A consumer's copy of the dated unit hierarchy, fed by registration events (snapshots).
CREATE TABLE units (
    unit_id    uuid PRIMARY KEY,
    kind       text NOT NULL,
    revision   integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE unit_versions (
    unit_id    uuid NOT NULL REFERENCES units (unit_id) ON DELETE CASCADE,
    valid_from date NOT NULL,
    valid_to   date,
    code       text,
    name       text NOT NULL,
    subkind    text,
    parent_id  uuid,
    PRIMARY KEY (unit_id, valid_from),
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE INDEX unit_versions_parent ON unit_versions (parent_id, valid_from);
