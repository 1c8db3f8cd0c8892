-- The audit log is append-only: what was done, by whom and when is never changed or removed,
-- whatever a service (or someone with its database role) runs. Entries record the caller's unit.
ALTER TABLE audit_log ADD COLUMN actor_unit_id uuid;

-- The trigger function of every append-only table (the audit log, the ministry feed).
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: its rows are never changed', TG_TABLE_NAME;
END $$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
