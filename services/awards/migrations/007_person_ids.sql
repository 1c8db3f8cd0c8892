-- A person with a citizen identity number (CCCD) is found by the number, kept here only: their
-- id is random (an id derived from the number could be reversed by trying the numbers). One
-- record per number.

-- the records given an id derived from the number (by 006's code) get a random one, everywhere
-- the id is used
CREATE TEMP TABLE person_rekey AS
SELECT nominee_id AS old_id, gen_random_uuid()::text AS new_id
  FROM persons WHERE citizen_id IS NOT NULL;

INSERT INTO persons (nominee_id, unit_id, name, name_key, citizen_id, linked_to, linked_by,
                     linked_at, first_seen)
SELECT k.new_id, p.unit_id, p.name, p.name_key, p.citizen_id, NULL, p.linked_by, p.linked_at,
       p.first_seen
  FROM persons p JOIN person_rekey k ON k.old_id = p.nominee_id;
UPDATE persons p SET linked_to = o.linked_to
  FROM person_rekey k JOIN persons o ON o.nominee_id = k.old_id
 WHERE p.nominee_id = k.new_id;
UPDATE persons p SET linked_to = k.new_id FROM person_rekey k WHERE p.linked_to = k.old_id;
UPDATE nominations t SET nominee_id = k.new_id FROM person_rekey k
 WHERE t.nominee_kind = 'person' AND t.nominee_id = k.old_id;
UPDATE enrollment_items t SET nominee_id = k.new_id FROM person_rekey k
 WHERE t.nominee_kind = 'person' AND t.nominee_id = k.old_id;
UPDATE initiatives t SET nominee_id = k.new_id FROM person_rekey k
 WHERE t.nominee_kind = 'person' AND t.nominee_id = k.old_id;
DELETE FROM persons p USING person_rekey k WHERE p.nominee_id = k.old_id;
DROP TABLE person_rekey;

CREATE UNIQUE INDEX persons_citizen_id ON persons (citizen_id) WHERE citizen_id IS NOT NULL;
