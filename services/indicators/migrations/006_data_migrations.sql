-- Data migrations: the recorded actions within which an administrator back-fills records kept
-- before the system existed (historical submission instants). A back-filled submission names
-- an open one; its report version's note and audit row name it too.
CREATE TABLE data_migrations (
    migration_id uuid PRIMARY KEY,
    reference    text NOT NULL,
    reason       text NOT NULL,
    opened_by    text NOT NULL,
    opened_at    timestamptz NOT NULL DEFAULT now(),
    closed_by    text,
    closed_at    timestamptz,
    CHECK ((closed_by IS NULL) = (closed_at IS NULL))
);
CREATE INDEX data_migrations_opened ON data_migrations (opened_at);
