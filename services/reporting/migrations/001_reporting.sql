-- The ministry feed: published central summaries, immutable and numbered in publication order.
-- Not a read model: never rebuilt, never changed.
CREATE TABLE feed_snapshots (
    seq            bigint PRIMARY KEY,
    snapshot_id    uuid NOT NULL UNIQUE,
    campaign_id    uuid NOT NULL,
    year           integer NOT NULL,
    province_id    uuid NOT NULL,
    supersedes_seq bigint REFERENCES feed_snapshots (seq),
    summary        jsonb NOT NULL,
    summary_sha256 text NOT NULL,
    published_at   timestamptz NOT NULL,
    published_by   text NOT NULL
);
CREATE INDEX feed_snapshots_subject ON feed_snapshots (campaign_id, year, province_id, seq);

-- published snapshots are never changed (refuse_change: the common migrations)
CREATE TRIGGER feed_snapshots_immutable BEFORE UPDATE OR DELETE ON feed_snapshots
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER feed_snapshots_no_truncate BEFORE TRUNCATE ON feed_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Rebuilds of the views (``python -m services.reporting rebuild``): their progress, which the
-- service exports as metrics, and their outcome.
CREATE TABLE rebuilds (
    rebuild_id  bigserial PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    state       text NOT NULL CHECK (state IN ('running', 'swapped', 'failed')),
    events      bigint NOT NULL DEFAULT 0,
    read_ratio  double precision NOT NULL DEFAULT 0,
    detail      text
);
