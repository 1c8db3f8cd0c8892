"""Reading the summaries: provincial (per district and the province), central, compliance,
rankings, exemplary units, trends and the period view, freshness. Derived figures (rates,
reduction, attainment, the national average) are computed here from the stored sums, so a new
target or national average shows at once."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from chungtay_common import clock, hierarchy
from chungtay_common.contracts import feed as fd
from chungtay_common.contracts.awards import AuthorityLevel
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.db import Conn
from chungtay_common.errors import NotFound
from chungtay_common.hierarchy import UnitOnDate
from chungtay_common.messages import en_vi
from chungtay_common.poverty import Derived, Target, Value, derive
from chungtay_common.refusals import RuleBroken
from services.reporting import domain, repository
from services.reporting.repository import exemplary
from services.reporting.schemas import (
    AwardCount,
    CampaignRefOut,
    ComplianceOut,
    CompliancePage,
    ComplianceRow,
    HierarchyMode,
    OwnReport,
    ProvincialSummary,
    Punctuality,
    SummaryLine,
    TargetOut,
    UnitRef,
    UnitTree,
)

GRANTED = "approved"


async def unit_tree(conn: Conn, as_of: date) -> UnitTree:
    units = await hierarchy.active_on(conn, as_of)
    return UnitTree(as_of=as_of, totals=domain.totals(units), roots=domain.build_tree(units))


# --------------------------------------------------------------------------- shared pieces


async def known_campaign(conn: Conn, campaign_id: uuid.UUID, year: int | None = None
                         ) -> asyncpg.Record:
    campaign = await repository.campaign(conn, campaign_id)
    if campaign is None:
        raise NotFound(en_vi(f"campaign {campaign_id} is not known to the reporting service",
                             f"không có phong trào {campaign_id} trong số liệu tổng hợp"))
    if year is not None and not campaign["first_year"] <= year <= campaign["last_year"]:
        raise RuleBroken("year", en_vi(
            f"the campaign runs from {campaign['first_year']} to {campaign['last_year']}",
            f"phong trào diễn ra từ năm {campaign['first_year']} đến năm "
            f"{campaign['last_year']}"))
    return campaign


async def campaigns(conn: Conn) -> list[CampaignRefOut]:
    return [campaign_ref(c) for c in await repository.campaigns(conn)]


def campaign_ref(c: asyncpg.Record) -> CampaignRefOut:
    return CampaignRefOut(campaign_id=c["campaign_id"], code=c["code"], name=c["name"],
                          first_year=c["first_year"], last_year=c["last_year"])


def unit_ref(u: UnitOnDate) -> UnitRef:
    return UnitRef(unit_id=u.unit_id, kind=u.kind, code=u.code, name=u.name)


def target_of(row: asyncpg.Record | None) -> Target | None:
    if row is None:
        return None
    return Target(reduction_pp_min=row["reduction_pp_min"],
                  reduction_pp_max=row["reduction_pp_max"],
                  households_out_min=row["households_out_min"],
                  households_out_max=row["households_out_max"],
                  at_most_national_average=row["at_most_national_average"])


def target_out(t: Target | None, d: Derived) -> TargetOut | None:
    if t is None:
        return None
    return TargetOut(reduction_pp_min=t.reduction_pp_min, reduction_pp_max=t.reduction_pp_max,
                     households_out_min=t.households_out_min,
                     households_out_max=t.households_out_max,
                     at_most_national_average=t.at_most_national_average,
                     attainment_pct=d.target_attainment_pct, met=d.target_met)


def sums_of(row: asyncpg.Record) -> domain.Sums:
    return domain.Sums(reports=row["reports"], sums=row["sums"],
                       both_reports=row["both_reports"], both_now=row["both_now"],
                       both_before=row["both_before"])


def compliance_of(row: asyncpg.Record, now: datetime) -> ComplianceOut:
    unreported = row["expected"] - row["on_time"] - row["late"]
    due = row["due_at"] <= now
    return ComplianceOut(due_at=row["due_at"], expected=row["expected"],
                         on_time=row["on_time"], late=row["late"],
                         missing=unreported if due else 0,
                         not_yet_due=0 if due else unreported, accepted=row["accepted"])


def award_counts(nominations: Sequence[asyncpg.Record]) -> tuple[dict[str, int],
                                                                 list[AwardCount]]:
    by_status = Counter(n["status"] for n in nominations)
    granted = Counter((n["form_code"], n["authority_level"]) for n in nominations
                      if n["status"] == GRANTED and n["authority_level"] is not None)
    return dict(sorted(by_status.items())), [
        AwardCount(form_code=form, authority_level=AuthorityLevel(level), awards=count)
        for (form, level), count in sorted(granted.items())]


# --------------------------------------------------------------------------- provincial


@dataclass(frozen=True)
class Year:
    campaign: asyncpg.Record
    year: int
    summable: frozenset[str]
    national_average: float | None
    now: datetime


async def year_of(conn: Conn, campaign_id: uuid.UUID, year: int) -> Year:
    campaign = await known_campaign(conn, campaign_id, year)
    averages = await repository.national_averages(conn)
    return Year(campaign, year, await repository.summable(conn), averages.get(year),
                clock.now())


def _no_province(province_id: uuid.UUID | None, year: int) -> NotFound:
    which = f"province {province_id}" if province_id else "any province"
    tinh = f"tỉnh {province_id}" if province_id else "tỉnh nào"
    return NotFound(en_vi(f"no figures of {year} in this campaign for {which}",
                          f"phong trào không có số liệu năm {year} của {tinh}"))


async def province_of(conn: Conn, campaign_id: uuid.UUID, year: int,
                      province_id: uuid.UUID | None) -> asyncpg.Record:
    """The province's rollup; without ``province_id``, the campaign's only province."""
    rows = await repository.rollups_of_kind(conn, campaign_id, year, UnitKind.PROVINCE.value,
                                            province_id)
    if not rows:
        raise _no_province(province_id, year)
    if len(rows) != 1:
        raise RuleBroken("province_id", en_vi(
            f"the campaign has {len(rows)} provinces in {year}: name one",
            f"năm {year} phong trào có {len(rows)} tỉnh: hãy chọn một"))
    return rows[0]


async def line(conn: Conn, y: Year, row: asyncpg.Record) -> SummaryLine:
    """One summary line from a rollup row (as the hierarchy stood in the year)."""
    return (await lines(conn, y, [row]))[0]


async def lines(conn: Conn, y: Year, rows: Sequence[asyncpg.Record]) -> list[SummaryLine]:
    """A summary line of each rollup row, with a few statements for all of them."""
    campaign_id = y.campaign["campaign_id"]
    days = {r["unit_id"]: r["hierarchy_day"] for r in rows}
    ids = list(days)
    units = await repository.units_on(conn, days)
    targets = await repository.targets(conn, campaign_id, y.year, ids)
    own = await repository.facts_of(conn, campaign_id, y.year, ids)
    members = await repository.subtree_members(conn, days)
    nominations = await repository.nominations_of(
        conn, y.year, sorted({m for ms in members.values() for m in ms}))
    models, replications = await exemplary.of_year(conn, y.year)
    out = []
    for row in rows:
        unit_id = row["unit_id"]
        # a rollup exists only for a unit active in its year
        mine = set(members[unit_id])
        target = target_of(targets.get(unit_id))
        s = sums_of(row)
        out.append(_line(
            units[unit_id], days[unit_id], s, row["official"],
            domain.figures(s, target, y.national_average), target, compliance_of(row, y.now),
            _own(own.get(unit_id), s.sums, y.summable),
            [n for n in nominations if n["nominee_unit_id"] in mine],
            (sum(1 for m in models if m["unit_id"] in mine),
             sum(1 for m in models if m["unit_id"] in mine and m["recognised"]),
             sum(1 for r in replications if r["unit_id"] in mine))))
    return out


def _line(unit: UnitOnDate, day: date | None, s: domain.Sums, official: int, d: Derived,
          target: Target | None, compliance: ComplianceOut | None, own: OwnReport | None,
          nominations: Sequence[asyncpg.Record],
          exemplary_counts: tuple[int, int, int] = (0, 0, 0)) -> SummaryLine:
    by_status, granted = award_counts(nominations)
    models, recognised, replications = exemplary_counts
    return SummaryLine(
        unit=unit_ref(unit), hierarchy_day=day, reports=s.reports,
        figures=domain.figures_of(s.reports, official), values=s.sums,
        poor_rate_pct=d.poor_rate_pct, near_poor_rate_pct=d.near_poor_rate_pct,
        reduction_pp=d.reduction_pp, reduction_reports=s.both_reports,
        national_average_pct=d.national_average_pct,
        at_or_below_national_average=d.at_or_below_national_average,
        target=target_out(target, d), compliance=compliance,
        resources_vnd=domain.resources(s.sums), own_report=own, nominations=by_status,
        awards=granted, exemplary_models=models, exemplary_models_recognised=recognised,
        replications=replications)


def _own(fact: asyncpg.Record | None, summed: Mapping[str, Value],
         summable: Collection[str]) -> OwnReport | None:
    if fact is None:
        return None
    values: dict[str, Value] = fact["values"]
    gaps = domain.differences(values, summed, summable)
    return OwnReport(values=values, poor_rate_pct=derive(values, None, None).poor_rate_pct,
                     differs=bool(gaps), differences=gaps)


async def provincial(conn: Conn, campaign_id: uuid.UUID, year: int,
                     province_id: uuid.UUID | None, mode: HierarchyMode) -> ProvincialSummary:
    y = await year_of(conn, campaign_id, year)
    if mode is HierarchyMode.CURRENT:
        return await _restated(conn, y, province_id)
    province = await province_of(conn, campaign_id, year, province_id)
    districts = [u.unit_id for u in await hierarchy.subtree(
        conn, province["unit_id"], province["hierarchy_day"]) if u.kind is UnitKind.DISTRICT]
    province_line, *district_lines = await lines(
        conn, y, [province, *await repository.rollups(conn, campaign_id, year, districts)])
    return ProvincialSummary(
        campaign=campaign_ref(y.campaign), year=year, hierarchy=mode, province=province_line,
        districts=sorted(district_lines, key=lambda ln: (ln.unit.code or "", ln.unit.name)))


async def _restated(conn: Conn, y: Year, province_id: uuid.UUID | None) -> ProvincialSummary:
    """The year's figures on today's units: each commune's figures go to the unit it is part of
    today (itself, or the successor its merges lead to), then up today's hierarchy. The
    reduction compares the communes that reported in both years, as reported."""
    today = clock.today()
    active = {u.unit_id: u for u in await hierarchy.active_on(conn, today)}
    merged_into = await repository.merges(conn)
    communes = set(await repository.units_of_kinds(conn, [domain.SUMMED_KIND.value]))

    def today_above(unit_id: uuid.UUID) -> list[uuid.UUID]:
        now = domain.current_unit(unit_id, active, merged_into)
        return _up(now, active) if now is not None else []

    async def by_unit_today(year: int) -> dict[uuid.UUID, dict[uuid.UUID, asyncpg.Record]]:
        """Per unit of today: the year's report of each commune whose area is now under it."""
        out: dict[uuid.UUID, dict[uuid.UUID, asyncpg.Record]] = {}
        for unit_id, f in (await repository.facts_of(conn, y.campaign["campaign_id"],
                                                      year)).items():
            for root in today_above(unit_id) if unit_id in communes else []:
                out.setdefault(root, {})[unit_id] = f
        return out

    now, before = await by_unit_today(y.year), await by_unit_today(y.year - 1)
    nominations: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for n in await repository.nominations_of_year(conn, y.year):
        for root in today_above(n["nominee_unit_id"]):
            nominations.setdefault(root, []).append(n)
    models, replicated = await exemplary.of_year(conn, y.year)
    counts: dict[uuid.UUID, tuple[int, int, int]] = {}
    for unit_id, model, recognised, replication in (
            [(m["unit_id"], 1, int(m["recognised"]), 0) for m in models]
            + [(r["unit_id"], 0, 0, 1) for r in replicated]):
        for root in today_above(unit_id):
            c = counts.get(root, (0, 0, 0))
            counts[root] = (c[0] + model, c[1] + recognised, c[2] + replication)
    provinces = [u for u in now if active[u].kind is UnitKind.PROVINCE
                 and (province_id is None or u == province_id)]
    if not provinces:
        raise _no_province(province_id, y.year)
    if len(provinces) != 1:
        raise RuleBroken("province_id", en_vi(
            f"{len(provinces)} provinces of today hold figures of {y.year}: name one",
            f"{len(provinces)} tỉnh hiện nay có số liệu năm {y.year}: hãy chọn một"))
    province = provinces[0]
    districts = sorted((u for u in now if active[u].kind is UnitKind.DISTRICT
                        and province in _up(u, active)), key=lambda u: active[u].code or "")
    lines = [await _restated_line(conn, y, active[u], now.get(u, {}), before.get(u, {}),
                                  nominations.get(u, []), counts.get(u, (0, 0, 0)))
             for u in [province, *districts]]
    return ProvincialSummary(campaign=campaign_ref(y.campaign), year=y.year,
                             hierarchy=HierarchyMode.CURRENT, province=lines[0],
                             districts=lines[1:])


def _up(unit_id: uuid.UUID, active: Mapping[uuid.UUID, UnitOnDate]) -> list[uuid.UUID]:
    """The unit and its ancestors today."""
    chain: list[uuid.UUID] = []
    at: uuid.UUID | None = unit_id
    while at is not None and at in active and at not in chain:
        chain.append(at)
        at = active[at].parent_id
    return chain


async def _restated_line(conn: Conn, y: Year, unit: UnitOnDate,
                         now: Mapping[uuid.UUID, asyncpg.Record],
                         before: Mapping[uuid.UUID, asyncpg.Record],
                         nominations: Sequence[asyncpg.Record],
                         exemplary_counts: tuple[int, int, int] = (0, 0, 0)) -> SummaryLine:
    s = domain.sums({u: f["values"] for u, f in now.items()},
                    {u: f["values"] for u, f in before.items()}, y.summable)
    official = sum(1 for f in now.values() if f["figures"] == "official")
    target = target_of((await repository.targets(conn, y.campaign["campaign_id"], y.year,
                                                 [unit.unit_id])).get(unit.unit_id))
    d = domain.figures(s, target, y.national_average)
    return _line(unit, None, s, official, d, target, None, None, nominations,
                 exemplary_counts)


async def central(conn: Conn, campaign_id: uuid.UUID, year: int,
                  province_id: uuid.UUID | None) -> fd.CentralSummary:
    """The province's figures for the central Board and MOLISA, in the versioned schema."""
    y = await year_of(conn, campaign_id, year)
    p = await line(conn, y, await province_of(conn, campaign_id, year, province_id))
    assert p.compliance is not None and p.hierarchy_day is not None
    target = None if p.target is None else fd.TargetAttainment(
        reduction_pp_min=p.target.reduction_pp_min,
        at_most_national_average=p.target.at_most_national_average,
        attainment_pct=p.target.attainment_pct, met=p.target.met)
    v = p.values
    return fd.CentralSummary(
        campaign=fd.CampaignRef(campaign_id=campaign_id, code=y.campaign["code"],
                                name=y.campaign["name"]),
        year=year, province=fd.UnitRef(unit_id=p.unit.unit_id, code=p.unit.code,
                                       name=p.unit.name),
        hierarchy_day=p.hierarchy_day, reports=p.reports, figures=p.figures,
        households_total=v.get("households_total"), poor_households=v.get("poor_households"),
        near_poor_households=v.get("near_poor_households"),
        escaped_poverty=v.get("escaped_poverty"), newly_poor=v.get("newly_poor"),
        fell_back_into_poverty=v.get("fell_back_into_poverty"),
        poor_rate_pct=p.poor_rate_pct, near_poor_rate_pct=p.near_poor_rate_pct,
        reduction_pp=p.reduction_pp, reduction_reports=p.reduction_reports,
        national_average_pct=p.national_average_pct,
        at_or_below_national_average=p.at_or_below_national_average, target=target,
        compliance=fd.Compliance(**p.compliance.model_dump()),
        resources_vnd=fd.Resources(**p.resources_vnd),
        awards=[fd.AwardCount(**a.model_dump()) for a in p.awards])


# --------------------------------------------------------------------------- compliance


async def compliance(conn: Conn, campaign_id: uuid.UUID, year: int, root: uuid.UUID | None,
                     punctuality: Punctuality | None, limit: int, offset: int
                     ) -> CompliancePage:
    """Every unit expected to report for the year (under ``root``), and how it reported."""
    campaign = await known_campaign(conn, campaign_id, year)
    due = await repository.cycle_due(conn, campaign_id, year)
    assert due is not None
    day = domain.eve_of(due)
    units = (await hierarchy.subtree(conn, root, day) if root is not None
             else await hierarchy.active_on(conn, day))
    if root is not None and not units:
        raise NotFound(en_vi(f"unit {root} does not exist on {day}",
                                 f"đơn vị {root} không tồn tại vào ngày {day}"))
    kinds = set(campaign["participating_kinds"])
    expected = [u for u in units if u.kind.value in kinds]
    facts = await repository.facts_of(conn, campaign_id, year, [u.unit_id for u in expected])
    now = clock.now()
    rows = []
    for u in expected:
        f = facts.get(u.unit_id)
        rows.append(ComplianceRow(
            unit=unit_ref(u), parent_id=u.parent_id,
            punctuality=domain.punctuality(f["first_submitted_at"] if f else None, due, now),
            report_state=f["state"] if f else None,
            first_submitted_at=f["first_submitted_at"] if f else None))
    counts = Counter(r.punctuality for r in rows)
    chosen = [r for r in rows if punctuality is None or r.punctuality is punctuality]
    return CompliancePage(campaign_id=campaign_id, year=year, due_at=due,
                          counts={p: counts.get(p, 0) for p in Punctuality},
                          total=len(chosen), limit=limit, offset=offset,
                          items=chosen[offset:offset + limit])
