"""The movement's formulas, pure, in one place for every service that computes figures:
indicator codes, rates, the reduction in points, target attainment, sums above a unit.

A rate above a unit is a ratio of sums of its children, never an average of their rates."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

Value = int | float

# Entered indicators (codes are stable identifiers; names are in the catalogue).
HOUSEHOLDS = "households_total"
POOR = "poor_households"
NEAR_POOR = "near_poor_households"
ESCAPED = "escaped_poverty"
NEWLY_POOR = "newly_poor"
FELL_BACK = "fell_back_into_poverty"
RESOURCES_STATE_BUDGET = "resources_state_budget_vnd"
RESOURCES_CREDIT = "resources_preferential_credit_vnd"
RESOURCES_SOCIAL = "resources_social_contributions_vnd"
RESOURCES = (RESOURCES_STATE_BUDGET, RESOURCES_CREDIT, RESOURCES_SOCIAL)
# Derived indicators: computed, never entered.
POOR_RATE = "poor_rate_pct"
NEAR_POOR_RATE = "near_poor_rate_pct"
REDUCTION = "reduction_pp"
ATTAINMENT = "target_attainment_pct"
DERIVED = (POOR_RATE, NEAR_POOR_RATE, REDUCTION, ATTAINMENT)


def rate(part: Value | None, total: Value | None) -> float | None:
    if part is None or not total:
        return None
    return float(part) / float(total) * 100.0


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
    if national_average is not None and d.poor_rate_pct is not None:
        d.national_average_pct = national_average
        d.at_or_below_national_average = round(d.poor_rate_pct, 2) <= round(national_average, 2)
    if target is None:
        return d
    parts: list[bool | None] = []  # each part of the target: met, not met, or not known
    needed = target.reduction_pp_min
    if needed is not None:
        if d.reduction_pp is not None and needed > 0:
            d.target_attainment_pct = d.reduction_pp / needed * 100.0
        # compared at the precision targets are set with (hundredths of a point)
        parts.append(None if d.reduction_pp is None
                     else round(d.reduction_pp, 2) >= round(needed, 2))
    if target.at_most_national_average:
        parts.append(d.at_or_below_national_average)  # unknown until the average is entered
    d.target_met = all_of(parts)
    return d


def all_of(parts: list[bool | None]) -> bool | None:
    """Whether every part holds: no when one does not, not known when one is not known (or
    there is none), yes otherwise."""
    if False in parts:
        return False
    if not parts or None in parts:
        return None
    return True


def sum_values(children: Iterable[Mapping[str, Value]], summable: Collection[str]
               ) -> dict[str, Value]:
    """Sum the summable indicators over children. Rates above a unit are then derived from
    these sums (a ratio of sums), never averaged."""
    out: dict[str, Value] = {}
    for values in children:
        for code, value in values.items():
            if code in summable:
                out[code] = out.get(code, 0) + value
    return out
