-- Council votes count against the council's total membership (Law on Emulation and
-- Commendation, Decree 91/2017/NĐ-CP): the share of all members a form needs, whether "more
-- than" or "at least" that share, and whether the ballot must be secret, are data of the form.
ALTER TABLE award_forms
    ADD COLUMN vote_threshold numeric NOT NULL DEFAULT 0.5
        CHECK (vote_threshold > 0 AND vote_threshold <= 1),
    ADD COLUMN vote_comparison text NOT NULL DEFAULT 'more_than'
        CHECK (vote_comparison IN ('more_than', 'at_least')),
    ADD COLUMN secret_ballot_required boolean NOT NULL DEFAULT false;

-- The model-worker titles at provincial and national level: at least 90 % of all members, by
-- secret ballot.
UPDATE award_forms SET vote_threshold = 0.9, vote_comparison = 'at_least',
                       secret_ballot_required = true
 WHERE code IN ('chien_si_thi_dua_cap_tinh', 'chien_si_thi_dua_toan_quoc');

-- Reviews recorded before the membership was asked for: the members are taken to be those who
-- voted, the ballot not known to be secret.
UPDATE nominations
   SET council = council || jsonb_build_object(
         'members', COALESCE((council ->> 'votes_for')::int, 0)
                    + COALESCE((council ->> 'votes_against')::int, 0)
                    + COALESCE((council ->> 'votes_abstain')::int, 0),
         'secret_ballot', false)
 WHERE council IS NOT NULL AND NOT council ? 'members';
