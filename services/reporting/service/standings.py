"""The emulation's standings: rankings of the units of a level, exemplary units, and a unit's
trend over the campaign's years with the period view."""

from __future__ import annotations

import uuid
from datetime import date

from chungtay_common import hierarchy
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.db import Conn
from chungtay_common.errors import NotFound
from chungtay_common.hierarchy import UnitOnDate
from chungtay_common.messages import en_vi
from chungtay_common.poverty import Derived, derive
from services.reporting import domain, repository
from services.reporting.schemas import (
    AwardedUnit,
    Exemplary,
    PeriodOut,
    RankingBy,
    RankingPage,
    RankingRow,
    Trend,
    TrendPoint,
)
from services.reporting.service.summaries import (
    GRANTED,
    Year,
    campaign_ref,
    sums_of,
    target_of,
    unit_ref,
    year_of,
)

BEST = 5  # exemplary: the best reducers shown


async def _units(conn: Conn, year: int, root: uuid.UUID | None, level: UnitKind
                 ) -> list[UnitOnDate]:
    """The units of ``level`` under ``root`` as the hierarchy stood in the year."""
    if root is None:  # the level's units only: the communes of the country are thousands
        return await repository.active_of_kind(conn, date(year, 12, 31), level.value)
    day = await hierarchy.last_day_active(conn, root, date(year, 1, 1), date(year, 12, 31))
    if day is None:
        raise NotFound(en_vi(f"unit {root} does not exist in {year}",
                             f"đơn vị {root} không tồn tại trong năm {year}"))
    return [u for u in await hierarchy.subtree(conn, root, day) if u.kind is level]


async def _figures(conn: Conn, y: Year, units: list[UnitOnDate]) -> list[Derived]:
    """Each unit's derived figures: a commune's from its own reports, a district's or a
    province's from its rollup."""
    campaign_id = y.campaign["campaign_id"]
    ids = [u.unit_id for u in units]
    targets = await repository.targets(conn, campaign_id, y.year, ids)
    if units and units[0].kind in domain.ROLLUP_KINDS:
        rows = {r["unit_id"]: r for r in await repository.rollups(conn, campaign_id, y.year,
                                                                   ids)}
        return [domain.figures(sums_of(rows[u]), target_of(targets.get(u)), y.national_average)
                if u in rows else Derived() for u in ids]
    now = await repository.facts_of(conn, campaign_id, y.year, ids)
    before = await repository.facts_of(conn, campaign_id, y.year - 1, ids)
    return [derive(now[u]["values"], before[u]["values"] if u in before else None,
                   target_of(targets.get(u)), y.national_average)
            if u in now else Derived() for u in ids]


async def _ranked(conn: Conn, y: Year, root: uuid.UUID | None, level: UnitKind,
                  by: RankingBy) -> list[RankingRow]:
    units = await _units(conn, y.year, root, level)
    figures = await _figures(conn, y, units)
    scores = [d.reduction_pp if by is RankingBy.REDUCTION else d.target_attainment_pct
              for d in figures]
    rows = [RankingRow(rank=rank, unit=unit_ref(u), parent_id=u.parent_id,
                       poor_rate_pct=d.poor_rate_pct, reduction_pp=d.reduction_pp,
                       target_attainment_pct=d.target_attainment_pct, target_met=d.target_met)
            for u, d, rank in zip(units, figures, domain.competition_ranks(scores),
                                  strict=True)]
    return sorted(rows, key=lambda r: (r.rank is None, r.rank or 0, r.unit.code or "",
                                       r.unit.name))


async def rankings(conn: Conn, campaign_id: uuid.UUID, year: int, level: UnitKind,
                   by: RankingBy, root: uuid.UUID | None, limit: int, offset: int
                   ) -> RankingPage:
    """The units of a level ranked by their reduction in points or their target attainment,
    highest first; ties share a rank; units without the figure come last, unranked."""
    rows = await _ranked(conn, await year_of(conn, campaign_id, year), root, level, by)
    return RankingPage(campaign_id=campaign_id, year=year, level=level, by=by,
                       total=len(rows), limit=limit, offset=offset,
                       items=rows[offset:offset + limit])


async def exemplary(conn: Conn, campaign_id: uuid.UUID, year: int, root: uuid.UUID | None
                    ) -> Exemplary:
    """The best reducers among the communes, and the units granted an award in the year."""
    y = await year_of(conn, campaign_id, year)
    best = [r for r in await _ranked(conn, y, root, domain.SUMMED_KIND, RankingBy.REDUCTION)
            if r.rank is not None and r.rank <= BEST]
    units = {u.unit_id: u for u in (await _all_units(conn, year, root))}
    awarded = [AwardedUnit(unit=unit_ref(units[n["nominee_unit_id"]]), form_code=n["form_code"],
                           authority_level=n["authority_level"])
               for n in await repository.nominations_of(conn, year, list(units))
               if n["status"] == GRANTED and n["nominee_kind"] == "unit"]
    return Exemplary(campaign_id=campaign_id, year=year, best_reducers=best,
                     awarded_units=sorted(awarded, key=lambda a: (a.form_code,
                                                                   a.unit.code or "")))


async def _all_units(conn: Conn, year: int, root: uuid.UUID | None) -> list[UnitOnDate]:
    if root is None:
        return await hierarchy.active_on(conn, date(year, 12, 31))
    day = await hierarchy.last_day_active(conn, root, date(year, 1, 1), date(year, 12, 31))
    return await hierarchy.subtree(conn, root, day) if day else []


async def trend(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID) -> Trend:
    """A unit's figures in each year of the campaign, and the period view."""
    campaign = await repository.campaign(conn, campaign_id)
    if campaign is None:
        raise NotFound(en_vi(f"campaign {campaign_id} is not known to the reporting service",
                             f"không có phong trào {campaign_id} trong số liệu tổng hợp"))
    first, last = campaign["first_year"], campaign["last_year"]
    day = await hierarchy.last_day_active(conn, unit_id, date(first, 1, 1), date(last, 12, 31))
    unit = await hierarchy.unit_on(conn, unit_id, day) if day else None
    if unit is None:
        raise NotFound(en_vi(f"unit {unit_id} does not exist during the campaign",
                             f"đơn vị {unit_id} không tồn tại trong thời gian của phong trào"))
    points: list[TrendPoint] = []
    yearly: dict[int, Derived] = {}
    for year in range(first, last + 1):
        y = await year_of(conn, campaign_id, year)
        d = (await _figures(conn, y, [unit]))[0]
        own = (await repository.facts_of(conn, campaign_id, year, [unit_id])).get(unit_id)
        rollup = await repository.rollup(conn, campaign_id, year, unit_id)
        values = rollup["sums"] if rollup else (own["values"] if own else {})
        yearly[year] = d
        points.append(TrendPoint(
            year=year, values=values, poor_rate_pct=d.poor_rate_pct,
            near_poor_rate_pct=d.near_poor_rate_pct, reduction_pp=d.reduction_pp,
            target_attainment_pct=d.target_attainment_pct, target_met=d.target_met,
            national_average_pct=y.national_average,
            report_state=own["state"] if own and rollup is None else None))
    p = domain.period(yearly)
    return Trend(campaign=campaign_ref(campaign), unit=unit_ref(unit), points=points,
                 period=PeriodOut(
                     first_year=first, last_year=last,
                     yearly_reduction_pp=p.yearly_reduction_pp,
                     average_reduction_pp=p.average_reduction_pp,
                     plan_reduction_pp=domain.PLAN_REDUCTION_PP, meets_plan=p.meets_plan,
                     last_rate_year=p.last_year, last_rate_pct=p.last_rate_pct,
                     national_average_pct=p.national_average_pct,
                     at_or_below_national_average=p.at_or_below_national_average))
