-- The register of exemplary models and initiatives (điển hình tiên tiến, mô hình, sáng kiến):
-- proposed by a unit, recognised by the board (by a decision), replicated elsewhere, linked to
-- the awards it led to. Evidence is references and notes (a document's number, a report, a
-- press article); files belong to the nomination dossiers a model is linked to.
CREATE TABLE exemplary_models (
    model_id     uuid PRIMARY KEY,
    name         text NOT NULL,
    unit_id      uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('collective', 'individual', 'household',
                                               'livelihood_model', 'initiative')),
    description  text NOT NULL,
    year         integer NOT NULL,
    evidence     jsonb NOT NULL DEFAULT '[]',
    proposed_by  text NOT NULL,
    proposed_at  timestamptz NOT NULL DEFAULT now(),
    -- the recognition: by whom, decision number and day, who recorded it and when
    recognised_by   text,
    decision_number text,
    decided_on      date,
    recorded_by     text,
    recognised_at   timestamptz,
    version      integer NOT NULL DEFAULT 1,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((recognised_at IS NULL) = (decision_number IS NULL))
);
CREATE INDEX exemplary_models_year ON exemplary_models (year, unit_id);
CREATE INDEX exemplary_models_recognised ON exemplary_models (recognised_at)
    WHERE recognised_at IS NOT NULL;

CREATE TABLE exemplary_replications (
    replication_id uuid PRIMARY KEY,
    model_id       uuid NOT NULL REFERENCES exemplary_models,
    unit_id        uuid NOT NULL,
    replicated_on  date NOT NULL,
    outcome        text NOT NULL,
    recorded_by    text NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model_id, unit_id, replicated_on)
);

CREATE TABLE exemplary_award_links (
    model_id      uuid NOT NULL REFERENCES exemplary_models,
    nomination_id uuid NOT NULL REFERENCES nominations,
    linked_by     text NOT NULL,
    linked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, nomination_id)
);
CREATE INDEX exemplary_award_links_nomination ON exemplary_award_links (nomination_id);
