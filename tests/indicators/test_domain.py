"""The pure rules of the indicators service: validation, warnings, derived values, aggregation,
the deadline and the report lifecycle."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from chungtay_common import poverty
from chungtay_common.auth import Role
from chungtay_common.clock import VN
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.poverty import ESCAPED, FELL_BACK, HOUSEHOLDS, NEAR_POOR, NEWLY_POOR, POOR
from chungtay_common.refusals import NotAllowed, RuleBroken, StateConflict
from services.indicators import domain
from services.indicators.domain import Action, Indicator, ReportStatus

CATALOGUE: dict[str, Indicator] = {i.code: i for i in domain.SEED_CATALOGUE}
EVERY_KIND = "houses_built_or_repaired"  # reported by every reporting kind


def valid(**extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {HOUSEHOLDS: 1000, POOR: 100, NEAR_POOR: 80, ESCAPED: 20,
                              NEWLY_POOR: 5, FELL_BACK: 2}
    values.update(extra)
    return values


def fields(errors: list[Any]) -> list[str]:
    return [e.field for e in errors]


# --------------------------------------------------------------------------- catalogue


def test_seed_catalogue_has_13_entered_and_4_derived_indicators() -> None:
    assert len(domain.SEED_CATALOGUE) == 17
    derived = {i.code for i in domain.SEED_CATALOGUE if i.derived}
    assert derived == set(poverty.DERIVED)
    required = {i.code for i in domain.SEED_CATALOGUE if i.required}
    assert required == {HOUSEHOLDS, POOR, NEAR_POOR, ESCAPED, NEWLY_POOR, FELL_BACK}


# --------------------------------------------------------------------------- check_values


def test_valid_values_pass() -> None:
    assert domain.check_values(valid(), CATALOGUE, UnitKind.COMMUNE) == []


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({POOR: -1}, POOR, "must not be negative"),
        ({POOR: 10.5}, POOR, "must be a whole number"),
        ({"livelihood_models": 2.25}, "livelihood_models", "must be a whole number"),
        ({"no_such_indicator": 1}, "no_such_indicator", "unknown indicator"),
        ({poverty.POOR_RATE: 3.2}, poverty.POOR_RATE, "cannot be entered"),
        ({poverty.REDUCTION: 1.0}, poverty.REDUCTION, "cannot be entered"),
        ({POOR: True}, POOR, "must be a number"),
        ({POOR: float("nan")}, POOR, "must be a finite number"),
        ({"resources_state_budget_vnd": 10**400}, "resources_state_budget_vnd",
         "must be between"),
        ({"initiatives": 10**15 + 1}, "initiatives", "must be between"),
        ({"initiatives": 1e300}, "initiatives", "must be between"),
    ],
)
def test_a_refused_value_names_its_field(values: dict[str, Any], field: str,
                                         message: str) -> None:
    errors = domain.check_values(valid(**values), CATALOGUE, UnitKind.COMMUNE)
    assert fields(errors) == [f"values.{field}"]
    assert message in errors[0].message


def test_a_whole_number_written_as_a_float_is_accepted() -> None:
    assert domain.check_values(valid(**{POOR: 100.0}), CATALOGUE, UnitKind.COMMUNE) == []


def test_poor_households_may_not_exceed_total() -> None:
    values = valid(**{POOR: 1001})
    del values[NEAR_POOR]
    errors = domain.check_values(values, CATALOGUE, UnitKind.COMMUNE)
    assert fields(errors) == [f"values.{POOR}"]
    assert "poor households (1001) exceed total households (1000)" in errors[0].message
    # exactly all households poor is possible
    assert domain.check_values(valid(**{POOR: 1000, NEAR_POOR: 0}), CATALOGUE,
                               UnitKind.COMMUNE) == []


def test_poor_and_near_poor_together_may_not_exceed_total() -> None:
    errors = domain.check_values(valid(**{POOR: 600, NEAR_POOR: 401}), CATALOGUE,
                                 UnitKind.COMMUNE)
    assert fields(errors) == [f"values.{NEAR_POOR}"]
    assert "(1001) exceed total households (1000)" in errors[0].message
    assert domain.check_values(valid(**{POOR: 600, NEAR_POOR: 400}), CATALOGUE,
                               UnitKind.COMMUNE) == []


def test_a_retired_indicator_cannot_be_entered() -> None:
    retired = Indicator(**{**CATALOGUE["initiatives"].__dict__, "retired": True})
    catalogue = {**CATALOGUE, "initiatives": retired}
    errors = domain.check_values(valid(initiatives=3), catalogue, UnitKind.COMMUNE)
    assert fields(errors) == ["values.initiatives"]
    assert "retired" in errors[0].message
    assert domain.check_values(valid(initiatives=3), CATALOGUE, UnitKind.COMMUNE) == []


def test_an_indicator_not_reported_by_the_units_kind_is_refused() -> None:
    # households are counted by districts and communes, not by a mass organisation
    errors = domain.check_values({HOUSEHOLDS: 10, EVERY_KIND: 2}, CATALOGUE,
                                 UnitKind.MASS_ORG)
    assert fields(errors) == [f"values.{HOUSEHOLDS}"]
    assert "is not reported by a mass_org" in errors[0].message


def test_every_refused_value_is_named_at_once() -> None:
    errors = domain.check_values(valid(**{POOR: -3, ESCAPED: 1.5, "bogus": 1}), CATALOGUE,
                                 UnitKind.COMMUNE)
    assert sorted(fields(errors)) == ["values.bogus", f"values.{ESCAPED}", f"values.{POOR}"]


def test_a_maximum_is_enforced() -> None:
    capped = Indicator("share_pct", "Tỷ lệ", "Share", "percent", min_value=0, max_value=100)
    errors = domain.check_values({"share_pct": 101}, {"share_pct": capped}, UnitKind.COMMUNE)
    assert fields(errors) == ["values.share_pct"]
    assert "at most 100" in errors[0].message


# --------------------------------------------------------------------------- missing_required


def test_missing_required_names_each_missing_indicator() -> None:
    values = valid()
    del values[ESCAPED], values[FELL_BACK]
    assert sorted(fields(domain.missing_required(values, CATALOGUE, UnitKind.COMMUNE))) == [
        f"values.{ESCAPED}", f"values.{FELL_BACK}"]
    assert domain.missing_required(valid(), CATALOGUE, UnitKind.COMMUNE) == []


def test_missing_required_ignores_indicators_the_kind_does_not_report_or_retired_ones() -> None:
    assert domain.missing_required({}, CATALOGUE, UnitKind.AGENCY) == []
    retired = {c: Indicator(**{**i.__dict__, "retired": True}) for c, i in CATALOGUE.items()}
    assert domain.missing_required({}, retired, UnitKind.COMMUNE) == []


# --------------------------------------------------------------------------- warnings


def codes(found: list[Any]) -> list[tuple[str, str]]:
    return [(w.code, w.field) for w in found]


def test_balance_exact_gives_no_warning() -> None:
    last = valid(**{POOR: 100})
    # 100 - 20 escaped + 5 newly poor + 2 fell back = 87
    now = valid(**{POOR: 87, ESCAPED: 20, NEWLY_POOR: 5, FELL_BACK: 2})
    assert domain.warnings(now, [(2016, last)], 2017) == []


def test_balance_off_is_a_warning_on_poor_households() -> None:
    last = valid(**{POOR: 100})
    now = valid(**{POOR: 90, ESCAPED: 20, NEWLY_POOR: 5, FELL_BACK: 2})
    found = domain.warnings(now, [(2016, last)], 2017)
    assert codes(found) == [("balance", f"values.{POOR}")]
    assert "= 87" in found[0].message


def test_balance_is_checked_only_against_the_year_before() -> None:
    last = valid(**{POOR: 100})
    now = valid(**{POOR: 90, ESCAPED: 20, NEWLY_POOR: 5, FELL_BACK: 2})
    assert "balance" not in [w.code for w in domain.warnings(now, [(2015, last)], 2017)]


def test_a_rate_that_moves_more_than_10_points_is_a_warning() -> None:
    last = valid(**{HOUSEHOLDS: 1000, POOR: 300, NEAR_POOR: 0, ESCAPED: 0})
    # 30 % → 19.9 %: 10.1 points (balance kept exact: 300 - 108 + 5 + 2 = 199)
    now = valid(**{HOUSEHOLDS: 1000, POOR: 199, NEAR_POOR: 0, ESCAPED: 108})
    found = domain.warnings(now, [(2016, last)], 2017)
    assert codes(found) == [("rate_jump", f"values.{POOR}")]
    assert "-10.10 points" in found[0].message
    # 30 % → 20 %: exactly 10 points is not more than 10
    now = valid(**{HOUSEHOLDS: 1000, POOR: 200, NEAR_POOR: 0, ESCAPED: 107})
    assert domain.warnings(now, [(2016, last)], 2017) == []


def test_a_value_far_outside_history_is_a_warning() -> None:
    last = valid(**{HOUSEHOLDS: 1000, POOR: 100, NEAR_POOR: 80})
    now = valid(**{HOUSEHOLDS: 2000, POOR: 87, NEAR_POOR: 80})
    found = domain.warnings(now, [(2016, last)], 2017)
    assert ("outside_history", f"values.{HOUSEHOLDS}") in codes(found)
    # within half of last year's value: no warning
    now = valid(**{HOUSEHOLDS: 1400, POOR: 87, NEAR_POOR: 80})
    assert "outside_history" not in [w.code for w in domain.warnings(now, [(2016, last)], 2017)]


def test_small_units_may_move_by_a_few_households() -> None:
    last = {HOUSEHOLDS: 40, POOR: 10}
    assert domain.warnings({HOUSEHOLDS: 40, POOR: 25}, [(2015, last)], 2017) == []
    assert codes(domain.warnings({HOUSEHOLDS: 40, POOR: 31}, [(2015, last)], 2017)) == [
        ("outside_history", f"values.{POOR}")]


def test_no_history_no_warning() -> None:
    assert domain.warnings(valid(), [], 2017) == []


# --------------------------------------------------------------------------- derive


def test_derive_rates() -> None:
    d = poverty.derive({HOUSEHOLDS: 1000, POOR: 125, NEAR_POOR: 80}, None, None)
    assert d.poor_rate_pct == pytest.approx(12.5)
    assert d.near_poor_rate_pct == pytest.approx(8.0)
    assert d.reduction_pp is None and d.target_attainment_pct is None and d.target_met is None


def test_derive_without_households_gives_no_rate() -> None:
    d = poverty.derive({HOUSEHOLDS: 0, POOR: 0}, None, None)
    assert d.poor_rate_pct is None and d.near_poor_rate_pct is None


def test_reduction_is_last_years_rate_minus_this_years() -> None:
    d = poverty.derive({HOUSEHOLDS: 1000, POOR: 80}, {HOUSEHOLDS: 1000, POOR: 100}, None)
    assert d.reduction_pp == pytest.approx(2.0)
    # a rise in the rate is a negative reduction
    d = poverty.derive({HOUSEHOLDS: 1000, POOR: 120}, {HOUSEHOLDS: 1000, POOR: 100}, None)
    assert d.reduction_pp == pytest.approx(-2.0)


def test_attainment_is_the_reduction_over_the_target() -> None:
    d = poverty.derive({HOUSEHOLDS: 1000, POOR: 70}, {HOUSEHOLDS: 1000, POOR: 100},
                      poverty.Target(reduction_pp_min=2.0))
    assert d.reduction_pp == pytest.approx(3.0)
    assert d.target_attainment_pct == pytest.approx(150.0)
    assert d.target_met is True


def test_a_unit_exactly_at_its_target_is_met_and_one_hundredth_short_is_not() -> None:
    # 5.10 % → 3.30 %: 1.80 points, which floating point computes as 1.7999999999999994
    previous = {HOUSEHOLDS: 10000, POOR: 510}
    at_target = poverty.derive({HOUSEHOLDS: 10000, POOR: 330}, previous,
                              poverty.Target(reduction_pp_min=1.8))
    assert at_target.reduction_pp is not None and at_target.reduction_pp < 1.8
    assert at_target.target_met is True
    assert at_target.target_attainment_pct == pytest.approx(100.0)
    # 5.10 % → 3.31 %: 1.79 points, 0.01 short
    short = poverty.derive({HOUSEHOLDS: 10000, POOR: 331}, previous,
                          poverty.Target(reduction_pp_min=1.8))
    assert short.reduction_pp == pytest.approx(1.79)
    assert short.target_met is False


def test_no_attainment_without_a_reduction_target() -> None:
    d = poverty.derive({HOUSEHOLDS: 1000, POOR: 70}, {HOUSEHOLDS: 1000, POOR: 100},
                      poverty.Target(reduction_pp_min=None, households_out_min=10))
    assert d.target_attainment_pct is None and d.target_met is None


# --------------------------------------------------------------------------- aggregate


def test_a_rate_above_a_unit_is_a_ratio_of_sums_not_an_average_of_rates() -> None:
    small = {HOUSEHOLDS: 100, POOR: 50, NEAR_POOR: 10}  # 50 %
    large = {HOUSEHOLDS: 10_000, POOR: 100, NEAR_POOR: 200}  # 1 %
    sums = domain.aggregate([small, large], CATALOGUE)
    assert sums == {HOUSEHOLDS: 10_100, POOR: 150, NEAR_POOR: 210}
    d = poverty.derive(sums, None, None)
    assert d.poor_rate_pct == pytest.approx(150 / 10_100 * 100)
    assert d.poor_rate_pct == pytest.approx(1.485, abs=0.0005)
    assert d.poor_rate_pct != pytest.approx(25.5)  # the average of 50 % and 1 %
    assert d.near_poor_rate_pct == pytest.approx(210 / 10_100 * 100)


def test_aggregate_sums_only_summable_indicators() -> None:
    sums = domain.aggregate([{HOUSEHOLDS: 10, "unknown": 5}, {HOUSEHOLDS: 5}], CATALOGUE)
    assert sums == {HOUSEHOLDS: 15}
    assert domain.aggregate([], CATALOGUE) == {}


def test_reduction_above_a_unit_comes_from_the_sums_of_both_years() -> None:
    before = domain.aggregate([{HOUSEHOLDS: 100, POOR: 50}, {HOUSEHOLDS: 10_000, POOR: 100}],
                              CATALOGUE)
    after = domain.aggregate([{HOUSEHOLDS: 100, POOR: 40}, {HOUSEHOLDS: 10_000, POOR: 90}],
                             CATALOGUE)
    d = poverty.derive(after, before, None)
    assert d.reduction_pp == pytest.approx((150 - 130) / 10_100 * 100)


# --------------------------------------------------------------------------- deadline


def test_due_at_is_the_start_of_20_november_in_vietnam() -> None:
    due = domain.due_at(2017)
    assert due == datetime(2017, 11, 19, 17, 0, tzinfo=UTC)
    assert due.utcoffset() is not None and due.utcoffset().total_seconds() == 7 * 3600  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("submitted_at", "on_time"),
    [
        (datetime(2017, 11, 19, 23, 59, 59, tzinfo=VN), True),
        (datetime(2017, 11, 20, 0, 0, tzinfo=VN), False),
        (datetime(2017, 11, 19, 16, 59, 59, tzinfo=UTC), True),  # the same instants in UTC
        (datetime(2017, 11, 19, 17, 0, tzinfo=UTC), False),
        (datetime(2017, 11, 19, 18, 0, tzinfo=UTC), False),  # still the 19th in UTC: late
        (datetime(2017, 1, 5, 9, 0, tzinfo=VN), True),
    ],
)
def test_is_on_time_at_the_deadline_edge(submitted_at: datetime, on_time: bool) -> None:
    assert domain.is_on_time(submitted_at, domain.due_at(2017)) is on_time


def test_due_at_of_another_day() -> None:
    assert domain.due_at(2020, 12, 31) == datetime(2020, 12, 30, 17, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- lifecycle

S = ReportStatus
NEW = None  # no report yet
ALLOWED: dict[tuple[S | None, Action], S] = {
    (NEW, Action.SAVE): S.DRAFT,
    (S.DRAFT, Action.SAVE): S.DRAFT,
    (S.SUBMITTED, Action.SAVE): S.DRAFT,  # a correction before review takes it back to draft
    (S.RETURNED, Action.SAVE): S.RETURNED,
    (S.REOPENED, Action.SAVE): S.REOPENED,
    (NEW, Action.SUBMIT): S.SUBMITTED,
    (S.DRAFT, Action.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, Action.SUBMIT): S.SUBMITTED,  # a corrected submission replaces the values
    (S.RETURNED, Action.SUBMIT): S.SUBMITTED,
    (S.REOPENED, Action.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, Action.RETURN): S.RETURNED,
    (S.SUBMITTED, Action.ACCEPT): S.ACCEPTED,
    (S.ACCEPTED, Action.REOPEN): S.REOPENED,
    # the official figures of the poverty review: the status stays
    (S.SUBMITTED, Action.CONFIRM): S.SUBMITTED,
    (S.ACCEPTED, Action.CONFIRM): S.ACCEPTED,
}
STATES: list[S | None] = [NEW, *S]


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.value if s else "new")
@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_next_status_for_every_action_and_state(state: S | None, action: Action) -> None:
    if (state, action) in ALLOWED:
        assert domain.next_status(state, action) is ALLOWED[(state, action)]
        return
    with pytest.raises(StateConflict) as refused:
        domain.next_status(state, action)
    if state is S.ACCEPTED:
        assert "locked" in refused.value.message
    else:
        assert f"cannot {action.value}" in refused.value.message


def test_the_table_covers_every_pair() -> None:
    assert len(STATES) * len(Action) == 36

    def allowed(s: S | None, a: Action) -> bool:
        try:
            domain.next_status(s, a)
        except StateConflict:
            return False
        return True

    assert sum(1 for s in STATES for a in Action if allowed(s, a)) == len(ALLOWED)


# --------------------------------------------------------------------------- who acts


@pytest.mark.parametrize(("roles", "unit", "allowed"), [
    ({Role.ADMIN}, None, True),
    ({Role.REVIEWER}, "parent", True),
    ({Role.BOARD}, "parent", True),
    ({Role.REVIEWER}, "other", False),  # not the level right above
    ({Role.REVIEWER}, None, False),
    ({Role.REPORTER}, "parent", False),  # not a reviewing role
    ({Role.VIEWER, Role.REPORTER}, "parent", False),
])
def test_a_report_is_reviewed_by_the_level_right_above(roles: set[Role], unit: str | None,
                                                        allowed: bool) -> None:
    parent = uuid.uuid4()
    reviewer = {"parent": parent, "other": uuid.uuid4(), None: None}[unit]
    if allowed:
        domain.check_reviewer(frozenset(roles), reviewer, parent)
    else:
        with pytest.raises(NotAllowed):
            domain.check_reviewer(frozenset(roles), reviewer, parent)


def test_entering_a_report_is_the_reporters_and_reopening_it_the_boards() -> None:
    assert domain.ACTING_ROLE == {Action.SAVE: Role.REPORTER, Action.SUBMIT: Role.REPORTER,
                                  Action.REOPEN: Role.BOARD}  # the others: the level above


def test_a_backfilled_submission_is_an_administrators_past_submission() -> None:
    now = datetime(2020, 1, 1, tzinfo=UTC)
    when = datetime(2019, 11, 18, 9, tzinfo=VN)
    domain.check_backfill({Role.ADMIN}, Action.SUBMIT, when, 2019, now)
    with pytest.raises(NotAllowed):
        domain.check_backfill({Role.BOARD}, Action.SUBMIT, when, 2019, now)
    for action, at, message in (
            (Action.SAVE, when, "is only recorded with a submission"),
            (Action.SUBMIT, datetime(2019, 11, 18, 9), "must be a past instant"),  # no zone
            (Action.SUBMIT, datetime(2020, 1, 2, tzinfo=UTC), "must be a past instant"),
            (Action.SUBMIT, datetime(2017, 12, 31, tzinfo=VN), "must be between 2018-01-01")):
        with pytest.raises(RuleBroken) as refused:
            domain.check_backfill({Role.ADMIN}, action, at, 2019, now)
        assert refused.value.field == "submitted_at"
        assert message in refused.value.message


def test_a_campaign_has_a_cycle_a_year_of_at_most_21_years() -> None:
    assert [y for y, _ in domain.cycles(2016, 2020, 11, 20)] == [2016, 2017, 2018, 2019, 2020]
    assert domain.cycles(2017, 2017, 11, 20) == [(2017, domain.due_at(2017))]
    for years, day, field in (((2018, 2017), 20, "last_year"), ((2000, 2021), 20, "last_year"),
                              ((2017, 2018), 31, "due_day")):
        with pytest.raises(RuleBroken) as refused:
            domain.cycles(*years, 11, day)  # there is no 31 November
        assert refused.value.field == field


def test_an_upper_bound_is_not_below_the_lower_one() -> None:
    domain.check_range("low", 1, "high", 1)
    domain.check_range("low", None, "high", -5)
    with pytest.raises(RuleBroken) as refused:
        domain.check_range("low", 2, "high", 1.5)
    assert (refused.value.field, refused.value.message) == ("high", "must not be below low")


def test_the_eve_of_a_due_date_is_the_day_before_in_vietnam() -> None:
    assert domain.eve_of(domain.due_at(2017)) == date(2017, 11, 19)


def test_a_target_at_most_the_national_average_needs_both_the_reduction_and_the_rate() -> None:
    before = {"households_total": 1000, "poor_households": 60}
    now = {"households_total": 1000, "poor_households": 35}  # 6.0 % -> 3.5 %, 2.5 points
    target = poverty.Target(reduction_pp_min=2.0, at_most_national_average=True)
    below = poverty.derive(now, before, target, national_average=3.5)
    assert below.at_or_below_national_average is True and below.target_met is True
    above = poverty.derive(now, before, target, national_average=3.0)
    assert above.at_or_below_national_average is False and above.target_met is False
    # without that clause the national average is shown but does not decide
    plain = poverty.derive(now, before, poverty.Target(reduction_pp_min=2.0), national_average=3.0)
    assert plain.target_met is True and plain.at_or_below_national_average is False
    assert poverty.derive(now, before, target).target_met is None  # no national average yet


def test_a_target_of_zero_is_met_by_no_increase() -> None:
    zero = poverty.Target(reduction_pp_min=0)
    kept = poverty.derive({HOUSEHOLDS: 1000, POOR: 100}, {HOUSEHOLDS: 1000, POOR: 100}, zero)
    assert kept.reduction_pp == 0 and kept.target_met is True
    assert kept.target_attainment_pct is None  # no percentage of a zero target
    down = poverty.derive({HOUSEHOLDS: 1000, POOR: 90}, {HOUSEHOLDS: 1000, POOR: 100}, zero)
    assert down.target_met is True and down.target_attainment_pct is None
    up = poverty.derive({HOUSEHOLDS: 1000, POOR: 101}, {HOUSEHOLDS: 1000, POOR: 100}, zero)
    assert up.target_met is False


def test_the_reduction_may_be_computed_over_other_values_than_the_rates() -> None:
    """An aggregate: the rate of the year is over every report, the reduction over the units
    that reported in both years."""
    d = poverty.derive({HOUSEHOLDS: 2000, POOR: 190}, {HOUSEHOLDS: 1000, POOR: 100},
                      poverty.Target(reduction_pp_min=1.0),
                      current_for_reduction={HOUSEHOLDS: 1000, POOR: 90})
    assert d.poor_rate_pct == pytest.approx(9.5)
    assert d.reduction_pp == pytest.approx(1.0) and d.target_met is True


@pytest.mark.parametrize(("submitted_at", "ok"), [
    (datetime(2018, 1, 1, tzinfo=VN), True),
    (datetime(2019, 11, 18, 9, tzinfo=VN), True),
    (datetime(2017, 12, 31, 23, 59, tzinfo=VN), False),
    (datetime(1, 1, 1, tzinfo=VN), False),
    (datetime(2999, 1, 1, tzinfo=UTC), False),
])
def test_a_backfilled_submission_is_from_the_year_before_until_now(submitted_at: datetime,
                                                                   ok: bool) -> None:
    assert (domain.check_submitted_at(submitted_at, 2019) is None) is ok


def test_the_indicators_an_award_rule_reads_are_found_at_any_depth() -> None:
    rule = {"all": [{"type": "report_on_time"},
                    {"any": [{"type": "indicator_at_least", "indicator": "initiatives",
                              "value": 1},
                             {"type": "indicator_at_least", "indicator": "livelihood_models",
                              "value": 2}]},
                    {"type": "held_title_consecutive", "form_code": "cstdcs", "years": 3}]}
    assert domain.indicators_read_by_rule(rule) == {"initiatives", "livelihood_models"}
    assert domain.indicators_read_by_rule({"type": "report_on_time"}) == set()
    # the criteria that read fixed indicators by themselves
    assert domain.indicators_read_by_rule(
        {"any": [{"type": "escaped_meets_target"}]}) == {"escaped_poverty"}
    assert domain.indicators_read_by_rule({"type": "reduction_at_least", "points": 2}) == {
        "households_total", "poor_households"}


@pytest.mark.parametrize("action", [Action.ACCEPT, Action.CONFIRM])
def test_the_submitter_does_not_review_their_own_submission(action: Action) -> None:
    with pytest.raises(NotAllowed) as refused:
        domain.check_separation(action, "can-bo-a", "can-bo-a")
    assert "another official must" in refused.value.message
    assert getattr(refused.value.message, "vi", "").startswith("người đã nộp báo cáo")
    domain.check_separation(action, "can-bo-b", "can-bo-a")
    domain.check_separation(action, "can-bo-a", None)  # never submitted: the state refuses it
    # returning one's own submission, or saving it again, is not a review of it
    for other in (Action.RETURN, Action.SAVE, Action.SUBMIT, Action.REOPEN):
        domain.check_separation(other, "can-bo-a", "can-bo-a")
