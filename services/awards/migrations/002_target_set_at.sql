-- When a target was last set: of the targets of one unit and year (several campaigns), the
-- latest one is the one an appraisal reads.
ALTER TABLE unit_targets ADD COLUMN set_at timestamptz NOT NULL DEFAULT now();
