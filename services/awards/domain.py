"""Pure rules of the awards service: the catalogue, award criteria as data, authority levels,
the nomination lifecycle and who may take each step. No I/O here; a rule that refuses raises
one of ``chungtay_common.refusals``."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import uuid
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chungtay_common.auth import Role
from chungtay_common.contracts.awards import AuthorityLevel, NomineeKind, RuleResult
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.messages import ROLE_VI, en_vi
from chungtay_common.refusals import NotAllowed, RuleBroken, StateConflict
from chungtay_common.request_body import ZERO_WIDTH

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


class HeldTitleInYear(_Rule):
    """The nominee holds ``form_code`` in the nominated year itself (e.g. Chiến sĩ thi đua cơ
    sở needs Lao động tiên tiến of the same year)."""

    type: Literal["held_title_in_year"]
    form_code: str


class InitiativeRecognised(_Rule):
    """The nominee has an initiative (sáng kiến) of the nominated year recognised by a
    decision (who recognised it, number, date), recorded in this service."""

    type: Literal["initiative_recognised"]


class EarlierAwardThenYears(_Rule):
    """An earlier award of ``form_code``, then in each of the ``years`` years before the
    nominated year (all after that award) one of ``then_any_of`` (e.g. Bằng khen of the Prime
    Minister: an earlier provincial Bằng khen, then five years of duties well completed, shown
    by the yearly title Lao động tiên tiến or Tập thể lao động tiên tiến). The earlier award
    and the run of years come after the last grant of the nominated form itself, so it is not
    granted again on the grounds of the last one."""

    type: Literal["earlier_award_then_years"]
    form_code: str
    then_any_of: list[str] = Field(min_length=1)
    years: int = Field(ge=1, le=20)


class JudgedByCouncil(_Rule):
    """No criterion is checked against recorded data: the council's vote and the board's
    appraisal judge it (a yearly title such as Lao động tiên tiến can be won every year)."""

    type: Literal["judged_by_council"]


class AllOf(_Rule):
    all: list[Rule] = Field(min_length=1)


class AnyOf(_Rule):
    any: list[Rule] = Field(min_length=1)


Leaf = Annotated[
    ReductionMeetsTarget | ReductionAtLeast | EscapedMeetsTarget | ReportOnTime
    | IndicatorAtLeast | HeldTitleConsecutive | NoAwardWithin | HeldTitleInYear
    | InitiativeRecognised | EarlierAwardThenYears | JudgedByCouncil,
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


def checked_rule(data: dict[str, Any]) -> dict[str, Any]:
    """A rule given by a caller, validated and normalised; refused naming ``rule``."""
    try:
        return rule_json(parse_rule(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RuleBroken("rule", f"not a valid rule ({where}: {first['msg']})") from exc


def _parts(rule: Rule) -> Sequence[Rule]:
    return rule.all if isinstance(rule, AllOf) else rule.any if isinstance(rule, AnyOf) else ()


def leaves(rule: Rule) -> Iterator[Rule]:
    """The criteria a rule is made of (itself, when it is one)."""
    if isinstance(rule, AllOf | AnyOf):
        for part in _parts(rule):
            yield from leaves(part)
    else:
        yield rule


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
    initiatives: list[Initiative] = field(default_factory=list)  # the nominee's, recognised


@dataclass(frozen=True)
class Initiative:
    """A recognised initiative (sáng kiến): of which year, by whom, by which decision."""

    year: int
    title: str
    recognised_by: str
    decision_number: str
    decided_on: date


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
        parts = [evaluate(r, facts) for r in _parts(rule)]
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
    if isinstance(rule, HeldTitleInYear | InitiativeRecognised | EarlierAwardThenYears
                  | JudgedByCouncil):
        return _evaluate_history(rule, facts)
    assert isinstance(rule, NoAwardWithin)
    form = rule.form_code or facts.form_code
    window = range(y - rule.years, y)
    recent = sorted(yr for f, yr in facts.awards if f == form and yr in window)
    used = {"form_code": form, "window": [window.start, window.stop - 1], "awarded_in": recent}
    if recent:
        return _result(rule, False, f"{form} already awarded in "
                                    f"{', '.join(map(str, recent))}", used)
    return _result(rule, True, f"no {form} in {window.start}–{window.stop - 1}", used)


def _evaluate_history(rule: HeldTitleInYear | InitiativeRecognised | EarlierAwardThenYears
                      | JudgedByCouncil, facts: Facts) -> RuleResult:
    y = facts.year
    if isinstance(rule, JudgedByCouncil):
        return _result(rule, True, "no criterion checked against data: the council and the "
                                   "board judge it", {})
    if isinstance(rule, HeldTitleInYear):
        held = (rule.form_code, y) in facts.awards
        return _result(rule, held, f"{rule.form_code} {'held' if held else 'not held'} in {y}",
                       {"form_code": rule.form_code, "year": y, "held": held})
    if isinstance(rule, InitiativeRecognised):
        found = [i for i in facts.initiatives if i.year == y]
        used: dict[str, Any] = {"initiatives": [
            {"title": i.title, "recognised_by": i.recognised_by,
             "decision_number": i.decision_number, "decided_on": i.decided_on.isoformat()}
            for i in found]}
        if not found:
            return _result(rule, False, f"no recognised initiative of {y}", used)
        return _result(rule, True, f"initiative recognised by {found[0].decision_number}", used)
    run = list(range(y - rule.years, y))
    # the form is not granted again on the same grounds: the earlier award and the run of
    # years come after its last grant
    granted = [yr for f, yr in facts.awards if f == facts.form_code and yr < y]
    last = max(granted) if granted else None
    earlier = sorted(yr for f, yr in facts.awards if f == rule.form_code and yr < run[0]
                     and (last is None or yr > last))
    missing = [yr for yr in run
               if not any((f, yr) in facts.awards for f in rule.then_any_of)]
    used = {"earlier_award_years": earlier, "years_required": run, "years_missing": missing,
            "last_granted": last}
    if last is not None and last >= run[0]:
        return _result(rule, False, f"{facts.form_code} was granted in {last}: {rule.years} "
                                    f"more years are needed after it", used)
    if not earlier:
        after = f" after {facts.form_code} of {last}" if last is not None else ""
        return _result(rule, False, f"no {rule.form_code} before {run[0]}{after}", used)
    if missing:
        return _result(rule, False, f"none of {', '.join(rule.then_any_of)} in "
                                    f"{', '.join(map(str, missing))}", used)
    return _result(rule, True, f"{rule.form_code} in {earlier[-1]}, then "
                               f"{'/'.join(rule.then_any_of)} in each of {run[0]}–{run[-1]}",
                   used)


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


# What the officers read beside the codes.
STATUS_LABELS: dict[Status, str] = {
    Status.DRAFTED: "Dự thảo", Status.SUBMITTED: "Đã nộp",
    Status.REVIEWED: "Đã xét (Hội đồng)", Status.APPRAISED: "Đã thẩm định",
    Status.APPROVED: "Đã khen thưởng", Status.REJECTED: "Không khen thưởng",
    Status.RETURNED: "Trả lại", Status.FORWARDED: "Trình cấp trên", Status.REVOKED: "Đã hủy",
}
LEVEL_LABELS: dict[AuthorityLevel, str] = {
    AuthorityLevel.COMMUNE_CHAIRMAN: "Chủ tịch UBND xã",
    AuthorityLevel.DISTRICT_CHAIRMAN: "Chủ tịch UBND huyện",
    AuthorityLevel.PROVINCIAL_CHAIRMAN: "Chủ tịch UBND tỉnh",
    AuthorityLevel.PRIME_MINISTER: "Thủ tướng Chính phủ",
    AuthorityLevel.STATE_PRESIDENT: "Chủ tịch nước",
}

# The steps and roles as the refusals name them in Vietnamese.
STEP_VI: dict[str, str] = {
    "edit": "sửa", "submit": "nộp", "review": "xét (Hội đồng)", "appraise": "thẩm định",
    "approve": "phê duyệt", "reject": "không khen thưởng", "return": "trả lại",
    "forward": "trình cấp trên", "revoke": "hủy",
}
UNIT_KIND_VI: dict[str, str] = {
    "province": "tỉnh", "district": "huyện", "commune": "xã", "village": "thôn",
    "agency": "sở, ban, ngành", "mass_org": "đoàn thể", "enterprise": "doanh nghiệp",
}


OPEN = frozenset({Status.DRAFTED, Status.SUBMITTED, Status.REVIEWED, Status.APPRAISED,
                  Status.RETURNED, Status.FORWARDED})
# no longer holds its nominee, form and year: the nominee may be nominated for it again
CLOSED = frozenset({Status.REJECTED, Status.REVOKED})
# a nominee's award history: granted, or granted and then revoked
DECIDED = frozenset({Status.APPROVED, Status.REVOKED})
# appraised or decided: when a fact its appraisal read changes, it is appraised again
REAPPRAISABLE = frozenset({Status.APPRAISED, Status.FORWARDED, Status.APPROVED})


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


def next_status(current: Status, step: Step) -> Status:
    """The status ``step`` leads to; refused when a nomination in ``current`` cannot take it."""
    allowed, after = TRANSITIONS[step]
    if current not in allowed:
        raise StateConflict(en_vi(
            f"cannot {step.value} a nomination that is {current.value}",
            f"không thể {STEP_VI[step.value]} hồ sơ đang ở trạng thái "
            f"\"{STATUS_LABELS[current]}\""))
    return after


def check_open(status: Status) -> None:
    """Evidence is added to a dossier still on its way, not to a decided one."""
    if status not in OPEN:
        raise StateConflict(en_vi(
            f"evidence cannot be added to a nomination that is {status.value}",
            f"không thể thêm tài liệu vào hồ sơ ở trạng thái \"{STATUS_LABELS[status]}\""))


# Files a dossier may carry: the documents a unit scans or writes (PDF, JPEG, PNG, Word and
# Excel, old and new, plain text). Anything else (HTML, SVG, scripts, archives) is refused (415):
# a download served back to another officer's browser must not be something it would run.
EVIDENCE_MEDIA_TYPES: frozenset[str] = frozenset({
    "application/pdf",
    "image/jpeg",
    "image/png",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "text/plain",
})


def evidence_media_type(content_type: str) -> str | None:
    """The media type of a ``Content-Type`` (parameters such as ``charset`` aside, lower case)
    when it is one a dossier may carry, else None."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type if media_type in EVIDENCE_MEDIA_TYPES else None


def check_evidence_room(count: int, limit: int) -> None:
    """A dossier carries at most ``limit`` files: the next one is a conflict with its state."""
    if count >= limit:
        raise StateConflict(en_vi(
            f"a nomination carries at most {limit} evidence files",
            f"mỗi hồ sơ có tối đa {limit} tệp tài liệu"))


# --------------------------------------------------------------------------- who acts

# Who takes each step (``admin`` always may). Approving and revoking belong to whoever signs at
# the form's level (see ``deciders``).
STEP_ROLES: dict[Step, tuple[Role, ...]] = {
    Step.EDIT: (Role.REPORTER,), Step.SUBMIT: (Role.REPORTER,), Step.REVIEW: (Role.COUNCIL,),
    Step.APPRAISE: (Role.BOARD,), Step.FORWARD: (Role.BOARD,),
}
# Returning and rejecting belong to each stage's own decider: the council before its review,
# the board after it; the signing chairman may decline what is put before it.
STAGE_DECIDERS: dict[Step, dict[Status, tuple[Role, ...]]] = {
    Step.RETURN: {Status.SUBMITTED: (Role.COUNCIL,), Status.REVIEWED: (Role.BOARD,),
                  Status.APPRAISED: (Role.BOARD,)},
    Step.REJECT: {Status.SUBMITTED: (Role.COUNCIL,), Status.REVIEWED: (Role.BOARD,),
                  Status.APPRAISED: (Role.BOARD, Role.CHAIRMAN),
                  Status.FORWARDED: (Role.BOARD,)},
}


def deciders(step: Step, status: Status, level: AuthorityLevel) -> tuple[Role, ...]:
    """The roles that take ``step`` on a nomination in ``status`` of a form of ``level``: a
    chairman signs what the province grants, the board records the central decision."""
    if step in (Step.APPROVE, Step.REVOKE):
        return (Role.BOARD,) if above_province(level) else (Role.CHAIRMAN,)
    if step in STAGE_DECIDERS:
        return STAGE_DECIDERS[step][status]
    return STEP_ROLES[step]


# The steps that sign a decision: only whoever holds the form's authority takes them; the system
# administrator operates the system and signs nothing.
SIGNING_STEPS = frozenset({Step.APPROVE, Step.REVOKE})
# The steps that decide a dossier: whoever drafted, edited or submitted it takes none of them.
DECIDING_STEPS = frozenset({Step.APPROVE, Step.REJECT})
PROPOSING_STEPS = ("draft", Step.EDIT.value, Step.SUBMIT.value)


def may_take(step: Step, status: Status, level: AuthorityLevel, roles: frozenset[Role]
             ) -> None:
    """Refuse unless ``roles`` hold one of the step's deciders (``admin`` may take any step
    but a signed decision)."""
    wanted = deciders(step, status, level)
    if not roles & {*wanted, *(() if step in SIGNING_STEPS else (Role.ADMIN,))}:
        raise NotAllowed(en_vi(
            "this action needs one of the roles: " + ", ".join(r.value for r in wanted),
            "thao tác này cần một trong các vai trò: "
            + ", ".join(ROLE_VI.get(r.value, r.value) for r in wanted)))


def declines_as_chairman(step: Step, status: Status, roles: frozenset[Role]) -> bool:
    """Whether the caller declines as the signing chairman (then only the chairman who would
    sign it may): a chairman's refusal, not the board's."""
    return (Role.CHAIRMAN in STAGE_DECIDERS.get(step, {}).get(status, ())
            and not roles & {Role.ADMIN, Role.BOARD})


def chairman_level(unit_kind: UnitKind | None) -> AuthorityLevel:
    """The level the chairman of a unit of ``unit_kind`` signs at."""
    level = CHAIRMAN_LEVEL.get(unit_kind) if unit_kind is not None else None
    if level is None:
        raise NotAllowed(en_vi("only the chairman of a commune, district or province signs",
                               "chỉ Chủ tịch UBND xã, huyện hoặc tỉnh ký"))
    return level


def default_signers(level: AuthorityLevel) -> tuple[UnitKind, ...]:
    """Whose head signs a form of ``level`` unless the form says otherwise: the chairman of
    the People's Committee of that level (none within the province above it)."""
    return tuple(kind for kind, at in CHAIRMAN_LEVEL.items() if at is level)


def check_signer(level: AuthorityLevel, signers: Sequence[UnitKind],
                 unit_kind: UnitKind | None) -> None:
    """A form is signed by the head (role ``chairman``) of a unit of one of the kinds the form
    names: People's Committee chairmen at the form's level, and, where the form says so, heads
    of departments and agencies, mass organisations and enterprises (for their own people:
    the proposing unit is within theirs)."""
    if unit_kind is not None and unit_kind in signers:
        return
    heads = ", ".join(k.value for k in signers) or "none in the province"
    heads_vi = ", ".join(UNIT_KIND_VI.get(k.value, k.value) for k in signers) or (
        "không ai trong tỉnh")
    caller_vi = ("đơn vị " + UNIT_KIND_VI.get(unit_kind.value, unit_kind.value) if unit_kind
                 else "đơn vị không rõ")
    raise NotAllowed(en_vi(
        f"this form is granted by the {level.value.replace('_', ' ')} (signed by "
        f"the head of a unit of kind: {heads}), not the head of "
        f"{'a ' + unit_kind.value if unit_kind else 'an unknown unit'}",
        f"hình thức này do {LEVEL_LABELS[level]} quyết định (người đứng đầu đơn vị loại: "
        f"{heads_vi} ký), không phải người đứng đầu {caller_vi}"))


def check_approval_level(form_level: AuthorityLevel, approver: AuthorityLevel) -> None:
    """A form is approved only at its own authority level, by no higher and no lower one."""
    if form_level != approver:
        raise NotAllowed(en_vi(
            f"this form is granted by the {form_level.value.replace('_', ' ')}, "
            f"not the {approver.value.replace('_', ' ')}",
            f"hình thức này do {LEVEL_LABELS[form_level]} quyết định, không phải "
            f"{LEVEL_LABELS[approver]}"))


def check_not_own_unit(nominee_kind: NomineeKind, nominee_unit: uuid.UUID,
                       chairman_unit: uuid.UUID | None) -> None:
    """No one approves an award to the unit they head (Law on Emulation and Commendation): the
    award of a unit to its own chairman's unit goes to the level above."""
    if nominee_kind is NomineeKind.UNIT and nominee_unit == chairman_unit:
        raise NotAllowed(en_vi(
            "the nominee is the unit you head: no one approves an award to their own unit; it "
            "goes to the level above (propose a form granted there)",
            "đơn vị được đề nghị là đơn vị do ông/bà đứng đầu: không ai tự phê duyệt khen "
            "thưởng cho đơn vị mình; đề nghị cấp trên (hình thức do cấp trên quyết định)"))


def check_not_proposer(subject: str, proposers: Set[str]) -> None:
    """Separation of duties: who proposed a dossier (drafted, edited or submitted it) does not
    decide it."""
    if subject in proposers:
        raise NotAllowed(en_vi(
            "you proposed this nomination (drafted, edited or submitted it): someone else "
            "decides it",
            "ông/bà đã đề nghị hồ sơ này (lập, sửa hoặc trình): người khác quyết định"))


def check_council_may_review(proposing_unit: uuid.UUID, council_unit: uuid.UUID | None,
                             roles: Set[Role], nominee_kind: NomineeKind,
                             own_head_signs: bool) -> None:
    """A council reviews the nominations the units below it propose, not its own unit's: those
    go to the council above. One exception, as the law has it: a unit whose own head signs
    the form (a department head's Giấy khen, the titles a department grants its staff) is
    advised by its own council on its own people (never on the unit itself)."""
    if Role.COUNCIL not in roles or council_unit != proposing_unit:
        return
    if nominee_kind is NomineeKind.UNIT or not own_head_signs:
        raise NotAllowed(en_vi(
            "a council reviews the nominations of the units below it, not its own unit's: "
            "they go to the council above",
            "hội đồng xét hồ sơ của các đơn vị cấp dưới, không xét hồ sơ của chính đơn vị "
            "mình: hồ sơ đó do hội đồng cấp trên xét"))


def check_central_decision(step: Step, status: Status, level: AuthorityLevel) -> None:
    """The central decision on a form above the province is recorded once it was forwarded."""
    if step is Step.APPROVE and above_province(level) and status is not Status.FORWARDED:
        raise StateConflict(en_vi("a form above the province's authority is forwarded first",
                                  "hình thức vượt thẩm quyền của tỉnh phải trình cấp trên "
                                  "trước"))


def check_forwardable(form_code: str, level: AuthorityLevel) -> None:
    """Only a form above the province's authority is forwarded."""
    if not above_province(level):
        raise StateConflict(f"{form_code} is granted within the province ({level.value}); "
                            "approve it instead")


def check_decidable(needs_reappraisal: bool, appraisal: Mapping[str, Any] | None) -> None:
    """A nomination is approved or forwarded on an appraisal that still holds and found the
    nominee eligible."""
    if needs_reappraisal:
        raise StateConflict(en_vi(
            "a report or award this appraisal used has changed: appraise it again",
            "báo cáo hoặc khen thưởng mà lần thẩm định này dựa vào đã thay đổi: thẩm định "
            "lại"))
    if not (appraisal or {}).get("eligible"):
        raise StateConflict(en_vi("the appraisal found the nominee not eligible",
                                  "kết quả thẩm định: không đủ điều kiện"))


class VoteComparison(StrEnum):
    MORE_THAN = "more_than"  # more than the share of all members (e.g. more than half)
    AT_LEAST = "at_least"  # at least the share (e.g. at least 90 %)


@dataclass(frozen=True)
class VoteRule:
    """What a form needs of the council: a share of its total membership, and perhaps a secret
    ballot (data of the form)."""

    threshold: Fraction = Fraction(1, 2)
    comparison: VoteComparison = VoteComparison.MORE_THAN
    secret_ballot: bool = False

    def describe(self) -> str:
        share = "half" if self.threshold == Fraction(1, 2) else f"{float(self.threshold):.0%}"
        word = "more than" if self.comparison is VoteComparison.MORE_THAN else "at least"
        return f"{word} {share} of all members" + (" by secret ballot"
                                                     if self.secret_ballot else "")

    def describe_vi(self) -> str:
        share = ("một nửa" if self.threshold == Fraction(1, 2)
                 else f"{float(self.threshold):.0%}")
        word = "trên" if self.comparison is VoteComparison.MORE_THAN else "ít nhất"
        return f"{word} {share} tổng số thành viên" + (" bằng bỏ phiếu kín"
                                                       if self.secret_ballot else "")


@dataclass(frozen=True)
class Ballot:
    votes_for: int
    votes_against: int
    votes_abstain: int
    members: int
    secret: bool


def check_votes(ballot: Ballot, rule: VoteRule) -> None:
    """The council's review carries a nomination only with the votes for it the form needs,
    counted against the council's total membership (not the votes cast)."""
    cast = ballot.votes_for + ballot.votes_against + ballot.votes_abstain
    if cast == 0:
        raise RuleBroken("votes_for", en_vi("no votes were recorded: record the council's vote",
                                            "chưa ghi nhận phiếu nào: hãy ghi kết quả biểu "
                                            "quyết của Hội đồng"))
    if cast > ballot.members:
        raise RuleBroken("members", en_vi(
            f"{cast} votes were recorded but the council has {ballot.members} members",
            f"ghi nhận {cast} phiếu nhưng Hội đồng có {ballot.members} thành viên"))
    if rule.secret_ballot and not ballot.secret:
        raise RuleBroken("secret_ballot", en_vi(f"this form needs {rule.describe()}",
                                                f"hình thức này cần {rule.describe_vi()}"))
    need = rule.threshold * ballot.members
    ok = (ballot.votes_for >= need if rule.comparison is VoteComparison.AT_LEAST
          else ballot.votes_for > need)
    if not ok:
        raise RuleBroken("votes_for", en_vi(
            f"{ballot.votes_for} of {ballot.members} members voted for it; this form needs "
            f"{rule.describe()}: reject or return the nomination instead",
            f"{ballot.votes_for}/{ballot.members} thành viên tán thành; hình thức này cần "
            f"{rule.describe_vi()}: hãy không khen thưởng hoặc trả lại hồ sơ"))


def check_window(year: int, closes_on: date | None, today: date) -> None:
    """Registrations for a year are taken until the day the board set (inclusive)."""
    if closes_on is None:
        raise StateConflict(f"registrations for {year} are not open (the board sets the date "
                            "they close)")
    if today > closes_on:
        raise StateConflict(f"registrations for {year} closed on {closes_on}")


@dataclass(frozen=True)
class Form:
    code: str
    name_vi: str
    category: Category
    for_whom: ForWhom
    authority_level: AuthorityLevel
    votes: VoteRule = VoteRule()
    signers: tuple[UnitKind, ...] | None = None  # None: the chairman of the form's level
    also_for: tuple[ForWhom, ...] = ()

    @property
    def signer_kinds(self) -> tuple[UnitKind, ...]:
        return (self.signers if self.signers is not None
                else default_signers(self.authority_level))


def vote_rule(threshold: Any, comparison: str, secret_ballot: bool) -> VoteRule:
    """A form's vote rule from its stored or given fields (the share as an exact fraction)."""
    return VoteRule(Fraction(str(threshold)), VoteComparison(comparison), bool(secret_ballot))


def seed_forms(table: str) -> list[tuple[Form, dict[str, Any]]]:
    """The forms and rules of a seed table (CSV: code, name_vi, category, for_whom,
    authority_level, rule as JSON; optionally vote_threshold, vote_comparison,
    secret_ballot_required (more than half of all members, no secret ballot, when absent),
    signer_unit_kinds (space-separated; the chairman of the form's level when absent) and
    also_for (space-separated kinds of nominee besides for_whom))."""
    return [(Form(row["code"], row["name_vi"], Category(row["category"]),
                  ForWhom(row["for_whom"]), AuthorityLevel(row["authority_level"]),
                  vote_rule(row.get("vote_threshold") or "0.5",
                            row.get("vote_comparison") or VoteComparison.MORE_THAN,
                            (row.get("secret_ballot_required") or "").strip().lower()
                            == "true"),
                  tuple(UnitKind(k) for k in row["signer_unit_kinds"].split())
                  if row.get("signer_unit_kinds") else None,
                  tuple(ForWhom(k) for k in (row.get("also_for") or "").split())),
             json.loads(row["rule"]))
            for row in csv.DictReader(io.StringIO(table))]


# --------------------------------------------------------------------------- nominees

_IDS = uuid.UUID("6f1c1f2e-6b0c-4d43-9f4e-6e0f3c7a2a10")  # namespace of person/household ids


def name_key(name: str | None) -> str:
    """A name as names are compared: in Unicode NFC (the composed and decomposed spellings of
    a Vietnamese name are one name), without zero-width characters, spaces collapsed, case
    folded."""
    cleaned = "".join(c for c in unicodedata.normalize("NFC", name or "") if c not in ZERO_WIDTH)
    return unicodedata.normalize("NFC", " ".join(cleaned.casefold().split()))


def nominee_id(kind: NomineeKind, unit_id: uuid.UUID, name: str | None) -> str:
    """A unit is its own id; a person without a citizen identity number (CCCD) or a household
    gets a stable id from their unit and their name as compared (``name_key``), so
    registrations, nominations and award history meet. A person's position is not part of it
    (a promotion does not make another person). A person with a CCCD is not given an id from
    it (the number could be recovered from the id): they get a random id, kept with the number
    in the person records."""
    if kind is NomineeKind.UNIT:
        return str(unit_id)
    return str(uuid.uuid5(_IDS, f"{kind}:{unit_id}:{name_key(name)}"))


def check_citizen_name(recorded_key: str, given_key: str, field: str) -> None:
    """A citizen ID number already recorded is one person's: a nominee giving it under another
    name (as names are compared) is refused, never merged with them nor renamed."""
    if recorded_key != given_key:
        raise RuleBroken(f"{field}.citizen_id", en_vi(
            "this citizen ID belongs to another person's name",
            "số căn cước công dân này thuộc về người có tên khác"))


CITIZEN_ID = re.compile(r"[0-9]{12}")


def check_citizen_id(kind: NomineeKind, citizen_id: str | None, field: str) -> None:
    """A citizen identity number (căn cước công dân, 12 digits) identifies a person only."""
    if citizen_id is None:
        return
    if kind is not NomineeKind.PERSON:
        raise RuleBroken(f"{field}.citizen_id", f"a {kind} nominee has no citizen ID number")
    if not CITIZEN_ID.fullmatch(citizen_id):
        raise RuleBroken(f"{field}.citizen_id", "a citizen ID number (CCCD) is 12 digits")


def check_link(later: str, earlier: str, earlier_chain: Sequence[str],
               already: str | None, citizen_ids: tuple[str | None, str | None] = (None, None)
               ) -> None:
    """The board links a person's record to their earlier one (a person who moved to another
    unit): once, to another record, never in a circle, and never two records that carry
    different citizen ID numbers (two people)."""
    if later == earlier:
        raise RuleBroken("earlier_id", "a person record is not linked to itself")
    if already is not None:
        raise StateConflict(f"this person record is already linked to {already}")
    if later in earlier_chain:
        raise StateConflict("the earlier record is already linked to this one")
    mine, theirs = citizen_ids
    if mine is not None and theirs is not None and mine != theirs:
        raise StateConflict(en_vi(
            "the two records carry different citizen ID numbers: they are two people",
            "hai hồ sơ mang hai số căn cước công dân khác nhau: đây là hai người"))


def check_nominee(kind: NomineeKind, name: str | None, unit_kind: UnitKind, field: str
                  ) -> None:
    """A person or household is named; a household belongs to a village."""
    if kind is NomineeKind.UNIT:
        return
    if not name:
        raise RuleBroken(f"{field}.name", f"a {kind} nominee needs a name")
    if kind is NomineeKind.HOUSEHOLD and unit_kind is not UnitKind.VILLAGE:
        raise RuleBroken(f"{field}.unit_id", "a household belongs to a village")


def check_for_whom(form_code: str, for_whom: ForWhom, kind: NomineeKind, unit_kind: UnitKind,
                   field: str, also_for: Sequence[ForWhom] = ()) -> None:
    """A form is for its kind of nominee (a collective unit, a village, a person, a
    household), or one of the kinds it is ``also_for`` (a Giấy khen may go to a collective, a
    person or a household, as the law allows); refused as for its own kind."""
    for other in also_for:
        try:
            check_for_whom(form_code, other, kind, unit_kind, field)
            return
        except RuleBroken:
            continue
    if NOMINEE_KINDS[for_whom] is not kind:
        raise RuleBroken(f"{field}.kind", f"{form_code} is for a {for_whom.value}, "
                                          f"not a {kind.value}")
    if for_whom is ForWhom.VILLAGE and unit_kind is not UnitKind.VILLAGE:
        raise RuleBroken(f"{field}.unit_id", f"{form_code} is for a village")
    if for_whom is ForWhom.COLLECTIVE and unit_kind is UnitKind.VILLAGE:
        raise RuleBroken(f"{field}.unit_id", f"{form_code} is for a collective unit")


def candidate_kinds(for_whom: ForWhom) -> frozenset[UnitKind]:
    """The units that may be candidates for a form (found from their reported data)."""
    if NOMINEE_KINDS[for_whom] is not NomineeKind.UNIT:
        raise RuleBroken("form_code", "candidates are found for units only")
    if for_whom is ForWhom.VILLAGE:
        return frozenset({UnitKind.VILLAGE})
    return frozenset({UnitKind.COMMUNE, UnitKind.DISTRICT})


def years_used(rule: Rule, year: int) -> list[int]:
    """Report years a rule reads for a nomination of ``year`` (to flag re-appraisal)."""
    used: set[int] = set()
    for leaf in leaves(rule):
        if isinstance(leaf, ReductionMeetsTarget | ReductionAtLeast):
            used.update((year - 1, year))
        elif isinstance(leaf, EscapedMeetsTarget | ReportOnTime | IndicatorAtLeast):
            used.add(year)
    return sorted(used)


def reads_awards(rule: Rule) -> bool:
    """Whether a rule reads the nominee's awards (so granting or revoking one of them calls
    for a new appraisal)."""
    return any(isinstance(leaf, HeldTitleConsecutive | NoAwardWithin | HeldTitleInYear
                          | EarlierAwardThenYears) for leaf in leaves(rule))


# --------------------------------------------------------------------------- appraisal


@dataclass(frozen=True)
class Appraisal:
    """A rule checked against the facts, with what it read: kept on the nomination."""

    result: RuleResult
    rule_version: int
    years_used: list[int]
    reads_awards: bool
    report_versions: dict[str, int]
    at: datetime

    @property
    def eligible(self) -> bool:
        return self.result.passed

    def record(self) -> dict[str, Any]:
        return {"eligible": self.eligible, "rule_version": self.rule_version,
                "result": self.result.model_dump(mode="json"), "years_used": self.years_used,
                "reads_awards": self.reads_awards, "report_versions": self.report_versions,
                "appraised_at": self.at.isoformat()}


def appraise(rule: Rule, rule_version: int, facts: Facts, at: datetime) -> Appraisal:
    used = years_used(rule, facts.year)
    return Appraisal(result=evaluate(rule, facts), rule_version=rule_version, years_used=used,
                     reads_awards=reads_awards(rule),
                     report_versions={str(y): facts.reports[y].version for y in used
                                      if y in facts.reports}, at=at)


def read_year(appraisal: Mapping[str, Any], year: int) -> bool:
    """Whether an appraisal read the reports of ``year``: a correction of one calls for a new
    appraisal."""
    return year in appraisal.get("years_used", [])


def read_award_of(appraisal: Mapping[str, Any], nomination_year: int, award_year: int,
                  award_form: str | None = None) -> bool:
    """Whether an appraisal read an award (of ``award_form``) of ``award_year``: rules read the
    awards of the years before the nominated one, and ``held_title_in_year`` the award of its
    form in the nominated year itself, so granting or revoking it calls for a new appraisal of
    the nominee's nominations whose rule reads it."""
    if nomination_year < award_year:
        return False
    if nomination_year == award_year:
        rule = parse_rule(appraisal["result"]["rule"])
        return any(isinstance(leaf, HeldTitleInYear) and leaf.form_code == award_form
                   for leaf in leaves(rule))
    reads = appraisal.get("reads_awards")
    if reads is None:  # appraised before this was recorded: look at the rule it used
        reads = reads_awards(parse_rule(appraisal["result"]["rule"]))
    return bool(reads)


def reads_history(appraisal: Mapping[str, Any]) -> bool:
    """Whether an appraisal read the nominee's history (awards or initiatives): linking the
    person to an earlier record calls for a new appraisal."""
    rule = parse_rule(appraisal["result"]["rule"])
    return reads_awards(rule) or any(isinstance(leaf, InitiativeRecognised)
                                     for leaf in leaves(rule))


def read_initiative_of(appraisal: Mapping[str, Any], nomination_year: int,
                       initiative_year: int) -> bool:
    """Whether an appraisal read the nominee's initiatives of ``initiative_year`` (so one
    recognised since calls for a new appraisal)."""
    if nomination_year != initiative_year:
        return False
    return any(isinstance(leaf, InitiativeRecognised)
               for leaf in leaves(parse_rule(appraisal["result"]["rule"])))


def check_initiative_holder(kind: NomineeKind, name: str | None) -> None:
    """An initiative is a named person's (the titles that read one are an individual's)."""
    if kind is not NomineeKind.PERSON:
        raise RuleBroken("person.kind", "an initiative is recorded for a person")
    if not name:
        raise RuleBroken("person.name", "the person is named")
