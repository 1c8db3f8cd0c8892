-- Estimated (sơ bộ) or official (chính thức) figures: a report due before 20 November precedes
-- the yearly household poverty review, which later makes its figures official.
ALTER TABLE reports ADD COLUMN figures text NOT NULL DEFAULT 'estimated'
    CHECK (figures IN ('estimated', 'official'));
ALTER TABLE report_versions ADD COLUMN figures text NOT NULL DEFAULT 'estimated'
    CHECK (figures IN ('estimated', 'official'));
