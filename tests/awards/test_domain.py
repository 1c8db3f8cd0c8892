"""The pure rules of services/awards/domain.py: criteria as data, the lifecycle, who takes
each step, authority, nominees, re-appraisal."""

from __future__ import annotations

import json
import unicodedata
import uuid
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

import pytest
from pydantic import ValidationError

from chungtay_common.auth import Role
from chungtay_common.contracts.awards import AuthorityLevel, NomineeKind
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.refusals import NotAllowed, RuleBroken, StateConflict
from services.awards.domain import (
    TRANSITIONS,
    AllOf,
    AnyOf,
    Ballot,
    Facts,
    ForWhom,
    HeldTitleConsecutive,
    Initiative,
    ReductionMeetsTarget,
    Status,
    Step,
    VoteComparison,
    VoteRule,
    YearReport,
    YearTarget,
    above_province,
    appraise,
    candidate_kinds,
    chairman_level,
    check_approval_level,
    check_central_decision,
    check_citizen_id,
    check_citizen_name,
    check_decidable,
    check_evidence_room,
    check_for_whom,
    check_forwardable,
    check_link,
    check_nominee,
    check_not_own_unit,
    check_votes,
    check_window,
    checked_rule,
    declines_as_chairman,
    evaluate,
    evidence_media_type,
    may_take,
    name_key,
    next_status,
    nominee_id,
    parse_rule,
    read_award_of,
    read_year,
    reads_awards,
    reduction_pp,
    rule_json,
    seed_forms,
    years_used,
)
from services.awards.service import SEED_FORMS

Y = 2024


def report(poor: float, total: float = 10_000, on_time: bool | None = True, version: int = 1,
           **values: float) -> YearReport:
    return YearReport(values={"households_total": total, "poor_households": poor, **values},
                      on_time=on_time, version=version)


def facts(poor_before: float = 1_000, poor_now: float = 800, target: float | None = 2.0,
          **kw: Any) -> Facts:
    f = Facts(year=Y, form_code="bang_khen_chu_tich_tinh",
              reports={Y - 1: report(poor_before), Y: report(poor_now)},
              targets={Y: YearTarget(reduction_pp_min=target, households_out_min=None)})
    for k, v in kw.items():
        setattr(f, k, v)
    return f


# --------------------------------------------------------------------------- parse_rule


def test_parse_rule_accepts_every_rule_type_and_round_trips() -> None:
    leaves: list[dict[str, Any]] = [
        {"type": "reduction_meets_target"},
        {"type": "reduction_at_least", "points": 1.5},
        {"type": "escaped_meets_target"},
        {"type": "report_on_time"},
        {"type": "indicator_at_least", "indicator": "resources_mobilised", "value": 10},
        {"type": "held_title_consecutive", "form_code": "lao_dong_tien_tien", "years": 3},
        {"type": "no_award_within", "years": 2},
        {"type": "no_award_within", "form_code": "co_thi_dua_ubnd_tinh", "years": 1},
    ]
    for leaf in leaves:
        assert rule_json(parse_rule(leaf)) == leaf


def test_parse_rule_nests_all_and_any() -> None:
    data = {"all": [{"type": "report_on_time"},
                    {"any": [{"type": "reduction_meets_target"},
                             {"all": [{"type": "reduction_at_least", "points": 3.0},
                                      {"type": "no_award_within", "years": 1}]}]}]}
    rule = parse_rule(data)
    assert isinstance(rule, AllOf) and isinstance(rule.all[1], AnyOf)
    assert isinstance(rule.all[1].any[1], AllOf)
    assert rule_json(rule) == data


@pytest.mark.parametrize("data", [
    {"type": "no_such_rule"},
    {"type": "reduction_at_least"},  # points missing
    {"type": "reduction_at_least", "points": -1},
    {"type": "held_title_consecutive", "form_code": "x", "years": 0},
    {"type": "report_on_time", "extra": 1},
    {"all": []},
    {"all": [{"type": "report_on_time"}], "any": [{"type": "report_on_time"}]},
    {"any": [{"type": "oops"}]},
    {"type": "indicator_at_least", "indicator": "Bad Code", "value": 1},
])
def test_parse_rule_refuses_invalid_rules(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_rule(data)


def test_checked_rule_is_refused_naming_the_rule() -> None:
    assert checked_rule({"all": [{"type": "report_on_time"}]}) == {
        "all": [{"type": "report_on_time"}]}
    with pytest.raises(RuleBroken) as refused:
        checked_rule({"type": "reduction_at_least"})
    assert refused.value.field == "rule" and "not a valid rule" in refused.value.message


def test_seed_forms_are_read_from_a_table() -> None:
    [(form, rule)] = seed_forms(
        "code,name_vi,category,for_whom,authority_level,rule\n"
        'thon_van_hoa,"Thôn, tổ dân phố văn hóa",title,village,district_chairman,'
        '"{""type"": ""no_award_within"", ""years"": 1}"\n')
    assert (form.code, form.name_vi, form.for_whom, form.authority_level) == (
        "thon_van_hoa", "Thôn, tổ dân phố văn hóa", ForWhom.VILLAGE,
        AuthorityLevel.DISTRICT_CHAIRMAN)
    assert rule == {"type": "no_award_within", "years": 1}


def test_every_seeded_rule_parses() -> None:
    assert len(SEED_FORMS) == 18
    for _, rule in SEED_FORMS:
        parse_rule(rule)


SEED = {form.code: (form, parse_rule(rule)) for form, rule in SEED_FORMS}


def seeded(code: str, year: int = Y, **kw: Any) -> bool:
    return evaluate(SEED[code][1], Facts(year=year, form_code=code, **kw)).passed


def test_yearly_titles_can_be_won_every_year() -> None:
    for code in ("lao_dong_tien_tien", "gia_dinh_van_hoa", "thon_van_hoa"):
        every_year = [(code, y) for y in range(Y - 5, Y)]
        assert seeded(code, awards=every_year), code
        assert "no_award_within" not in json.dumps(rule_json(SEED[code][1]))
    assert SEED["co_thi_dua_ubnd_tinh"][0].name_vi == "Cờ thi đua của Ủy ban nhân dân tỉnh"
    assert SEED["thon_van_hoa"][0].name_vi == "Thôn, bản, tổ dân phố văn hóa"


def _initiative(year: int) -> Initiative:
    return Initiative(year, "Mô hình nuôi bò sinh sản", "Hội đồng sáng kiến huyện",
                      "12/QĐ-UBND", date(year, 11, 1))


def test_grassroots_model_worker_needs_ldtt_of_the_year_and_an_initiative() -> None:
    ldtt = [("lao_dong_tien_tien", Y)]
    assert seeded("chien_si_thi_dua_co_so", awards=ldtt, initiatives=[_initiative(Y)])
    assert not seeded("chien_si_thi_dua_co_so", awards=ldtt)
    assert not seeded("chien_si_thi_dua_co_so", awards=ldtt, initiatives=[_initiative(Y - 1)])
    assert not seeded("chien_si_thi_dua_co_so", awards=[("lao_dong_tien_tien", Y - 1)],
                      initiatives=[_initiative(Y)])


def test_the_model_worker_chain_is_reachable() -> None:
    """LĐTT every year → CSTĐ cơ sở (with an initiative) → three of them: cấp tỉnh → two of
    those: toàn quốc."""
    awards: list[tuple[str, int]] = []
    for year in range(Y - 5, Y + 1):
        assert seeded("lao_dong_tien_tien", year, awards=awards)
        awards.append(("lao_dong_tien_tien", year))
        assert seeded("chien_si_thi_dua_co_so", year, awards=awards,
                      initiatives=[_initiative(year)])
        awards.append(("chien_si_thi_dua_co_so", year))
    assert seeded("chien_si_thi_dua_cap_tinh", Y - 2, awards=awards)
    assert not seeded("chien_si_thi_dua_cap_tinh", Y - 4, awards=awards)
    awards += [("chien_si_thi_dua_cap_tinh", Y - 2), ("chien_si_thi_dua_cap_tinh", Y - 1)]
    assert seeded("chien_si_thi_dua_toan_quoc", Y, awards=awards)
    assert not seeded("chien_si_thi_dua_toan_quoc", Y - 1, awards=awards)


def test_prime_ministers_bang_khen_needs_a_provincial_one_then_five_years() -> None:
    years = [("tap_the_lao_dong_tien_tien", y) for y in range(Y - 5, Y)]
    assert seeded("bang_khen_thu_tuong", awards=[("bang_khen_chu_tich_tinh", Y - 6), *years])
    # the provincial Bằng khen inside the five years, or a year of the five missing
    assert not seeded("bang_khen_thu_tuong", awards=[("bang_khen_chu_tich_tinh", Y - 3),
                                                     *years])
    assert not seeded("bang_khen_thu_tuong", awards=[("bang_khen_chu_tich_tinh", Y - 6),
                                                     *years[1:]])
    assert not seeded("bang_khen_thu_tuong", awards=years)


def test_prime_ministers_bang_khen_is_not_granted_every_year() -> None:
    """The reviewer's case: a provincial Bằng khen in 2010, Tập thể lao động tiên tiến each
    year 2011–2019, the Prime Minister's Bằng khen in 2016: not again in 2017, nor on the
    grounds of 2010 later; a new provincial Bằng khen and five more years after 2016 are."""
    history = [("bang_khen_chu_tich_tinh", 2010), ("bang_khen_thu_tuong", 2016),
               *[("tap_the_lao_dong_tien_tien", y) for y in range(2011, 2020)]]
    assert not seeded("bang_khen_thu_tuong", 2017, awards=history)
    result = evaluate(SEED["bang_khen_thu_tuong"][1],
                      Facts(year=2017, form_code="bang_khen_thu_tuong", awards=history))
    assert result.facts["last_granted"] == 2016 and "granted in 2016" in result.explanation
    assert not seeded("bang_khen_thu_tuong", 2020, awards=history)  # run 2015–2019: not after
    longer = [*history, *[("tap_the_lao_dong_tien_tien", y) for y in range(2020, 2023)]]
    assert not seeded("bang_khen_thu_tuong", 2023, awards=longer)  # 2010's award was used
    assert seeded("bang_khen_thu_tuong", 2023,
                  awards=[*longer, ("bang_khen_chu_tich_tinh", 2017)])
    # the first grant, on 2010's award, was right
    assert seeded("bang_khen_thu_tuong", 2016, awards=history)


def test_each_class_of_the_labour_order_is_not_granted_every_year() -> None:
    excellent = [("tap_the_lao_dong_xuat_sac", y) for y in range(2011, 2024)]
    history = [("bang_khen_thu_tuong", 2010), ("huan_chuong_lao_dong", 2016), *excellent]
    assert seeded("huan_chuong_lao_dong", 2016, awards=history)
    assert not seeded("huan_chuong_lao_dong", 2017, awards=history)
    assert not seeded("huan_chuong_lao_dong", 2022, awards=history)
    assert seeded("huan_chuong_lao_dong", 2023,
                  awards=[*history, ("bang_khen_thu_tuong", 2017)])
    second = [("huan_chuong_lao_dong", 2010), ("huan_chuong_lao_dong_hang_nhi", 2016),
              *excellent]
    assert not seeded("huan_chuong_lao_dong_hang_nhi", 2017, awards=second)


def test_the_labour_order_has_three_classes_in_a_chain() -> None:
    names = {code: SEED[code][0].name_vi for code in (
        "huan_chuong_lao_dong", "huan_chuong_lao_dong_hang_nhi",
        "huan_chuong_lao_dong_hang_nhat")}
    assert list(names.values()) == ["Huân chương Lao động hạng Ba",
                                    "Huân chương Lao động hạng Nhì",
                                    "Huân chương Lao động hạng Nhất"]
    excellent = [("tap_the_lao_dong_xuat_sac", y) for y in range(Y - 5, Y)]
    assert seeded("huan_chuong_lao_dong_hang_nhi",
                  awards=[("huan_chuong_lao_dong", Y - 7), *excellent])
    assert not seeded("huan_chuong_lao_dong_hang_nhat",
                      awards=[("huan_chuong_lao_dong", Y - 7), *excellent])


# --------------------------------------------------------------------------- evaluate


def test_commune_exactly_at_its_target_is_eligible() -> None:
    result = evaluate(ReductionMeetsTarget(type="reduction_meets_target"), facts())
    assert result.passed
    assert result.facts == {"reduction_pp": pytest.approx(2.0), "required_pp": 2.0}
    assert "2.00" in result.explanation and "≥" in result.explanation
    assert result.rule == {"type": "reduction_meets_target"}


def test_commune_one_hundredth_of_a_point_short_is_not_eligible() -> None:
    result = evaluate(parse_rule({"type": "reduction_meets_target"}), facts(poor_now=801))
    assert not result.passed
    assert result.facts["reduction_pp"] == pytest.approx(1.99)
    assert "1.99" in result.explanation and "<" in result.explanation


def test_float_noise_does_not_fail_a_target_met_exactly() -> None:
    # 30.0 − 29.9 is 0.10000000000000142 in floating point; 0.7 − 0.6 is 0.09999999999999998
    f = Facts(year=Y, form_code="x",
              reports={Y - 1: report(70, total=10_000), Y: report(60, total=10_000)},
              targets={Y: YearTarget(reduction_pp_min=0.1, households_out_min=None)})
    assert evaluate(parse_rule({"type": "reduction_meets_target"}), f).passed


def test_reduction_needs_both_years_and_a_target() -> None:
    rule = parse_rule({"type": "reduction_meets_target"})
    no_before = facts()
    del no_before.reports[Y - 1]
    result = evaluate(rule, no_before)
    assert not result.passed and result.facts["reduction_pp"] is None
    assert "2023" in result.explanation
    no_target = evaluate(rule, facts(target=None))
    assert not no_target.passed and "no target" in no_target.explanation
    assert reduction_pp(facts(), Y) == pytest.approx(2.0)


def test_reduction_at_least_points() -> None:
    assert evaluate(parse_rule({"type": "reduction_at_least", "points": 2}), facts()).passed
    assert not evaluate(parse_rule({"type": "reduction_at_least", "points": 2.01}),
                        facts()).passed


def test_report_on_time() -> None:
    rule = parse_rule({"type": "report_on_time"})
    on_time = evaluate(rule, facts())
    assert on_time.passed and on_time.facts == {"on_time": True}
    late = facts()
    late.reports[Y] = report(800, on_time=False)
    result = evaluate(rule, late)
    assert not result.passed and result.explanation == "report late"
    missing = facts()
    del missing.reports[Y]
    result = evaluate(rule, missing)
    assert not result.passed and result.facts == {"on_time": None}


def test_indicator_at_least_and_escaped_meets_target() -> None:
    f = facts()
    f.reports[Y] = report(800, escaped_poverty=210, resources_mobilised=5)
    f.targets[Y] = YearTarget(reduction_pp_min=2.0, households_out_min=200)
    assert evaluate(parse_rule({"type": "escaped_meets_target"}), f).passed
    f.targets[Y] = YearTarget(reduction_pp_min=2.0, households_out_min=211)
    result = evaluate(parse_rule({"type": "escaped_meets_target"}), f)
    assert not result.passed
    assert result.facts == {"escaped_poverty": 210, "households_out_min": 211}
    rule = parse_rule({"type": "indicator_at_least", "indicator": "resources_mobilised",
                       "value": 5})
    assert evaluate(rule, f).passed
    rule = parse_rule({"type": "indicator_at_least", "indicator": "not_reported", "value": 0})
    assert not evaluate(rule, f).passed


def test_held_title_three_consecutive_years() -> None:
    rule = HeldTitleConsecutive(type="held_title_consecutive",
                                form_code="chien_si_thi_dua_co_so", years=3)
    held = facts(awards=[("chien_si_thi_dua_co_so", y) for y in (2021, 2022, 2023)])
    result = evaluate(rule, held)
    assert result.passed
    assert result.facts == {"years_required": [2021, 2022, 2023],
                            "years_held": [2021, 2022, 2023]}


def test_held_title_three_years_with_a_gap_fails() -> None:
    rule = parse_rule({"type": "held_title_consecutive", "form_code": "chien_si_thi_dua_co_so",
                       "years": 3})
    # three years held, but not consecutive: 2022 is missing
    gap = facts(awards=[("chien_si_thi_dua_co_so", y) for y in (2020, 2021, 2023)])
    result = evaluate(rule, gap)
    assert not result.passed
    assert "2022" in result.explanation
    assert result.facts["years_held"] == [2020, 2021, 2023]
    # another title in the missing year does not count
    other = facts(awards=[("chien_si_thi_dua_co_so", 2021), ("lao_dong_tien_tien", 2022),
                          ("chien_si_thi_dua_co_so", 2023)])
    assert not evaluate(rule, other).passed


def test_no_award_within() -> None:
    rule = parse_rule({"type": "no_award_within", "years": 2})
    form = "bang_khen_chu_tich_tinh"
    assert evaluate(rule, facts(awards=[(form, 2021)])).passed  # outside 2022–2023
    recent = evaluate(rule, facts(awards=[(form, 2022)]))
    assert not recent.passed
    assert recent.facts == {"form_code": form, "window": [2022, 2023], "awarded_in": [2022]}
    # another form in the window does not count; the one named in the rule does
    assert evaluate(rule, facts(awards=[("giay_khen_chu_tich_huyen", 2023)])).passed
    named = parse_rule({"type": "no_award_within", "form_code": "giay_khen_chu_tich_huyen",
                        "years": 1})
    assert not evaluate(named, facts(awards=[("giay_khen_chu_tich_huyen", 2023)])).passed
    # an award of the nomination's own year is not "before"
    assert evaluate(rule, facts(awards=[(form, Y)])).passed


def test_all_and_any_combine_and_explain_each_part() -> None:
    data = {"all": [{"type": "report_on_time"}, {"type": "reduction_meets_target"}]}
    short = facts(poor_now=801)
    result = evaluate(parse_rule(data), short)
    assert not result.passed
    assert result.explanation == "all of 2: 1 passed"
    parts = result.facts["parts"]
    assert [p["passed"] for p in parts] == [True, False]
    assert all(p["explanation"] and "facts" in p and p["rule"] for p in parts)
    either = evaluate(parse_rule({"any": data["all"]}), short)
    assert either.passed and either.explanation == "any of 2: 1 passed"


# --------------------------------------------------------------------------- lifecycle

ALLOWED: dict[Step, set[Status]] = {
    Step.EDIT: {Status.DRAFTED, Status.RETURNED},
    Step.SUBMIT: {Status.DRAFTED, Status.RETURNED},
    Step.REVIEW: {Status.SUBMITTED},
    Step.APPRAISE: {Status.REVIEWED, Status.APPRAISED, Status.FORWARDED},
    Step.APPROVE: {Status.APPRAISED, Status.FORWARDED},
    Step.REJECT: {Status.SUBMITTED, Status.REVIEWED, Status.APPRAISED, Status.FORWARDED},
    Step.RETURN: {Status.SUBMITTED, Status.REVIEWED, Status.APPRAISED},
    Step.FORWARD: {Status.APPRAISED},
    Step.REVOKE: {Status.APPROVED},
}
AFTER = {Step.EDIT: Status.DRAFTED, Step.SUBMIT: Status.SUBMITTED, Step.REVIEW: Status.REVIEWED,
         Step.APPRAISE: Status.APPRAISED, Step.APPROVE: Status.APPROVED,
         Step.REJECT: Status.REJECTED, Step.RETURN: Status.RETURNED,
         Step.FORWARD: Status.FORWARDED, Step.REVOKE: Status.REVOKED}


@pytest.mark.parametrize("step", list(Step))
@pytest.mark.parametrize("status", list(Status))
def test_next_status_for_every_step_and_status(step: Step, status: Status) -> None:
    if status in ALLOWED[step]:
        assert next_status(status, step) is AFTER[step]
    else:
        with pytest.raises(StateConflict) as refused:
            next_status(status, step)
        assert refused.value.message == f"cannot {step.value} a nomination that is {status.value}"


def allows(status: Status, step: Step) -> bool:
    try:
        next_status(status, step)
    except StateConflict:
        return False
    return True


def test_final_states_allow_nothing_but_revocation() -> None:
    assert set(TRANSITIONS) == set(Step)
    for final in (Status.REJECTED, Status.REVOKED):
        assert not any(allows(final, s) for s in Step)
    assert [s for s in Step if allows(Status.APPROVED, s)] == [Step.REVOKE]


# --------------------------------------------------------------------------- authority


def test_check_approval_level() -> None:
    for level in AuthorityLevel:
        check_approval_level(level, level)
    with pytest.raises(NotAllowed) as refused:
        check_approval_level(AuthorityLevel.DISTRICT_CHAIRMAN, AuthorityLevel.PROVINCIAL_CHAIRMAN)
    assert refused.value.message == ("this form is granted by the district chairman, not the "
                                     "provincial chairman")
    # a higher authority does not sign for a lower one either
    with pytest.raises(NotAllowed):
        check_approval_level(AuthorityLevel.COMMUNE_CHAIRMAN, AuthorityLevel.DISTRICT_CHAIRMAN)


def test_above_province() -> None:
    assert [lv for lv in AuthorityLevel if above_province(lv)] == [
        AuthorityLevel.PRIME_MINISTER, AuthorityLevel.STATE_PRESIDENT]


# --------------------------------------------------------------------------- who acts

DISTRICT, CENTRAL = AuthorityLevel.DISTRICT_CHAIRMAN, AuthorityLevel.PRIME_MINISTER
# the one role that takes each step at each stage (``admin`` may too, but signs no decision)
DECIDERS = {
    (Step.EDIT, Status.DRAFTED, DISTRICT): {Role.REPORTER},
    (Step.SUBMIT, Status.RETURNED, DISTRICT): {Role.REPORTER},
    (Step.REVIEW, Status.SUBMITTED, DISTRICT): {Role.COUNCIL},
    (Step.APPRAISE, Status.REVIEWED, DISTRICT): {Role.BOARD},
    (Step.FORWARD, Status.APPRAISED, CENTRAL): {Role.BOARD},
    (Step.RETURN, Status.SUBMITTED, DISTRICT): {Role.COUNCIL},
    (Step.RETURN, Status.REVIEWED, DISTRICT): {Role.BOARD},
    (Step.RETURN, Status.APPRAISED, DISTRICT): {Role.BOARD},
    (Step.REJECT, Status.SUBMITTED, DISTRICT): {Role.COUNCIL},
    (Step.REJECT, Status.REVIEWED, DISTRICT): {Role.BOARD},
    (Step.REJECT, Status.APPRAISED, DISTRICT): {Role.BOARD, Role.CHAIRMAN},
    (Step.REJECT, Status.FORWARDED, CENTRAL): {Role.BOARD},
    (Step.APPROVE, Status.APPRAISED, DISTRICT): {Role.CHAIRMAN},
    (Step.APPROVE, Status.FORWARDED, CENTRAL): {Role.BOARD},
    (Step.REVOKE, Status.APPROVED, DISTRICT): {Role.CHAIRMAN},
    (Step.REVOKE, Status.APPROVED, CENTRAL): {Role.BOARD},
}


@pytest.mark.parametrize(("step", "status", "level"), list(DECIDERS))
def test_each_step_at_each_stage_has_its_deciders(step: Step, status: Status,
                                                   level: AuthorityLevel) -> None:
    for role in Role:
        roles = frozenset({role})
        admin_may = role is Role.ADMIN and step not in (Step.APPROVE, Step.REVOKE)
        if role in DECIDERS[step, status, level] or admin_may:
            may_take(step, status, level, roles)
        else:
            with pytest.raises(NotAllowed, match="this action needs one of the roles"):
                may_take(step, status, level, roles)


def test_only_a_chairman_declines_as_the_signing_chairman() -> None:
    chairman, board = frozenset({Role.CHAIRMAN}), frozenset({Role.BOARD, Role.CHAIRMAN})
    assert declines_as_chairman(Step.REJECT, Status.APPRAISED, chairman)
    assert not declines_as_chairman(Step.REJECT, Status.APPRAISED, board)
    assert not declines_as_chairman(Step.REJECT, Status.REVIEWED, chairman)
    assert not declines_as_chairman(Step.RETURN, Status.APPRAISED, chairman)


def test_a_chairman_signs_at_the_level_of_its_unit() -> None:
    assert chairman_level(UnitKind.COMMUNE) is AuthorityLevel.COMMUNE_CHAIRMAN
    assert chairman_level(UnitKind.PROVINCE) is AuthorityLevel.PROVINCIAL_CHAIRMAN
    for kind in (UnitKind.VILLAGE, UnitKind.AGENCY, None):
        with pytest.raises(NotAllowed, match="commune, district or province"):
            chairman_level(kind)


def test_a_central_decision_is_recorded_once_forwarded() -> None:
    check_central_decision(Step.APPROVE, Status.FORWARDED, CENTRAL)
    check_central_decision(Step.APPROVE, Status.APPRAISED, DISTRICT)
    check_central_decision(Step.REVOKE, Status.APPROVED, CENTRAL)
    with pytest.raises(StateConflict, match="forwarded first"):
        check_central_decision(Step.APPROVE, Status.APPRAISED, CENTRAL)
    check_forwardable("thu", CENTRAL)
    with pytest.raises(StateConflict, match="approve it instead"):
        check_forwardable("thu", DISTRICT)


def test_a_decision_needs_an_appraisal_that_holds_and_found_it_eligible() -> None:
    check_decidable(False, {"eligible": True})
    with pytest.raises(StateConflict, match="appraise it again"):
        check_decidable(True, {"eligible": True})
    for appraisal in ({"eligible": False}, None):
        with pytest.raises(StateConflict, match="not eligible"):
            check_decidable(False, appraisal)


MAJORITY = VoteRule()  # more than half of all members
MODEL_WORKER = VoteRule(Fraction(9, 10), VoteComparison.AT_LEAST, secret_ballot=True)


def _refused_votes(ballot: Ballot, rule: VoteRule) -> str:
    with pytest.raises(RuleBroken) as refused:
        check_votes(ballot, rule)
    return refused.value.field


def test_the_council_votes_count_against_its_total_membership() -> None:
    check_votes(Ballot(6, 0, 0, members=10, secret=False), MAJORITY)
    check_votes(Ballot(4, 3, 0, members=7, secret=False), MAJORITY)
    # 2 for, 1 against, 7 abstaining: 2 of 10 members is not more than half
    assert _refused_votes(Ballot(2, 1, 7, members=10, secret=False), MAJORITY) == "votes_for"
    assert _refused_votes(Ballot(5, 0, 0, members=10, secret=False), MAJORITY) == "votes_for"
    assert _refused_votes(Ballot(3, 3, 1, members=7, secret=False), MAJORITY) == "votes_for"
    # no votes recorded
    assert _refused_votes(Ballot(0, 0, 0, members=10, secret=False), MAJORITY) == "votes_for"
    # more votes than members
    assert _refused_votes(Ballot(6, 3, 2, members=10, secret=False), MAJORITY) == "members"


def test_model_workers_need_ninety_percent_of_all_members_by_secret_ballot() -> None:
    check_votes(Ballot(9, 1, 0, members=10, secret=True), MODEL_WORKER)
    check_votes(Ballot(18, 0, 0, members=20, secret=True), MODEL_WORKER)
    assert _refused_votes(Ballot(8, 0, 0, members=10, secret=True), MODEL_WORKER) == "votes_for"
    assert _refused_votes(Ballot(17, 0, 0, members=20, secret=True),
                          MODEL_WORKER) == "votes_for"
    assert _refused_votes(Ballot(10, 0, 0, members=10, secret=False),
                          MODEL_WORKER) == "secret_ballot"


def test_the_seed_sets_the_vote_rule_of_each_form() -> None:
    votes = {form.code: form.votes for form, _ in SEED_FORMS}
    assert votes["chien_si_thi_dua_cap_tinh"] == MODEL_WORKER
    assert votes["chien_si_thi_dua_toan_quoc"] == MODEL_WORKER
    assert {code for code, v in votes.items() if v != MAJORITY} == {
        "chien_si_thi_dua_cap_tinh", "chien_si_thi_dua_toan_quoc"}


def test_no_one_approves_an_award_to_the_unit_they_head() -> None:
    own, other = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(NotAllowed, match="level above"):
        check_not_own_unit(NomineeKind.UNIT, own, own)
    check_not_own_unit(NomineeKind.UNIT, other, own)
    check_not_own_unit(NomineeKind.PERSON, own, own)  # a person of the unit is not the unit


def test_registrations_are_taken_until_the_day_the_window_closes() -> None:
    closes = date(2025, 3, 1)
    check_window(Y, closes, closes)
    with pytest.raises(StateConflict, match="not open"):
        check_window(Y, None, closes)
    with pytest.raises(StateConflict, match="closed on 2025-03-01"):
        check_window(Y, closes, date(2025, 3, 2))


# --------------------------------------------------------------------------- nominees


def test_a_person_is_the_same_nominee_whatever_the_spelling_of_spaces_and_case() -> None:
    unit = uuid.uuid4()
    same = nominee_id(NomineeKind.PERSON, unit, "Trần  Thị Hoa")
    assert same == nominee_id(NomineeKind.PERSON, unit, " trần thị HOA ")
    assert same != nominee_id(NomineeKind.HOUSEHOLD, unit, "Trần Thị Hoa")
    assert same != nominee_id(NomineeKind.PERSON, uuid.uuid4(), "Trần Thị Hoa")
    assert nominee_id(NomineeKind.UNIT, unit, None) == str(unit)


def test_a_person_is_the_same_nominee_in_composed_and_decomposed_spelling() -> None:
    unit = uuid.uuid4()
    composed = unicodedata.normalize("NFC", "Nguyễn Thị Hường")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    same = nominee_id(NomineeKind.PERSON, unit, composed)
    assert nominee_id(NomineeKind.PERSON, unit, decomposed) == same
    # zero-width characters and a case folded spelling are the same name too
    assert nominee_id(NomineeKind.PERSON, unit, "Nguyễn\u200b Thị  HƯỜNG") == same
    assert name_key(decomposed) == name_key(composed) == "nguyễn thị hường"
    # the ids given before (NFC names, lower-cased) are kept
    assert same == str(uuid.uuid5(uuid.UUID("6f1c1f2e-6b0c-4d43-9f4e-6e0f3c7a2a10"),
                                  f"person:{unit}:nguyễn thị hường"))


def test_a_citizen_id_is_one_persons_name() -> None:
    # the number recorded under one name is refused under another (as names are compared)
    check_citizen_name(name_key("Trần Văn An"), name_key(" TRẦN  văn an"), "nominee")
    with pytest.raises(RuleBroken) as refused:
        check_citizen_name(name_key("Trần Văn An"), name_key("Trần Văn Bình"), "nominee")
    assert refused.value.field == "nominee.citizen_id"
    assert "belongs to another person's name" in str(refused.value)


def test_a_citizen_id_is_well_formed() -> None:
    check_citizen_id(NomineeKind.PERSON, "044095000123", "nominee")
    check_citizen_id(NomineeKind.UNIT, None, "nominee")
    for bad in ("04409500012", "0440950001234", "04409500012x", "０４４０９５０００１２３"):
        with pytest.raises(RuleBroken) as caught:
            check_citizen_id(NomineeKind.PERSON, bad, "nominee")
        assert caught.value.field == "nominee.citizen_id"
    with pytest.raises(RuleBroken):
        check_citizen_id(NomineeKind.HOUSEHOLD, "044095000123", "nominee")


def test_a_person_record_is_linked_once_and_never_in_a_circle() -> None:
    check_link("b", "a", ["a"], None)
    with pytest.raises(RuleBroken):
        check_link("a", "a", ["a"], None)
    with pytest.raises(StateConflict, match="already linked to x"):
        check_link("b", "a", ["a"], "x")
    with pytest.raises(StateConflict):
        check_link("a", "b", ["b", "a"], None)
    # two records that carry different citizen ID numbers are two people
    check_link("b", "a", ["a"], None, ("044095000123", None))
    check_link("b", "a", ["a"], None, ("044095000123", "044095000123"))
    with pytest.raises(StateConflict, match="different citizen ID numbers"):
        check_link("b", "a", ["a"], None, ("044095000123", "044095000999"))


def test_a_nominee_suits_its_form() -> None:
    check_nominee(NomineeKind.UNIT, None, UnitKind.COMMUNE, "nominee")
    check_nominee(NomineeKind.HOUSEHOLD, "Hộ ông A", UnitKind.VILLAGE, "nominee")
    refusals = [
        (lambda: check_nominee(NomineeKind.PERSON, None, UnitKind.COMMUNE, "n"), "n.name"),
        (lambda: check_nominee(NomineeKind.HOUSEHOLD, "Hộ A", UnitKind.COMMUNE, "n"),
         "n.unit_id"),
        (lambda: check_for_whom("f", ForWhom.INDIVIDUAL, NomineeKind.UNIT, UnitKind.COMMUNE,
                                "n"), "n.kind"),
        (lambda: check_for_whom("f", ForWhom.VILLAGE, NomineeKind.UNIT, UnitKind.COMMUNE,
                                "n"), "n.unit_id"),
        (lambda: check_for_whom("f", ForWhom.COLLECTIVE, NomineeKind.UNIT, UnitKind.VILLAGE,
                                "n"), "n.unit_id"),
        (lambda: candidate_kinds(ForWhom.HOUSEHOLD), "form_code"),
    ]
    for refuse, field in refusals:
        with pytest.raises(RuleBroken) as refused:
            refuse()
        assert refused.value.field == field
    check_for_whom("f", ForWhom.COLLECTIVE, NomineeKind.UNIT, UnitKind.DISTRICT, "n")
    assert candidate_kinds(ForWhom.VILLAGE) == {UnitKind.VILLAGE}
    assert candidate_kinds(ForWhom.COLLECTIVE) == {UnitKind.COMMUNE, UnitKind.DISTRICT}


# --------------------------------------------------------------------------- re-appraisal


def test_an_appraisal_keeps_what_it_read() -> None:
    rule = parse_rule({"all": [{"type": "reduction_meets_target"},
                               {"type": "no_award_within", "years": 1}]})
    at = datetime(2025, 1, 10, tzinfo=UTC)
    appraisal = appraise(rule, 3, facts(), at)
    assert appraisal.eligible
    assert appraisal.record() == {
        "eligible": True, "rule_version": 3, "result": appraisal.result.model_dump(mode="json"),
        "years_used": [Y - 1, Y], "reads_awards": True,
        "report_versions": {str(Y - 1): 1, str(Y): 1}, "appraised_at": at.isoformat()}


def test_what_calls_for_a_new_appraisal() -> None:
    appraisal = appraise(parse_rule({"type": "reduction_meets_target"}), 1, facts(),
                         datetime(2025, 1, 10, tzinfo=UTC)).record()
    assert read_year(appraisal, Y) and read_year(appraisal, Y - 1)
    assert not read_year(appraisal, Y + 1) and not read_year({}, Y)
    # an award changes what rules reading awards see in the later years only
    assert not read_award_of(appraisal, Y, Y - 1)  # this rule reads no award
    reader = {**appraisal, "reads_awards": True}
    assert read_award_of(reader, Y, Y - 1)
    assert not read_award_of(reader, Y, Y) and not read_award_of(reader, Y - 1, Y)
    # appraised before ``reads_awards`` was kept: the rule it used says
    older = {"result": {"rule": {"type": "no_award_within", "years": 1}}}
    assert read_award_of(older, Y, Y - 1)


# --------------------------------------------------------------------------- years_used


def test_years_used() -> None:
    assert years_used(parse_rule({"type": "reduction_meets_target"}), Y) == [Y - 1, Y]
    assert years_used(parse_rule({"type": "reduction_at_least", "points": 1}), Y) == [Y - 1, Y]
    assert years_used(parse_rule({"type": "report_on_time"}), Y) == [Y]
    assert years_used(parse_rule({"type": "escaped_meets_target"}), Y) == [Y]
    assert years_used(parse_rule({"type": "indicator_at_least", "indicator": "abc",
                                  "value": 1}), Y) == [Y]
    assert years_used(parse_rule({"type": "no_award_within", "years": 3}), Y) == []
    assert years_used(parse_rule({"type": "held_title_consecutive", "form_code": "x",
                                  "years": 3}), Y) == []
    nested = {"all": [{"type": "report_on_time"},
                      {"any": [{"type": "reduction_meets_target"},
                               {"type": "no_award_within", "years": 1}]}]}
    assert years_used(parse_rule(nested), Y) == [Y - 1, Y]


def test_reads_awards() -> None:
    assert reads_awards(parse_rule({"type": "no_award_within", "years": 1})) is True
    assert reads_awards(parse_rule({"type": "held_title_consecutive", "form_code": "x",
                                    "years": 2})) is True
    assert reads_awards(parse_rule({"type": "reduction_meets_target"})) is False
    assert reads_awards(parse_rule({"all": [{"type": "report_on_time"}, {"any": [
        {"type": "reduction_meets_target"}, {"type": "no_award_within", "years": 1}]}]}))
    assert not reads_awards(parse_rule({"any": [{"type": "report_on_time"},
                                                {"type": "escaped_meets_target"}]}))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 1e16])
def test_indicator_at_least_value_is_finite_and_bounded(value: float) -> None:
    with pytest.raises(ValidationError):
        parse_rule({"type": "indicator_at_least", "indicator": "initiatives", "value": value})
    with pytest.raises(ValidationError):
        parse_rule({"type": "reduction_at_least", "points": value})


# --------------------------------------------------------------------------- evidence


@pytest.mark.parametrize(("content_type", "media_type"), [
    ("application/pdf", "application/pdf"), ("image/jpeg", "image/jpeg"),
    ("image/png", "image/png"), ("application/msword", "application/msword"),
    ("application/vnd.ms-excel", "application/vnd.ms-excel"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("Text/Plain; charset=UTF-8", "text/plain"),
    ("text/html", None), ("image/svg+xml", None), ("application/octet-stream", None),
    ("application/pdfx", None), ("", None),
])
def test_evidence_media_types_are_an_allow_list(content_type: str,
                                                media_type: str | None) -> None:
    assert evidence_media_type(content_type) == media_type


def test_a_dossier_has_room_for_files_up_to_the_limit() -> None:
    check_evidence_room(19, 20)
    with pytest.raises(StateConflict, match="at most 20"):
        check_evidence_room(20, 20)
