-- One person, one identity: the person records nominations, registrations and initiatives
-- meet on. A person is known by their citizen identity number (CCCD, 12 digits) where given,
-- else by their unit and their name compared in NFC, without zero-width characters or repeated
-- spaces, case folded. Namesakes in one unit without a CCCD are flagged, never merged; a
-- person who moved to another unit is linked by the board to their earlier record.
CREATE TABLE persons (
    nominee_id  text PRIMARY KEY,
    unit_id     uuid NOT NULL,          -- the unit the person was last nominated in
    name        text NOT NULL,
    name_key    text NOT NULL,          -- the name as compared
    citizen_id  text CHECK (citizen_id ~ '^[0-9]{12}$'),
    linked_to   text REFERENCES persons (nominee_id) CHECK (linked_to <> nominee_id),
    linked_by   text,
    linked_at   timestamptz,
    first_seen  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX persons_unit_name ON persons (unit_id, name_key);
CREATE INDEX persons_linked_to ON persons (linked_to);

-- the people already recorded (by unit and name)
INSERT INTO persons (nominee_id, unit_id, name, name_key)
SELECT DISTINCT ON (nominee_id) nominee_id, nominee_unit, nominee_name,
       lower(btrim(regexp_replace(
           translate(normalize(nominee_name, NFC), E'\u200b\u200c\u200d\ufeff', ''),
           '\s+', ' ', 'g')))
  FROM (SELECT nominee_id, nominee_unit, nominee_name, created_at AS at FROM nominations
         WHERE nominee_kind = 'person'
        UNION ALL
        SELECT nominee_id, nominee_unit, nominee_name, recorded_at FROM initiatives
         WHERE nominee_kind = 'person'
        UNION ALL
        SELECT i.nominee_id, i.nominee_unit, i.nominee_name, e.registered_at
          FROM enrollment_items i JOIN enrollments e USING (enrollment_id)
         WHERE i.nominee_kind = 'person') AS seen
 ORDER BY nominee_id, at DESC;
