"""Pure rules of the indicators service: the catalogue, validation and warnings, sums above a
unit, deadlines, who acts on a report and its lifecycle. No I/O here."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from chungtay_common import clock
from chungtay_common.auth import Role
from chungtay_common.clock import VN
from chungtay_common.contracts.indicators import (
    Aggregation,
    Figures,
    ReportWarning,
    Value,
    ValueType,
)
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.messages import en_vi
from chungtay_common.poverty import (
    ATTAINMENT,
    ESCAPED,
    FELL_BACK,
    HOUSEHOLDS,
    NEAR_POOR,
    NEAR_POOR_RATE,
    NEWLY_POOR,
    POOR,
    POOR_RATE,
    REDUCTION,
    RESOURCES_CREDIT,
    RESOURCES_SOCIAL,
    RESOURCES_STATE_BUDGET,
    rate,
    sum_values,
)
from chungtay_common.refusals import NotAllowed, RuleBroken, StateConflict

# The codes and formulas of the movement are in ``chungtay_common.poverty`` (shared with the
# reporting service); the catalogue, validation, deadlines and the lifecycle are here.

VALUE_BOUND = 10**15  # no reported value is larger in magnitude (VND totals of a province fit)
RATE_JUMP_PP = 10.0  # a rate that moves more than this in a year is worth a second look
HISTORY_FACTOR = 0.5  # a value more than 50 % away from last year's is "far outside history"
HISTORY_MIN_DIFF = 20  # ... and by more than this many (small units move by a few at once)

REPORTING_KINDS = [UnitKind.DISTRICT, UnitKind.COMMUNE, UnitKind.AGENCY, UnitKind.MASS_ORG]
LOCAL_KINDS = [UnitKind.DISTRICT, UnitKind.COMMUNE]


@dataclass(frozen=True)
class Indicator:
    code: str
    name_vi: str
    name_en: str
    unit_of_measure: str
    value_type: ValueType = ValueType.INTEGER
    min_value: Value | None = 0
    max_value: Value | None = None
    reported_by: tuple[UnitKind, ...] = tuple(LOCAL_KINDS)
    aggregation: Aggregation = Aggregation.SUM
    derived: bool = False
    formula: str | None = None
    required: bool = False
    retired: bool = False
    version: int = 1


SEED_CATALOGUE: tuple[Indicator, ...] = (
    *(Indicator(code, name_vi, name_en, "households", required=True)
      for code, name_vi, name_en in (
          (HOUSEHOLDS, "Tổng số hộ", "Total households"),
          (POOR, "Số hộ nghèo", "Poor households"),
          (NEAR_POOR, "Số hộ cận nghèo", "Near-poor households"),
          (ESCAPED, "Số hộ thoát nghèo trong năm", "Households that escaped poverty"),
          (NEWLY_POOR, "Số hộ nghèo phát sinh", "Newly poor households"),
          (FELL_BACK, "Số hộ tái nghèo", "Households that fell back into poverty"))),
    *(Indicator(code, name_vi, name_en, unit, reported_by=tuple(REPORTING_KINDS))
      for code, name_vi, name_en, unit in (
          (RESOURCES_STATE_BUDGET, "Nguồn lực huy động: ngân sách nhà nước",
           "Resources mobilised: state budget", "VND"),
          (RESOURCES_CREDIT, "Nguồn lực huy động: tín dụng ưu đãi",
           "Resources mobilised: preferential credit", "VND"),
          (RESOURCES_SOCIAL, "Nguồn lực huy động: xã hội hóa",
           "Resources mobilised: social contributions", "VND"),
          ("houses_built_or_repaired", "Nhà ở xây mới, sửa chữa cho hộ nghèo",
           "Houses built or repaired for poor households", "count"),
          ("livelihood_models", "Mô hình sinh kế", "Livelihood models", "count"),
          ("initiatives", "Sáng kiến, cách làm hay", "Initiatives", "count"),
          ("people_trained_or_employed", "Số người được đào tạo nghề, giải quyết việc làm",
           "People trained or given jobs", "people"))),
    Indicator(POOR_RATE, "Tỷ lệ hộ nghèo", "Poor-household rate", "percent",
              ValueType.DECIMAL, None, None, aggregation=Aggregation.RATIO_OF_SUMS, derived=True,
              formula=f"{POOR} / {HOUSEHOLDS} * 100"),
    Indicator(NEAR_POOR_RATE, "Tỷ lệ hộ cận nghèo", "Near-poor household rate", "percent",
              ValueType.DECIMAL, None, None, aggregation=Aggregation.RATIO_OF_SUMS, derived=True,
              formula=f"{NEAR_POOR} / {HOUSEHOLDS} * 100"),
    Indicator(REDUCTION, "Mức giảm tỷ lệ hộ nghèo (điểm %)",
              "Reduction of the poor-household rate (percentage points)", "percentage points",
              ValueType.DECIMAL, None, None, aggregation=Aggregation.RATIO_OF_SUMS, derived=True,
              formula=f"{POOR_RATE}(year - 1) - {POOR_RATE}(year)"),
    Indicator(ATTAINMENT, "Mức độ hoàn thành chỉ tiêu giảm nghèo",
              "Attainment of the poverty-reduction target", "percent", ValueType.DECIMAL,
              None, None, aggregation=Aggregation.NONE, derived=True,
              formula=f"{REDUCTION} / target reduction_pp_min * 100"),
)


# --------------------------------------------------------------------------- deadlines

def due_at(year: int, month: int = 11, day: int = 20) -> datetime:
    """"Before 20 November": the instant that day begins in Vietnam; a report submitted at
    23:59 on 19 November is on time, at 00:00 on 20 November it is late."""
    return datetime.combine(date(year, month, day), time(0, 0), tzinfo=VN)


def cycles(first_year: int, last_year: int, month: int, day: int
           ) -> list[tuple[int, datetime]]:
    """A campaign's reporting cycles: each year's due date."""
    if last_year < first_year:
        raise RuleBroken("last_year", en_vi("must not be before first_year",
                                           "không được trước first_year"))
    if last_year - first_year > 20:
        raise RuleBroken("last_year", en_vi("a campaign spans at most 21 years",
                                           "một phong trào kéo dài nhiều nhất 21 năm"))
    try:
        return [(y, due_at(y, month, day)) for y in range(first_year, last_year + 1)]
    except ValueError as exc:
        raise RuleBroken("due_day", en_vi(f"is not a day of month {month}",
                                         f"không phải là một ngày của tháng {month}")) from exc


def is_on_time(submitted_at: datetime, due: datetime) -> bool:
    return submitted_at < due


def eve_of(due: datetime) -> date:
    """The day a cycle's hierarchy is read on: the last day before the due date, in Vietnam
    (who was expected to report, and under which parent)."""
    return due.astimezone(VN).date() - timedelta(days=1)


def check_submitted_at(submitted_at: datetime, year: int, now: datetime | None = None
                       ) -> str | None:
    """A back-filled submission of ``year``'s report is an instant from the start of the year
    before (a generous bound) up to now; a message when it is not."""
    earliest = datetime.combine(date(year - 1, 1, 1), time(0, 0), tzinfo=VN)
    latest = now or clock.now()
    if not earliest <= submitted_at <= latest:
        return en_vi(f"must be between {earliest.date().isoformat()} and now for a report of "
                     f"{year}", f"phải nằm trong khoảng từ {earliest.date().isoformat()} đến "
                                f"nay đối với báo cáo năm {year}")
    return None


# --------------------------------------------------------------------------- validation

def check_range(low_field: str, low: float | None, high_field: str, high: float | None
                ) -> None:
    """An upper bound is not below the lower one (either may be absent)."""
    if low is not None and high is not None and high < low:
        raise RuleBroken(high_field, en_vi(f"must not be below {low_field}",
                                          f"không được nhỏ hơn {low_field}"))


def check_entered(ind: Indicator) -> None:
    """Only an entered indicator is defined or retired by people."""
    if ind.derived:
        raise RuleBroken("code", en_vi("is a derived indicator, computed by the system",
                                      "là chỉ tiêu tính toán, do hệ thống tính"))


# The entered indicators the derived figures are computed from (``chungtay_common.poverty``:
# derive): retiring one would leave every report's rates without an input and, being required,
# would block every submission.
READ_BY_DERIVED: dict[str, tuple[str, ...]] = {
    HOUSEHOLDS: (POOR_RATE, NEAR_POOR_RATE, REDUCTION, ATTAINMENT),
    POOR: (POOR_RATE, REDUCTION, ATTAINMENT),
    NEAR_POOR: (NEAR_POOR_RATE,),
}


def check_retirable(ind: Indicator, award_forms: Sequence[str] = ()) -> None:
    """An entered indicator that no derived figure and no current award rule (of
    ``award_forms``) reads may be retired."""
    check_entered(ind)
    readers = READ_BY_DERIVED.get(ind.code)
    if readers:
        raise StateConflict(en_vi(
            f"{ind.code} cannot be retired: the derived figures {', '.join(readers)} are "
            f"computed from it", f"không thể ngừng dùng {ind.code}: các chỉ tiêu tính toán "
                                 f"{', '.join(readers)} được tính từ chỉ tiêu này"))
    if award_forms:
        raise StateConflict(en_vi(
            f"{ind.code} cannot be retired: the current award rule of "
            f"{', '.join(award_forms)} reads it (change the rule first)",
            f"không thể ngừng dùng {ind.code}: tiêu chí khen thưởng hiện hành của "
            f"{', '.join(award_forms)} dùng chỉ tiêu này (hãy sửa tiêu chí trước)"))


# The indicators a type of award criterion reads by itself (besides ``indicator_at_least``).
_READ_BY_RULE_TYPE: dict[str, set[str]] = {
    "escaped_meets_target": {ESCAPED},
    "reduction_meets_target": {HOUSEHOLDS, POOR},
    "reduction_at_least": {HOUSEHOLDS, POOR},
}


def indicators_read_by_rule(rule: object) -> set[str]:
    """The indicator codes an award rule reads: its ``indicator_at_least`` criteria and what
    its other criteria read (``escaped_meets_target`` reads ``escaped_poverty``), at any
    depth of its ``all``/``any`` parts (the rule as ``award_rule.changed`` carries it)."""
    found: set[str] = set()
    if isinstance(rule, dict):
        if rule.get("type") == "indicator_at_least" and isinstance(rule.get("indicator"), str):
            found.add(rule["indicator"])
        found |= _READ_BY_RULE_TYPE.get(str(rule.get("type")), set())
        for part in rule.values():
            found |= indicators_read_by_rule(part)
    elif isinstance(rule, list):
        for part in rule:
            found |= indicators_read_by_rule(part)
    return found


@dataclass(frozen=True)
class Problem:
    """Why a value is refused: every problem of a report is listed at once."""

    field: str
    message: str


def check_values(values: Mapping[str, Value], catalogue: Mapping[str, Indicator],
                 unit_kind: UnitKind) -> list[Problem]:
    """Problems that refuse a report's values, each naming its field (``values.<code>``)."""
    errors: list[Problem] = []

    def err(code: str, message: str) -> None:
        errors.append(Problem(field=f"values.{code}", message=message))

    for code, value in values.items():
        ind = catalogue.get(code)
        if ind is None:
            err(code, en_vi("unknown indicator", "không có chỉ tiêu này"))
            continue
        if ind.derived:
            err(code, en_vi("is computed from other indicators and cannot be entered",
                            "được tính từ các chỉ tiêu khác, không nhập"))
            continue
        if ind.retired:
            err(code, en_vi("is retired", "đã ngừng sử dụng"))
            continue
        if unit_kind not in ind.reported_by:
            err(code, en_vi(f"is not reported by a {unit_kind}",
                            f"không do đơn vị loại {unit_kind} báo cáo"))
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            err(code, en_vi("must be a number", "phải là một số"))
            continue
        if isinstance(value, float) and not math.isfinite(value):
            err(code, en_vi("must be a finite number", "phải là một số hữu hạn"))
            continue
        if abs(value) > VALUE_BOUND:
            err(code, en_vi(f"must be between -{VALUE_BOUND:,} and {VALUE_BOUND:,}",
                            f"phải nằm trong khoảng từ -{VALUE_BOUND:,} đến {VALUE_BOUND:,}"))
            continue
        if ind.value_type is ValueType.INTEGER and not float(value).is_integer():
            err(code, en_vi("must be a whole number", "phải là số nguyên"))
            continue
        if ind.min_value is not None and value < ind.min_value:
            err(code, en_vi("must not be negative", "không được âm") if ind.min_value == 0
                else en_vi(f"must be at least {ind.min_value}",
                           f"phải lớn hơn hoặc bằng {ind.min_value}"))
            continue
        if ind.max_value is not None and value > ind.max_value:
            err(code, en_vi(f"must be at most {ind.max_value}",
                            f"phải nhỏ hơn hoặc bằng {ind.max_value}"))
    if errors:
        return errors
    total, poor, near = values.get(HOUSEHOLDS), values.get(POOR), values.get(NEAR_POOR)
    if total is not None and poor is not None and poor > total:
        err(POOR, en_vi(f"poor households ({poor:g}) exceed total households ({total:g})",
                        f"số hộ nghèo ({poor:g}) vượt quá tổng số hộ ({total:g})"))
    if total is not None and poor is not None and near is not None and poor + near > total:
        err(NEAR_POOR, en_vi(f"poor + near-poor households ({poor + near:g}) exceed total "
                             f"households ({total:g})",
                             f"số hộ nghèo và cận nghèo ({poor + near:g}) vượt quá tổng số hộ "
                             f"({total:g})"))
    return errors


def missing_required(values: Mapping[str, Value], catalogue: Mapping[str, Indicator],
                     unit_kind: UnitKind) -> list[Problem]:
    return [
        Problem(field=f"values.{ind.code}", message=en_vi("is required to submit the report",
                                                           "là bắt buộc khi nộp báo cáo"))
        for ind in catalogue.values()
        if ind.required and not ind.retired and unit_kind in ind.reported_by
        and ind.code not in values
    ]


def warnings(values: Mapping[str, Value],
             history: Sequence[tuple[int, Mapping[str, Value]]], year: int
             ) -> list[ReportWarning]:
    """Findings that do not block: balance off, rate jump, far outside history.
    ``history`` holds the unit's values of earlier years, latest last."""
    found: list[ReportWarning] = []
    previous = dict(history[-1][1]) if history and history[-1][0] == year - 1 else None
    if previous is not None:
        inputs = [previous.get(POOR), values.get(ESCAPED), values.get(NEWLY_POOR),
                  values.get(FELL_BACK), values.get(POOR)]
        if all(v is not None for v in inputs):
            before, escaped, newly, fell, now = (float(v) for v in inputs)  # type: ignore[arg-type]
            expected = before - escaped + newly + fell
            if abs(expected - now) > 0.5:
                found.append(ReportWarning(
                    code="balance", field=f"values.{POOR}",
                    message=f"poor households ({now:g}) differ from last year's {before:g} "
                            f"- escaped {escaped:g} + newly poor {newly:g} + fell back {fell:g} "
                            f"= {expected:g}"))
        old_rate = rate(previous.get(POOR), previous.get(HOUSEHOLDS))
        new_rate = rate(values.get(POOR), values.get(HOUSEHOLDS))
        moved = (new_rate - old_rate) if old_rate is not None and new_rate is not None else 0.0
        if old_rate is not None and new_rate is not None and abs(moved) > RATE_JUMP_PP:
            found.append(ReportWarning(
                code="rate_jump", field=f"values.{POOR}",
                message=f"the poor-household rate moved {new_rate - old_rate:+.2f} points "
                        f"in a year (from {old_rate:.2f}% to {new_rate:.2f}%)"))
    if history:
        last = history[-1][1]
        for code in (HOUSEHOLDS, POOR, NEAR_POOR):
            new, old = values.get(code), last.get(code)
            if new is None or old is None or not old:
                continue
            if abs(new - old) > max(HISTORY_FACTOR * old, HISTORY_MIN_DIFF):
                found.append(ReportWarning(
                    code="outside_history", field=f"values.{code}",
                    message=f"{new:g} is far from the {old:g} reported for {history[-1][0]}"))
    return found


# --------------------------------------------------------------------------- sums above a unit

def aggregate(children: Iterable[Mapping[str, Value]],
              catalogue: Mapping[str, Indicator]) -> dict[str, Value]:
    """Sum the indicators the catalogue sums over children. Rates above a unit are then
    derived from these sums (a ratio of sums), never averaged."""
    return sum_values(children, {code for code, ind in catalogue.items()
                                 if ind.aggregation is Aggregation.SUM})


# --------------------------------------------------------------------------- lifecycle

class ReportStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"
    REOPENED = "reopened"


# what a Vietnamese officer reads beside each status code
FIGURES_LABELS: dict[Figures, str] = {Figures.ESTIMATED: "Sơ bộ", Figures.OFFICIAL: "Chính thức"}

STATUS_LABELS: dict[ReportStatus, str] = {
    ReportStatus.DRAFT: "Dự thảo",
    ReportStatus.SUBMITTED: "Đã nộp",
    ReportStatus.RETURNED: "Trả lại",
    ReportStatus.ACCEPTED: "Đã tiếp nhận",
    ReportStatus.REOPENED: "Mở lại",
}


EDITABLE = frozenset({ReportStatus.DRAFT, ReportStatus.RETURNED, ReportStatus.REOPENED,
                      ReportStatus.SUBMITTED})


class Action(StrEnum):
    SAVE = "save"
    SUBMIT = "submit"
    RETURN = "return"
    ACCEPT = "accept"
    REOPEN = "reopen"
    CONFIRM = "confirm"  # the figures made official (chính thức) after the poverty review


ACTIONS_VI: dict[Action, str] = {
    Action.SAVE: "lưu", Action.SUBMIT: "nộp", Action.RETURN: "trả lại",
    Action.ACCEPT: "tiếp nhận", Action.REOPEN: "mở lại",
    Action.CONFIRM: "chốt số liệu chính thức cho",
}
SAME = "same"  # an action that leaves the status as it is
TRANSITIONS: dict[Action, tuple[frozenset[ReportStatus], ReportStatus | str | None]] = {
    # a submitted report not yet reviewed may still be corrected: saving takes it back to draft
    Action.SAVE: (EDITABLE, None),
    Action.SUBMIT: (EDITABLE, ReportStatus.SUBMITTED),
    Action.RETURN: (frozenset({ReportStatus.SUBMITTED}), ReportStatus.RETURNED),
    Action.ACCEPT: (frozenset({ReportStatus.SUBMITTED}), ReportStatus.ACCEPTED),
    Action.REOPEN: (frozenset({ReportStatus.ACCEPTED}), ReportStatus.REOPENED),
    # the review's official figures replace the estimates of a submitted or accepted report,
    # which keeps its status
    Action.CONFIRM: (frozenset({ReportStatus.SUBMITTED, ReportStatus.ACCEPTED}), SAME),
}


def next_status(current: ReportStatus | None, action: Action) -> ReportStatus:
    """The status after ``action``; refuses a transition the lifecycle does not allow."""
    allowed, after = TRANSITIONS[action]
    state = current or ReportStatus.DRAFT
    if state not in allowed:
        if state is ReportStatus.ACCEPTED:
            raise StateConflict(en_vi(
                "the report is accepted and locked; the board can reopen it",
                "báo cáo đã được tiếp nhận và khóa; Ban Thi đua – Khen thưởng có thể mở lại"))
        raise StateConflict(en_vi(
            f"cannot {action.value} a report that is {state.value}",
            f"không thể {ACTIONS_VI[action]} báo cáo đang ở trạng thái "
            f"{STATUS_LABELS[state].lower()}"))
    if after is None:  # save keeps an editable status, but a submitted report becomes a draft
        return ReportStatus.DRAFT if state is ReportStatus.SUBMITTED else state
    if after == SAME:
        return state
    return ReportStatus(after)


# --------------------------------------------------------------------------- who acts

# the role that enters (save, submit) or reopens a report; a review has its own rule
# Who acts: the unit's reporters enter its report, the board reopens it; the other actions
# (return, accept, and making the figures official) are the level right above's.
ACTING_ROLE: dict[Action, Role] = {Action.SAVE: Role.REPORTER, Action.SUBMIT: Role.REPORTER,
                                   Action.REOPEN: Role.BOARD}


def check_reviewer(roles: Set[Role], reviewer_unit: uuid.UUID | None,
                   parent_id: uuid.UUID | None) -> None:
    """Reports are accepted or returned by the level right above the unit: ``parent_id`` is
    its parent as the hierarchy stands on the day of the review (a former parent has lost
    that authority, the current one holds it)."""
    if Role.ADMIN in roles:
        return
    if not roles & {Role.REVIEWER, Role.BOARD}:
        raise NotAllowed(en_vi("reviewing a report needs the reviewer or board role",
                               "xét báo cáo cần vai trò người xét duyệt hoặc Ban Thi đua – "
                               "Khen thưởng"))
    if reviewer_unit is None or reviewer_unit != parent_id:
        raise NotAllowed(en_vi("a report is reviewed by the level right above its unit",
                               "báo cáo do cấp ngay trên đơn vị xét"))


# Separation of duties: what the person who submitted a report may not do to it.
REVIEWS_OF_A_SUBMISSION: dict[Action, tuple[str, str]] = {
    Action.ACCEPT: ("accept it", "tiếp nhận chính báo cáo đó"),
    Action.CONFIRM: ("make its figures official", "chốt số liệu chính thức cho chính báo cáo đó"),
}


def check_separation(action: Action, actor: str, submitter: str | None) -> None:
    """Four eyes: the person who submitted a report (its latest submission) neither accepts
    it nor makes its figures official, whatever their roles (an administrator included)."""
    if action not in REVIEWS_OF_A_SUBMISSION or submitter is None or submitter != actor:
        return
    en, vi = REVIEWS_OF_A_SUBMISSION[action]
    raise NotAllowed(en_vi(
        f"the person who submitted this report may not {en}: another official must",
        f"người đã nộp báo cáo không được {vi}: việc này phải do một cán bộ khác thực hiện"))


def check_confirmable(figures: Figures) -> None:
    """Estimates become official once; official figures are corrected by reopening the
    report (its next submission is an estimate again, to be made official anew)."""
    if figures is Figures.OFFICIAL:
        raise StateConflict(en_vi(
            "the figures are official already; reopen the report to correct them",
            "số liệu đã là số liệu chính thức; hãy mở lại báo cáo để sửa"))


def check_backfill(roles: Set[Role], action: Action, submitted_at: datetime, year: int,
                   now: datetime) -> None:
    """A historical submission time is only recorded by an administrator back-filling records
    kept before the system existed, within an open data migration (checked by the use case);
    the version note and the audit row say so."""
    if Role.ADMIN not in roles:
        raise NotAllowed(en_vi("only an administrator may record a historical submission time",
                               "chỉ quản trị viên mới được ghi thời điểm nộp trong quá khứ"))
    if action is not Action.SUBMIT:
        raise RuleBroken("submitted_at", en_vi("is only recorded with a submission",
                                              "chỉ được ghi khi nộp báo cáo"))
    if submitted_at.tzinfo is None or submitted_at > now:
        raise RuleBroken("submitted_at", en_vi("must be a past instant with a time zone",
                                              "phải là một thời điểm đã qua, có múi giờ"))
    problem = check_submitted_at(submitted_at, year, now)
    if problem:
        raise RuleBroken("submitted_at", problem)
