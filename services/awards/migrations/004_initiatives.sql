-- Recognised initiatives (sáng kiến): Chiến sĩ thi đua cơ sở needs one of the same year (Law
-- on Emulation and Commendation, Decree 91/2017/NĐ-CP). Who recognised it, by which decision.
CREATE TABLE initiatives (
    initiative_id   uuid PRIMARY KEY,
    nominee_kind    text NOT NULL,
    nominee_id      text NOT NULL,
    nominee_name    text NOT NULL,
    nominee_unit    uuid NOT NULL,
    year            integer NOT NULL,
    title           text NOT NULL,
    recognised_by   text NOT NULL,
    decision_number text NOT NULL,
    decided_on      date NOT NULL,
    recorded_by     text NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX initiatives_nominee ON initiatives (nominee_kind, nominee_id, year);
