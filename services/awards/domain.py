"""Pure rules of the awards service: the catalogue, award criteria as data, authority levels
and the nomination lifecycle. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from chungtay_common.contracts.awards import AuthorityLevel, NomineeKind, RuleResult
from chungtay_common.contracts.registration import UnitKind

LEVELS = list(AuthorityLevel)
PROVINCE_LIMIT = AuthorityLevel.PROVINCIAL_CHAIRMAN  # above it, a nomination is forwarded

# The chairman of a unit of this kind grants at this level.
CHAIRMAN_LEVEL: dict[UnitKind, AuthorityLevel] = {
    UnitKind.COMMUNE: AuthorityLevel.COMMUNE_CHAIRMAN,
    UnitKind.DISTRICT: AuthorityLevel.DISTRICT_CHAIRMAN,
    UnitKind.PROVINCE: AuthorityLevel.PROVINCIAL_CHAIRMAN,
}


def above_province(level: AuthorityLevel) -> bool:
    return LEVELS.index(level) > LEVELS.index(PROVINCE_LIMIT)


class Category(StrEnum):
    TITLE = "title"  # danh hiệu thi đua
    COMMENDATION = "commendation"  # hình thức khen thưởng


class ForWhom(StrEnum):
    COLLECTIVE = "collective"
    INDIVIDUAL = "individual"
    HOUSEHOLD = "household"
    VILLAGE = "village"


NOMINEE_KINDS: dict[ForWhom, NomineeKind] = {
    ForWhom.COLLECTIVE: NomineeKind.UNIT,
    ForWhom.VILLAGE: NomineeKind.UNIT,
    ForWhom.INDIVIDUAL: NomineeKind.PERSON,
    ForWhom.HOUSEHOLD: NomineeKind.HOUSEHOLD,
}


# --------------------------------------------------------------------------- rules as data

VALUE_BOUND = 1e15  # the largest magnitude of a value a rule compares with

class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReductionMeetsTarget(_Rule):
    """The unit's poor-household rate fell by at least its target in the year."""

    type: Literal["reduction_meets_target"]


class ReductionAtLeast(_Rule):
    """The rate fell by at least ``points`` percentage points in the year."""

    type: Literal["reduction_at_least"]
    points: float = Field(ge=0, le=100, allow_inf_nan=False)


class EscapedMeetsTarget(_Rule):
    """At least the target number of households escaped poverty in the year."""

    type: Literal["escaped_meets_target"]


class ReportOnTime(_Rule):
    """The unit's yearly report was submitted before the due date."""

    type: Literal["report_on_time"]


class IndicatorAtLeast(_Rule):
    """A reported indicator of the year is at least ``value``."""

    type: Literal["indicator_at_least"]
    indicator: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    # finite and bounded like reported values (NaN or Infinity cannot be stored as JSON)
    value: float = Field(ge=-VALUE_BOUND, le=VALUE_BOUND, allow_inf_nan=False)


class HeldTitleConsecutive(_Rule):
    """The nominee held ``form_code`` in each of the ``years`` years before the year."""

    type: Literal["held_title_consecutive"]
    form_code: str
    years: int = Field(ge=1, le=20)


class NoAwardWithin(_Rule):
    """No award of ``form_code`` (default: the nominated one) in the ``years`` years before."""

    type: Literal["no_award_within"]
    form_code: str | None = None
    years: int = Field(ge=1, le=20)


class AllOf(_Rule):
    all: list[Rule] = Field(min_length=1)


class AnyOf(_Rule):
    any: list[Rule] = Field(min_length=1)


Leaf = Annotated[
    ReductionMeetsTarget | ReductionAtLeast | EscapedMeetsTarget | ReportOnTime
    | IndicatorAtLeast | HeldTitleConsecutive | NoAwardWithin,
    Field(discriminator="type"),
]
Rule = Leaf | AllOf | AnyOf
AllOf.model_rebuild()
AnyOf.model_rebuild()
RULE = TypeAdapter(Rule)


def parse_rule(data: Any) -> Rule:
    """Validate a rule given as JSON data (raises pydantic's ValidationError)."""
    return RULE.validate_python(data)


def rule_json(rule: Rule) -> dict[str, Any]:
    dumped: dict[str, Any] = RULE.dump_python(rule, mode="json", exclude_none=True)
    return dumped


# --------------------------------------------------------------------------- facts

@dataclass(frozen=True)
class YearReport:
    values: Mapping[str, float]
    on_time: bool | None
    version: int


@dataclass(frozen=True)
class YearTarget:
    reduction_pp_min: float | None
    households_out_min: int | None


@dataclass
class Facts:
    """What the rules of one nomination are checked against."""

    year: int
    form_code: str
    reports: dict[int, YearReport] = field(default_factory=dict)  # the nominee unit's, by year
    targets: dict[int, YearTarget] = field(default_factory=dict)
    awards: list[tuple[str, int]] = field(default_factory=list)  # (form, year), not revoked


def _rate(values: Mapping[str, float]) -> float | None:
    total, poor = values.get("households_total"), values.get("poor_households")
    if not total or poor is None:
        return None
    return poor / total * 100.0


def reduction_pp(facts: Facts, year: int) -> float | None:
    now, before = facts.reports.get(year), facts.reports.get(year - 1)
    if now is None or before is None:
        return None
    r_now, r_before = _rate(now.values), _rate(before.values)
    if r_now is None or r_before is None:
        return None
    return r_before - r_now


def evaluate(rule: Rule, facts: Facts) -> RuleResult:
    """Evaluate a rule; the result explains itself and lists the facts it used."""
    if isinstance(rule, AllOf | AnyOf):
        parts = [evaluate(r, facts) for r in (rule.all if isinstance(rule, AllOf) else rule.any)]
        passed = (all if isinstance(rule, AllOf) else any)(p.passed for p in parts)
        word = "all" if isinstance(rule, AllOf) else "any"
        return RuleResult(
            rule=rule_json(rule), passed=passed,
            explanation=f"{word} of {len(parts)}: "
                        f"{sum(p.passed for p in parts)} passed",
            facts={"parts": [p.model_dump() for p in parts]})
    y = facts.year
    if isinstance(rule, ReductionMeetsTarget | ReductionAtLeast):
        red = reduction_pp(facts, y)
        if isinstance(rule, ReductionAtLeast):
            need: float | None = rule.points
        else:
            target = facts.targets.get(y)
            need = target.reduction_pp_min if target else None
        used: dict[str, Any] = {"reduction_pp": red, "required_pp": need}
        if red is None:
            return _result(rule, False, f"no reduction known for {y} (reports of {y - 1} and "
                                        f"{y} are needed)", used)
        if need is None:
            return _result(rule, False, f"no target set for {y}", used)
        # compared at the precision targets are set with (hundredths of a point)
        ok = round(red, 2) >= round(need, 2)
        return _result(rule, ok, f"reduction {red:.2f} points "
                                 f"{'≥' if ok else '<'} required {need:.2f}", used)
    if isinstance(rule, EscapedMeetsTarget):
        report, target = facts.reports.get(y), facts.targets.get(y)
        escaped = report.values.get("escaped_poverty") if report else None
        need_hh = target.households_out_min if target else None
        used = {"escaped_poverty": escaped, "households_out_min": need_hh}
        if escaped is None or need_hh is None:
            return _result(rule, False, "escaped households or the target is unknown", used)
        ok = escaped >= need_hh
        return _result(rule, ok, f"{escaped:g} households escaped, target {need_hh}", used)
    if isinstance(rule, ReportOnTime):
        report = facts.reports.get(y)
        used = {"on_time": report.on_time if report else None}
        if report is None:
            return _result(rule, False, f"no report for {y}", used)
        return _result(rule, bool(report.on_time),
                       "report on time" if report.on_time else "report late", used)
    if isinstance(rule, IndicatorAtLeast):
        report = facts.reports.get(y)
        value = report.values.get(rule.indicator) if report else None
        used = {rule.indicator: value, "required": rule.value}
        if value is None:
            return _result(rule, False, f"{rule.indicator} not reported for {y}", used)
        ok = value >= rule.value
        return _result(rule, ok, f"{rule.indicator} = {value:g} "
                                 f"{'≥' if ok else '<'} {rule.value:g}", used)
    if isinstance(rule, HeldTitleConsecutive):
        wanted = list(range(y - rule.years, y))
        held = sorted({yr for f, yr in facts.awards if f == rule.form_code})
        missing = [yr for yr in wanted if yr not in held]
        used = {"years_required": wanted, "years_held": held}
        if missing:
            return _result(rule, False, f"{rule.form_code} not held in "
                                        f"{', '.join(map(str, missing))}", used)
        return _result(rule, True, f"{rule.form_code} held in each of "
                                   f"{wanted[0]}–{wanted[-1]}", used)
    assert isinstance(rule, NoAwardWithin)
    form = rule.form_code or facts.form_code
    window = range(y - rule.years, y)
    recent = sorted(yr for f, yr in facts.awards if f == form and yr in window)
    used = {"form_code": form, "window": [window.start, window.stop - 1], "awarded_in": recent}
    if recent:
        return _result(rule, False, f"{form} already awarded in "
                                    f"{', '.join(map(str, recent))}", used)
    return _result(rule, True, f"no {form} in {window.start}–{window.stop - 1}", used)


def _result(rule: Rule, passed: bool, explanation: str, facts: dict[str, Any]) -> RuleResult:
    return RuleResult(rule=rule_json(rule), passed=passed, explanation=explanation, facts=facts)


# --------------------------------------------------------------------------- lifecycle

class Status(StrEnum):
    DRAFTED = "drafted"
    SUBMITTED = "submitted"
    REVIEWED = "reviewed"
    APPRAISED = "appraised"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURNED = "returned"
    FORWARDED = "forwarded"
    REVOKED = "revoked"


OPEN = frozenset({Status.DRAFTED, Status.SUBMITTED, Status.REVIEWED, Status.APPRAISED,
                  Status.RETURNED, Status.FORWARDED})


class Step(StrEnum):
    EDIT = "edit"
    SUBMIT = "submit"
    REVIEW = "review"
    APPRAISE = "appraise"
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"
    FORWARD = "forward"
    REVOKE = "revoke"


TRANSITIONS: dict[Step, tuple[frozenset[Status], Status]] = {
    Step.EDIT: (frozenset({Status.DRAFTED, Status.RETURNED}), Status.DRAFTED),
    Step.SUBMIT: (frozenset({Status.DRAFTED, Status.RETURNED}), Status.SUBMITTED),
    Step.REVIEW: (frozenset({Status.SUBMITTED}), Status.REVIEWED),
    # appraising again (after a report was corrected) keeps it at the board; a forwarded
    # nomination flagged for re-appraisal comes back to it too (else it could never be decided)
    Step.APPRAISE: (frozenset({Status.REVIEWED, Status.APPRAISED, Status.FORWARDED}),
                    Status.APPRAISED),
    Step.APPROVE: (frozenset({Status.APPRAISED, Status.FORWARDED}), Status.APPROVED),
    Step.REJECT: (frozenset({Status.SUBMITTED, Status.REVIEWED, Status.APPRAISED,
                             Status.FORWARDED}), Status.REJECTED),
    Step.RETURN: (frozenset({Status.SUBMITTED, Status.REVIEWED, Status.APPRAISED}),
                  Status.RETURNED),
    Step.FORWARD: (frozenset({Status.APPRAISED}), Status.FORWARDED),
    Step.REVOKE: (frozenset({Status.APPROVED}), Status.REVOKED),
}


def next_status(current: Status, step: Step) -> Status | str:
    allowed, after = TRANSITIONS[step]
    if current not in allowed:
        return f"cannot {step.value} a nomination that is {current.value}"
    return after


def check_approval_level(form_level: AuthorityLevel, approver: AuthorityLevel) -> str | None:
    """A form is approved only at its own authority level; a message when it is not."""
    if form_level != approver:
        return (f"this form is granted by the {form_level.value.replace('_', ' ')}, "
                f"not the {approver.value.replace('_', ' ')}")
    return None


@dataclass(frozen=True)
class Form:
    code: str
    name_vi: str
    category: Category
    for_whom: ForWhom
    authority_level: AuthorityLevel


SEED_FORMS: tuple[tuple[Form, dict[str, Any]], ...] = (
    # titles for individuals
    (Form("lao_dong_tien_tien", "Lao động tiên tiến", Category.TITLE, ForWhom.INDIVIDUAL,
          AuthorityLevel.DISTRICT_CHAIRMAN), {"all": [{"type": "no_award_within",
                                                      "years": 1}]}),
    (Form("chien_si_thi_dua_co_so", "Chiến sĩ thi đua cơ sở", Category.TITLE,
          ForWhom.INDIVIDUAL, AuthorityLevel.DISTRICT_CHAIRMAN),
     {"type": "held_title_consecutive", "form_code": "lao_dong_tien_tien", "years": 1}),
    (Form("chien_si_thi_dua_cap_tinh", "Chiến sĩ thi đua cấp tỉnh", Category.TITLE,
          ForWhom.INDIVIDUAL, AuthorityLevel.PROVINCIAL_CHAIRMAN),
     {"type": "held_title_consecutive", "form_code": "chien_si_thi_dua_co_so", "years": 3}),
    (Form("chien_si_thi_dua_toan_quoc", "Chiến sĩ thi đua toàn quốc", Category.TITLE,
          ForWhom.INDIVIDUAL, AuthorityLevel.PRIME_MINISTER),
     {"type": "held_title_consecutive", "form_code": "chien_si_thi_dua_cap_tinh", "years": 2}),
    # titles for collectives
    (Form("tap_the_lao_dong_tien_tien", "Tập thể lao động tiên tiến", Category.TITLE,
          ForWhom.COLLECTIVE, AuthorityLevel.DISTRICT_CHAIRMAN),
     {"all": [{"type": "report_on_time"}, {"type": "reduction_meets_target"}]}),
    (Form("tap_the_lao_dong_xuat_sac", "Tập thể lao động xuất sắc", Category.TITLE,
          ForWhom.COLLECTIVE, AuthorityLevel.PROVINCIAL_CHAIRMAN),
     {"all": [{"type": "report_on_time"}, {"type": "reduction_meets_target"},
              {"type": "held_title_consecutive", "form_code": "tap_the_lao_dong_tien_tien",
               "years": 1}]}),
    (Form("co_thi_dua_ubnd_tinh", "Cờ thi đua của UBND tỉnh", Category.TITLE,
          ForWhom.COLLECTIVE, AuthorityLevel.PROVINCIAL_CHAIRMAN),
     {"all": [{"type": "report_on_time"}, {"type": "reduction_meets_target"},
              {"type": "no_award_within", "years": 1}]}),
    (Form("co_thi_dua_chinh_phu", "Cờ thi đua của Chính phủ", Category.TITLE,
          ForWhom.COLLECTIVE, AuthorityLevel.PRIME_MINISTER),
     {"all": [{"type": "held_title_consecutive", "form_code": "co_thi_dua_ubnd_tinh",
               "years": 1}, {"type": "reduction_meets_target"}]}),
    # households and villages
    (Form("gia_dinh_van_hoa", "Gia đình văn hóa", Category.TITLE, ForWhom.HOUSEHOLD,
          AuthorityLevel.COMMUNE_CHAIRMAN), {"all": [{"type": "no_award_within",
                                                     "years": 1}]}),
    (Form("thon_van_hoa", "Thôn, tổ dân phố văn hóa", Category.TITLE, ForWhom.VILLAGE,
          AuthorityLevel.DISTRICT_CHAIRMAN), {"all": [{"type": "no_award_within",
                                                      "years": 1}]}),
    # forms of commendation
    (Form("giay_khen_chu_tich_xa", "Giấy khen của Chủ tịch UBND cấp xã", Category.COMMENDATION,
          ForWhom.HOUSEHOLD, AuthorityLevel.COMMUNE_CHAIRMAN),
     {"type": "no_award_within", "years": 1}),
    (Form("giay_khen_chu_tich_huyen", "Giấy khen của Chủ tịch UBND cấp huyện",
          Category.COMMENDATION, ForWhom.COLLECTIVE, AuthorityLevel.DISTRICT_CHAIRMAN),
     {"all": [{"type": "report_on_time"}, {"type": "reduction_meets_target"}]}),
    (Form("bang_khen_chu_tich_tinh", "Bằng khen của Chủ tịch UBND tỉnh", Category.COMMENDATION,
          ForWhom.COLLECTIVE, AuthorityLevel.PROVINCIAL_CHAIRMAN),
     {"all": [{"type": "report_on_time"}, {"type": "reduction_meets_target"},
              {"type": "no_award_within", "years": 2}]}),
    (Form("bang_khen_thu_tuong", "Bằng khen của Thủ tướng Chính phủ", Category.COMMENDATION,
          ForWhom.COLLECTIVE, AuthorityLevel.PRIME_MINISTER),
     {"all": [{"type": "held_title_consecutive", "form_code": "bang_khen_chu_tich_tinh",
               "years": 1}, {"type": "reduction_meets_target"},
              {"type": "no_award_within", "years": 3}]}),
    (Form("huan_chuong_lao_dong", "Huân chương Lao động", Category.COMMENDATION,
          ForWhom.COLLECTIVE, AuthorityLevel.STATE_PRESIDENT),
     {"all": [{"type": "held_title_consecutive", "form_code": "bang_khen_thu_tuong",
               "years": 1}, {"type": "no_award_within", "years": 5}]}),
)


def years_used(rule: Rule, year: int) -> list[int]:
    """Report years a rule reads for a nomination of ``year`` (to flag re-appraisal)."""
    if isinstance(rule, AllOf | AnyOf):
        parts: Sequence[Rule] = rule.all if isinstance(rule, AllOf) else rule.any
        return sorted({y for r in parts for y in years_used(r, year)})
    if isinstance(rule, ReductionMeetsTarget | ReductionAtLeast):
        return [year - 1, year]
    if isinstance(rule, EscapedMeetsTarget | ReportOnTime | IndicatorAtLeast):
        return [year]
    return []


def reads_awards(rule: Rule) -> bool:
    """Whether a rule reads the nominee's awards (so granting or revoking one of them calls
    for a new appraisal)."""
    if isinstance(rule, AllOf | AnyOf):
        parts: Sequence[Rule] = rule.all if isinstance(rule, AllOf) else rule.any
        return any(reads_awards(r) for r in parts)
    return isinstance(rule, HeldTitleConsecutive | NoAwardWithin)
