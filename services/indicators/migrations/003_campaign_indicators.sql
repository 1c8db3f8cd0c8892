-- A campaign keeps the indicator catalogue it is run with: each entry's definition and version
-- as they were when the campaign was created. Its reports are validated against this copy, so
-- a later change of the catalogue (a retirement, new bounds, a new required indicator) neither
-- changes nor blocks them; the next campaign takes the catalogue as it is then.
CREATE TABLE campaign_indicators (
    campaign_id uuid NOT NULL REFERENCES campaigns (campaign_id),
    LIKE indicators INCLUDING DEFAULTS,  -- a copy of the catalogue's entry
    PRIMARY KEY (campaign_id, code)
);
ALTER TABLE campaign_indicators DROP COLUMN updated_at, DROP COLUMN updated_by;

-- Campaigns that exist already get the catalogue as it is now.
INSERT INTO campaign_indicators (campaign_id, code, version, name_vi, name_en, unit_of_measure,
                                 value_type, min_value, max_value, reported_by, aggregation,
                                 derived, formula, required, retired)
SELECT c.campaign_id, i.code, i.version, i.name_vi, i.name_en, i.unit_of_measure, i.value_type,
       i.min_value, i.max_value, i.reported_by, i.aggregation, i.derived, i.formula, i.required,
       i.retired
FROM campaigns c CROSS JOIN indicators i;
