"""Pure rules of the indicators service: catalogue, validation, derived values, aggregation,
deadlines and the report lifecycle. No I/O here."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

from chungtay_common.contracts.indicators import Aggregation, ReportWarning, Value, ValueType
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.errors import FieldError

VN = ZoneInfo("Asia/Ho_Chi_Minh")

# Entered indicators (codes are stable identifiers; names are in the catalogue).
HOUSEHOLDS = "households_total"
POOR = "poor_households"
NEAR_POOR = "near_poor_households"
ESCAPED = "escaped_poverty"
NEWLY_POOR = "newly_poor"
FELL_BACK = "fell_back_into_poverty"
# Derived indicators: computed, never entered.
POOR_RATE = "poor_rate_pct"
NEAR_POOR_RATE = "near_poor_rate_pct"
REDUCTION = "reduction_pp"
ATTAINMENT = "target_attainment_pct"
DERIVED = (POOR_RATE, NEAR_POOR_RATE, REDUCTION, ATTAINMENT)

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
    Indicator(HOUSEHOLDS, "Tổng số hộ", "Total households", "households", required=True),
    Indicator(POOR, "Số hộ nghèo", "Poor households", "households", required=True),
    Indicator(NEAR_POOR, "Số hộ cận nghèo", "Near-poor households", "households", required=True),
    Indicator(ESCAPED, "Số hộ thoát nghèo trong năm", "Households that escaped poverty",
              "households", required=True),
    Indicator(NEWLY_POOR, "Số hộ nghèo phát sinh", "Newly poor households", "households",
              required=True),
    Indicator(FELL_BACK, "Số hộ tái nghèo", "Households that fell back into poverty",
              "households", required=True),
    Indicator("resources_state_budget_vnd", "Nguồn lực huy động: ngân sách nhà nước",
              "Resources mobilised: state budget", "VND",
              reported_by=tuple(REPORTING_KINDS)),
    Indicator("resources_preferential_credit_vnd", "Nguồn lực huy động: tín dụng ưu đãi",
              "Resources mobilised: preferential credit", "VND",
              reported_by=tuple(REPORTING_KINDS)),
    Indicator("resources_social_contributions_vnd", "Nguồn lực huy động: xã hội hóa",
              "Resources mobilised: social contributions", "VND",
              reported_by=tuple(REPORTING_KINDS)),
    Indicator("houses_built_or_repaired", "Nhà ở xây mới, sửa chữa cho hộ nghèo",
              "Houses built or repaired for poor households", "count",
              reported_by=tuple(REPORTING_KINDS)),
    Indicator("livelihood_models", "Mô hình sinh kế", "Livelihood models", "count",
              reported_by=tuple(REPORTING_KINDS)),
    Indicator("initiatives", "Sáng kiến, cách làm hay", "Initiatives", "count",
              reported_by=tuple(REPORTING_KINDS)),
    Indicator("people_trained_or_employed", "Số người được đào tạo nghề, giải quyết việc làm",
              "People trained or given jobs", "people", reported_by=tuple(REPORTING_KINDS)),
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


def is_on_time(submitted_at: datetime, due: datetime) -> bool:
    return submitted_at < due


def check_submitted_at(submitted_at: datetime, year: int, now: datetime | None = None
                       ) -> str | None:
    """A back-filled submission of ``year``'s report is an instant from the start of the year
    before (a generous bound) up to now; a message when it is not."""
    earliest = datetime.combine(date(year - 1, 1, 1), time(0, 0), tzinfo=VN)
    latest = now or datetime.now(VN)
    if not earliest <= submitted_at <= latest:
        return (f"must be between {earliest.date().isoformat()} and now for a report of "
                f"{year}")
    return None


# --------------------------------------------------------------------------- validation

def check_values(values: Mapping[str, Value], catalogue: Mapping[str, Indicator],
                 unit_kind: UnitKind) -> list[FieldError]:
    """Errors that refuse a report's values, each naming its field (``values.<code>``)."""
    errors: list[FieldError] = []

    def err(code: str, message: str) -> None:
        errors.append(FieldError(field=f"values.{code}", message=message))

    for code, value in values.items():
        ind = catalogue.get(code)
        if ind is None:
            err(code, "unknown indicator")
            continue
        if ind.derived:
            err(code, "is computed from other indicators and cannot be entered")
            continue
        if ind.retired:
            err(code, "is retired")
            continue
        if unit_kind not in ind.reported_by:
            err(code, f"is not reported by a {unit_kind}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            err(code, "must be a number")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            err(code, "must be a finite number")
            continue
        if abs(value) > VALUE_BOUND:
            err(code, f"must be between -{VALUE_BOUND:,} and {VALUE_BOUND:,}")
            continue
        if ind.value_type is ValueType.INTEGER and not float(value).is_integer():
            err(code, "must be a whole number")
            continue
        if ind.min_value is not None and value < ind.min_value:
            err(code, "must not be negative" if ind.min_value == 0
                else f"must be at least {ind.min_value}")
            continue
        if ind.max_value is not None and value > ind.max_value:
            err(code, f"must be at most {ind.max_value}")
    if errors:
        return errors
    total, poor, near = values.get(HOUSEHOLDS), values.get(POOR), values.get(NEAR_POOR)
    if total is not None and poor is not None and poor > total:
        err(POOR, f"poor households ({poor:g}) exceed total households ({total:g})")
    if total is not None and poor is not None and near is not None and poor + near > total:
        err(NEAR_POOR, f"poor + near-poor households ({poor + near:g}) exceed total "
                       f"households ({total:g})")
    return errors


def missing_required(values: Mapping[str, Value], catalogue: Mapping[str, Indicator],
                     unit_kind: UnitKind) -> list[FieldError]:
    return [
        FieldError(field=f"values.{ind.code}", message="is required to submit the report")
        for ind in catalogue.values()
        if ind.required and not ind.retired and unit_kind in ind.reported_by
        and ind.code not in values
    ]


def rate(part: Value | None, total: Value | None) -> float | None:
    if part is None or not total:
        return None
    return float(part) / float(total) * 100.0


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


# --------------------------------------------------------------------------- derived values

@dataclass(frozen=True)
class Target:
    reduction_pp_min: float | None
    reduction_pp_max: float | None = None
    households_out_min: int | None = None
    households_out_max: int | None = None
    at_most_national_average: bool = False


@dataclass
class Derived:
    poor_rate_pct: float | None = None
    near_poor_rate_pct: float | None = None
    reduction_pp: float | None = None
    target_attainment_pct: float | None = None
    target_met: bool | None = None
    national_average_pct: float | None = None
    at_or_below_national_average: bool | None = None

    def as_values(self) -> dict[str, float | None]:
        return {POOR_RATE: self.poor_rate_pct, NEAR_POOR_RATE: self.near_poor_rate_pct,
                REDUCTION: self.reduction_pp, ATTAINMENT: self.target_attainment_pct}


def derive(values: Mapping[str, Value], previous: Mapping[str, Value] | None,
           target: Target | None, national_average: float | None = None,
           current_for_reduction: Mapping[str, Value] | None = None) -> Derived:
    """Rates, reduction in points and target attainment. Rounding is left to presentation;
    attainment compares the unrounded reduction with the target. A target that also asks the
    rate to be at or below the national average is met only when both hold.

    The reduction compares ``previous`` with ``current_for_reduction`` when given (an
    aggregate: this year's sums over the units that reported in both years), else with
    ``values``. A minimum reduction of 0 is met by any reduction of 0 or more; attainment in
    percent is only given for a minimum above 0."""
    d = Derived(poor_rate_pct=rate(values.get(POOR), values.get(HOUSEHOLDS)),
                near_poor_rate_pct=rate(values.get(NEAR_POOR), values.get(HOUSEHOLDS)))
    now = values if current_for_reduction is None else current_for_reduction
    if previous is not None:
        before = rate(previous.get(POOR), previous.get(HOUSEHOLDS))
        after = rate(now.get(POOR), now.get(HOUSEHOLDS))
        if before is not None and after is not None:
            d.reduction_pp = before - after
    needed = target.reduction_pp_min if target is not None else None
    if needed is not None and d.reduction_pp is not None:
        if needed > 0:
            d.target_attainment_pct = d.reduction_pp / needed * 100.0
        # compared at the precision targets are set with (hundredths of a point)
        d.target_met = round(d.reduction_pp, 2) >= round(needed, 2)
    if national_average is not None and d.poor_rate_pct is not None:
        d.national_average_pct = national_average
        d.at_or_below_national_average = round(d.poor_rate_pct, 2) <= round(national_average, 2)
    if target is not None and target.at_most_national_average and d.target_met is not False:
        # unknown until the national average of the year is entered
        d.target_met = d.at_or_below_national_average
    return d


def aggregate(children: Iterable[Mapping[str, Value]],
              catalogue: Mapping[str, Indicator]) -> dict[str, Value]:
    """Sum the summable indicators over children. Rates above a unit are then derived from
    these sums (a ratio of sums), never averaged."""
    out: dict[str, Value] = {}
    for values in children:
        for code, value in values.items():
            ind = catalogue.get(code)
            if ind is not None and ind.aggregation is Aggregation.SUM:
                out[code] = out.get(code, 0) + value
    return out


# --------------------------------------------------------------------------- lifecycle

class ReportStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"
    REOPENED = "reopened"


EDITABLE = frozenset({ReportStatus.DRAFT, ReportStatus.RETURNED, ReportStatus.REOPENED,
                      ReportStatus.SUBMITTED})


class Action(StrEnum):
    SAVE = "save"
    SUBMIT = "submit"
    RETURN = "return"
    ACCEPT = "accept"
    REOPEN = "reopen"


TRANSITIONS: dict[Action, tuple[frozenset[ReportStatus], ReportStatus | None]] = {
    # a submitted report not yet reviewed may still be corrected: saving takes it back to draft
    Action.SAVE: (EDITABLE, None),
    Action.SUBMIT: (EDITABLE, ReportStatus.SUBMITTED),
    Action.RETURN: (frozenset({ReportStatus.SUBMITTED}), ReportStatus.RETURNED),
    Action.ACCEPT: (frozenset({ReportStatus.SUBMITTED}), ReportStatus.ACCEPTED),
    Action.REOPEN: (frozenset({ReportStatus.ACCEPTED}), ReportStatus.REOPENED),
}


def next_status(current: ReportStatus | None, action: Action) -> ReportStatus | str:
    """The status after ``action``, or a message saying why it is refused."""
    allowed, after = TRANSITIONS[action]
    state = current or ReportStatus.DRAFT
    if state not in allowed:
        if state is ReportStatus.ACCEPTED:
            return "the report is accepted and locked; the board can reopen it"
        return f"cannot {action.value} a report that is {state.value}"
    if after is None:  # save keeps an editable status, but a submitted report becomes a draft
        return ReportStatus.DRAFT if state is ReportStatus.SUBMITTED else state
    return after
