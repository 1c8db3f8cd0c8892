-- Who signs a form, as data: the kinds of unit whose head (role chairman) signs it (NULL: the
-- People's Committee chairman of the form's authority level), and the kinds of nominee a form
-- also goes to besides its own (Law on Emulation and Commendation; Decree 91/2017/NĐ-CP).
ALTER TABLE award_forms
    ADD COLUMN signer_unit_kinds text[],
    ADD COLUMN also_for text[] NOT NULL DEFAULT '{}';

-- The seeded forms of an existing catalogue, as the seed now has them.
UPDATE award_forms SET signer_unit_kinds = '{district,commune,agency,mass_org,enterprise}'
 WHERE code = 'lao_dong_tien_tien';
UPDATE award_forms SET signer_unit_kinds = '{district,agency,mass_org,enterprise}'
 WHERE code = 'tap_the_lao_dong_tien_tien';
UPDATE award_forms SET signer_unit_kinds = '{district,agency}'
 WHERE code = 'chien_si_thi_dua_co_so';
UPDATE award_forms SET also_for = '{individual,collective}' WHERE code = 'giay_khen_chu_tich_xa';
UPDATE award_forms SET also_for = '{individual,household}' WHERE code = 'giay_khen_chu_tich_huyen';
UPDATE award_forms SET also_for = '{individual}' WHERE code = 'bang_khen_chu_tich_tinh';
