-- Which indicators each award form's current rule reads (its indicator_at_least criteria), kept
-- from the awards service's award_rule.changed events: such an indicator cannot be retired.
CREATE TABLE award_rule_indicators (
    form_code  text PRIMARY KEY,
    version    integer NOT NULL,
    indicators text[] NOT NULL
);
