"""Pure rules of the awards service: the catalogue, award criteria as data, authority levels,
the nomination lifecycle and who may take each step. No I/O here; a rule that refuses raises
one of ``chungtay_common.refusals``."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chungtay_common.auth import Role
from chungtay_common.contracts.awards import AuthorityLevel, NomineeKind, RuleResult
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.refusals import NotAllowed, RuleBroken, StateConflict

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
        raise StateConflict(f"cannot {step.value} a nomination that is {current.value}")
    return after


def check_open(status: Status) -> None:
    """Evidence is added to a dossier still on its way, not to a decided one."""
    if status not in OPEN:
        raise StateConflict(f"evidence cannot be added to a nomination that is {status.value}")


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


def may_take(step: Step, status: Status, level: AuthorityLevel, roles: frozenset[Role]
             ) -> None:
    """Refuse unless ``roles`` hold one of the step's deciders (``admin`` always may)."""
    wanted = deciders(step, status, level)
    if not roles & {Role.ADMIN, *wanted}:
        raise NotAllowed("this action needs one of the roles: "
                         + ", ".join(r.value for r in wanted))


def declines_as_chairman(step: Step, status: Status, roles: frozenset[Role]) -> bool:
    """Whether the caller declines as the signing chairman (then only the chairman who would
    sign it may): a chairman's refusal, not the board's."""
    return (Role.CHAIRMAN in STAGE_DECIDERS.get(step, {}).get(status, ())
            and not roles & {Role.ADMIN, Role.BOARD})


def chairman_level(unit_kind: UnitKind | None) -> AuthorityLevel:
    """The level the chairman of a unit of ``unit_kind`` signs at."""
    level = CHAIRMAN_LEVEL.get(unit_kind) if unit_kind is not None else None
    if level is None:
        raise NotAllowed("only the chairman of a commune, district or province signs")
    return level


def check_approval_level(form_level: AuthorityLevel, approver: AuthorityLevel) -> None:
    """A form is approved only at its own authority level, by no higher and no lower one."""
    if form_level != approver:
        raise NotAllowed(f"this form is granted by the {form_level.value.replace('_', ' ')}, "
                         f"not the {approver.value.replace('_', ' ')}")


def check_central_decision(step: Step, status: Status, level: AuthorityLevel) -> None:
    """The central decision on a form above the province is recorded once it was forwarded."""
    if step is Step.APPROVE and above_province(level) and status is not Status.FORWARDED:
        raise StateConflict("a form above the province's authority is forwarded first")


def check_forwardable(form_code: str, level: AuthorityLevel) -> None:
    """Only a form above the province's authority is forwarded."""
    if not above_province(level):
        raise StateConflict(f"{form_code} is granted within the province ({level.value}); "
                            "approve it instead")


def check_decidable(needs_reappraisal: bool, appraisal: Mapping[str, Any] | None) -> None:
    """A nomination is approved or forwarded on an appraisal that still holds and found the
    nominee eligible."""
    if needs_reappraisal:
        raise StateConflict("a report or award this appraisal used has changed: appraise it "
                            "again")
    if not (appraisal or {}).get("eligible"):
        raise StateConflict("the appraisal found the nominee not eligible")


def check_votes(votes_for: int, votes_against: int) -> None:
    """The council's review carries a nomination only with more votes for than against."""
    if votes_for <= votes_against:
        raise RuleBroken("votes_for", "the council did not vote for it; reject or return the "
                                      "nomination instead")


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


def seed_forms(table: str) -> list[tuple[Form, dict[str, Any]]]:
    """The forms and rules of a seed table (CSV: code, name_vi, category, for_whom,
    authority_level, rule as JSON)."""
    return [(Form(row["code"], row["name_vi"], Category(row["category"]),
                  ForWhom(row["for_whom"]), AuthorityLevel(row["authority_level"])),
             json.loads(row["rule"]))
            for row in csv.DictReader(io.StringIO(table))]


# --------------------------------------------------------------------------- nominees

_IDS = uuid.UUID("6f1c1f2e-6b0c-4d43-9f4e-6e0f3c7a2a10")  # namespace of person/household ids


def nominee_id(kind: NomineeKind, unit_id: uuid.UUID, name: str | None) -> str:
    """A unit is its own id; people and households get a stable id from their unit and name,
    so registrations, nominations and award history meet. A person's position is not part of
    it (a promotion does not make another person)."""
    if kind is NomineeKind.UNIT:
        return str(unit_id)
    key = f"{kind}:{unit_id}:{' '.join((name or '').lower().split())}"
    return str(uuid.uuid5(_IDS, key))


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
                   field: str) -> None:
    """A form is for one kind of nominee: a collective unit, a village, a person, a household."""
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
    return any(isinstance(leaf, HeldTitleConsecutive | NoAwardWithin) for leaf in leaves(rule))


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


def read_award_of(appraisal: Mapping[str, Any], nomination_year: int, award_year: int) -> bool:
    """Whether an appraisal read an award of ``award_year``: rules read the awards of the years
    before the nominated one only, so granting or revoking it calls for a new appraisal of the
    nominee's later nominations whose rule reads awards."""
    if nomination_year <= award_year:
        return False
    reads = appraisal.get("reads_awards")
    if reads is None:  # appraised before this was recorded: look at the rule it used
        reads = reads_awards(parse_rule(appraisal["result"]["rule"]))
    return bool(reads)
