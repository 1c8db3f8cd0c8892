"""Pure rules of the reporting service: the shape of the tree, what a rollup holds, derived
figures, punctuality, rankings, the period view, restating onto today's units. No I/O here."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from chungtay_common.clock import VN
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.hierarchy import UnitOnDate
from chungtay_common.poverty import RESOURCES, Derived, Target, Value, derive, sum_values
from services.reporting.schemas import Punctuality, TreeNode


def build_tree(units: Sequence[UnitOnDate]) -> list[TreeNode]:
    """Nest the units active on a day; a unit whose parent is not active that day is a root."""
    by_id = {u.unit_id: u for u in units}
    children: dict[uuid.UUID | None, list[UnitOnDate]] = defaultdict(list)
    for u in units:
        parent = u.parent_id if u.parent_id in by_id else None
        children[parent].append(u)

    def node(u: UnitOnDate, path: frozenset[uuid.UUID]) -> TreeNode:
        kids = [node(c, path | {c.unit_id}) for c in children[u.unit_id] if c.unit_id not in path]
        below: Counter[UnitKind] = Counter()
        for k in kids:
            below[k.kind] += 1
            below.update(k.below)
        return TreeNode(unit_id=u.unit_id, kind=u.kind, code=u.code, name=u.name,
                        subkind=u.subkind, below=dict(below), children=kids)

    return [node(u, frozenset({u.unit_id})) for u in children[None]]


def totals(units: Sequence[UnitOnDate]) -> dict[UnitKind, int]:
    return dict(Counter(u.kind for u in units))


# --------------------------------------------------------------------------- summaries

ROLLUP_KINDS = (UnitKind.DISTRICT, UnitKind.PROVINCE)  # the levels summaries are kept for
SUMMED_KIND = UnitKind.COMMUNE  # the level whose reports are summed
PLAN_REDUCTION_PP = (2.0, 2.5)  # the plan: 2–2.5 points a year on average
ONE_DAY = timedelta(days=1)


def eve_of(due: datetime) -> date:
    """Who has to report is who exists on the day before the due date (in Vietnam)."""
    return due.astimezone(VN).date() - ONE_DAY


def punctuality(first_submitted_at: datetime | None, due: datetime, now: datetime
                ) -> Punctuality:
    """A report's punctuality is that of its first submission (strictly before the due
    instant is on time)."""
    if first_submitted_at is not None:
        return Punctuality.ON_TIME if first_submitted_at < due else Punctuality.LATE
    return Punctuality.MISSING if now >= due else Punctuality.NOT_YET_DUE


@dataclass(frozen=True)
class Sums:
    """What a rollup holds: sums over the year's reports, and the like-for-like sums of the
    units that reported in both years (for the reduction)."""

    reports: int
    sums: dict[str, Value]
    both_reports: int
    both_now: dict[str, Value]
    both_before: dict[str, Value]


def sums(now: Mapping[uuid.UUID, Mapping[str, Value]],
         before: Mapping[uuid.UUID, Mapping[str, Value]], summable: Collection[str]) -> Sums:
    both = sorted(set(now) & set(before))
    return Sums(reports=len(now), sums=sum_values(now.values(), summable),
                both_reports=len(both),
                both_now=sum_values((now[u] for u in both), summable),
                both_before=sum_values((before[u] for u in both), summable))


def figures(s: Sums, target: Target | None, national_average: float | None) -> Derived:
    """Rates of the sums (ratios of sums), the like-for-like reduction, attainment."""
    return derive(s.sums, s.both_before if s.both_reports else None, target, national_average,
                  current_for_reduction=s.both_now)


def figures_of(reports: int, official: int) -> str | None:
    """Whether summed figures are official: all of them, none (estimates), or mixed."""
    if reports == 0:
        return None
    if official == reports:
        return "official"
    return "estimated" if official == 0 else "mixed"


def differences(own: Mapping[str, Value], summed: Mapping[str, Value],
                summable: Collection[str]) -> dict[str, Value]:
    """Where a unit's own report differs from the sum of its communes (codes in either)."""
    out: dict[str, Value] = {}
    for code in sorted(set(own) | set(summed)):
        if code not in summable or code not in own:
            continue
        gap = own[code] - summed.get(code, 0)
        if abs(gap) > 1e-9:
            out[code] = gap
    return out


def resources(values: Mapping[str, Value]) -> dict[str, Value]:
    state, credit, social = (values.get(code, 0) for code in RESOURCES)
    return {"state_budget": state, "preferential_credit": credit,
            "social_contributions": social, "total": state + credit + social}


def competition_ranks(scores: Sequence[float | None]) -> list[int | None]:
    """Ranks of scores, highest first, ties sharing a rank ("1224"); no score, no rank."""
    ordered = sorted((s for s in scores if s is not None), reverse=True)
    first: dict[float, int] = {}
    for i, s in enumerate(ordered):
        first.setdefault(s, i + 1)
    return [first[s] if s is not None else None for s in scores]


@dataclass(frozen=True)
class Period:
    yearly_reduction_pp: dict[int, float]
    average_reduction_pp: float | None
    meets_plan: bool | None
    last_year: int | None
    last_rate_pct: float | None
    national_average_pct: float | None
    at_or_below_national_average: bool | None


def period(yearly: Mapping[int, Derived]) -> Period:
    """The campaign's period: the average of the yearly reductions against the plan's 2–2.5
    points, and the last year's rate against the national average."""
    reductions = {y: d.reduction_pp for y, d in sorted(yearly.items())
                  if d.reduction_pp is not None}
    average = sum(reductions.values()) / len(reductions) if reductions else None
    with_rate = [y for y, d in sorted(yearly.items()) if d.poor_rate_pct is not None]
    last = with_rate[-1] if with_rate else None
    d = yearly[last] if last is not None else Derived()
    return Period(
        yearly_reduction_pp=reductions, average_reduction_pp=average,
        meets_plan=None if average is None else round(average, 2) >= PLAN_REDUCTION_PP[0],
        last_year=last, last_rate_pct=d.poor_rate_pct,
        national_average_pct=d.national_average_pct,
        at_or_below_national_average=d.at_or_below_national_average)


def current_unit(unit_id: uuid.UUID, active_today: Collection[uuid.UUID],
                 merged_into: Mapping[uuid.UUID, uuid.UUID]) -> uuid.UUID | None:
    """Where a unit's figures belong today: itself while it exists, else the successor its
    merges lead to; None when its area went elsewhere (a split) and cannot be restated."""
    seen = {unit_id}
    while unit_id not in active_today:
        nxt = merged_into.get(unit_id)
        if nxt is None or nxt in seen:
            return None
        seen.add(nxt)
        unit_id = nxt
    return unit_id
