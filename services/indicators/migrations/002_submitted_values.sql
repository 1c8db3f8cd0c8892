-- The values as last submitted (what the level above and the events have), apart from the
-- values being edited in a draft: aggregates and year-on-year checks use these.
ALTER TABLE reports ADD COLUMN submitted_values jsonb;
UPDATE reports SET submitted_values = "values" WHERE first_submitted_at IS NOT NULL;
