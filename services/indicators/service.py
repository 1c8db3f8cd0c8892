"""Use cases of the indicators service. Each runs inside the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import BaseModel

from chungtay_common import audit, hierarchy
from chungtay_common.auth import Principal, Role, ensure_may_act_on, require_role
from chungtay_common.context import Context, publish
from chungtay_common.contracts import indicators as ev
from chungtay_common.contracts.indicators import ReportingCycle, ReportWarning, Value
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.db import Conn
from chungtay_common.errors import Forbidden, InvalidInput, NotFound
from chungtay_common.events import SYSTEM_ACTOR
from chungtay_common.hierarchy import UnitOnDate
from services.indicators import domain, repository
from services.indicators import metrics as m
from services.indicators.domain import Action, Indicator, ReportStatus
from services.indicators.schemas import (
    AggregateOut,
    CampaignIn,
    CampaignOut,
    DerivedOut,
    IndicatorIn,
    IndicatorOut,
    NationalAverageIn,
    NationalAverageOut,
    ReportOut,
    ReportVersionOut,
    StatusBoard,
    TargetIn,
    TargetOut,
    UnitReportStatus,
)

PRODUCER = "indicators"


async def _system_publish(conn: Conn, topic: str, subject: object, payload: BaseModel) -> None:
    """An event of the service itself (seeding, deadlines), not of a caller."""
    await publish(conn, topic=topic, producer=PRODUCER, actor=SYSTEM_ACTOR, subject=subject,
                  payload=payload)


# --------------------------------------------------------------------------- campaigns


async def create_campaign(conn: Conn, ctx: Context, c: CampaignIn) -> CampaignOut:
    require_role(ctx.principal, Role.BOARD)
    if c.last_year < c.first_year:
        raise InvalidInput.on("last_year", "must not be before first_year")
    if c.last_year - c.first_year > 20:
        raise InvalidInput.on("last_year", "a campaign spans at most 21 years")
    try:
        cycles = [(y, domain.due_at(y, c.due_month, c.due_day))
                  for y in range(c.first_year, c.last_year + 1)]
    except ValueError as exc:
        raise InvalidInput.on("due_day", f"is not a day of month {c.due_month}") from exc
    campaign_id = uuid.uuid4()
    await repository.insert_campaign(
        conn, campaign_id, c.code, c.name, c.first_year, c.last_year,
        [d.model_dump(mode="json") for d in c.legal_basis],
        [k.value for k in c.participating_kinds], ctx.principal.subject)
    await repository.insert_cycles(conn, campaign_id, cycles)
    out = CampaignOut(campaign_id=campaign_id, code=c.code, name=c.name,
                      first_year=c.first_year, last_year=c.last_year,
                      legal_basis=c.legal_basis, participating_kinds=c.participating_kinds,
                      cycles=[ReportingCycle(year=y, due_at=d) for y, d in cycles])
    await ctx.audit(conn, "campaign.create", "campaign", campaign_id, None,
                 out.model_dump(mode="json"))
    await ctx.publish(conn, str(campaign_id), ev.CampaignCreated(
        campaign_id=campaign_id, code=c.code, name=c.name, first_year=c.first_year,
        last_year=c.last_year, legal_basis=c.legal_basis,
        participating_kinds=c.participating_kinds, cycles=out.cycles))
    return out


async def get_campaign(conn: Conn, campaign_id: uuid.UUID) -> CampaignOut:
    row = await repository.campaign(conn, campaign_id)
    if row is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return await _campaign_out(conn, row)


async def list_campaigns(conn: Conn) -> list[CampaignOut]:
    return [await _campaign_out(conn, r) for r in await repository.campaigns(conn)]


async def _campaign_out(conn: Conn, row: asyncpg.Record) -> CampaignOut:
    return CampaignOut(
        campaign_id=row["campaign_id"], code=row["code"], name=row["name"],
        first_year=row["first_year"], last_year=row["last_year"],
        legal_basis=row["legal_basis"], participating_kinds=row["participating_kinds"],
        cycles=[ReportingCycle(year=r["year"], due_at=r["due_at"])
                for r in await repository.cycles(conn, row["campaign_id"])])


# --------------------------------------------------------------------------- catalogue


def _entry(ind: Indicator) -> dict[str, Any]:
    return {**asdict(ind), "reported_by": list(ind.reported_by)}


def indicator_out(ind: Indicator) -> IndicatorOut:
    return IndicatorOut(**_entry(ind))


def _defined(ind: Indicator) -> ev.IndicatorDefined:
    return ev.IndicatorDefined(**_entry(ind))


async def seed_catalogue(conn: Conn, topic: str) -> int:
    """Put the seed indicators in an empty catalogue (at start-up), each recorded in the
    audit log as the system's; return how many."""
    await repository.lock_catalogue(conn)
    if await repository.catalogue(conn):
        return 0
    for ind in domain.SEED_CATALOGUE:
        saved = await repository.save_indicator(conn, ind, SYSTEM_ACTOR.subject)
        await audit.record(conn, actor=SYSTEM_ACTOR, action="indicator.seed",
                           entity_type="indicator", entity_id=saved.code, before=None,
                           after=asdict(saved))
        await _system_publish(conn, topic, saved.code, _defined(saved))
    return len(domain.SEED_CATALOGUE)


async def list_indicators(conn: Conn) -> list[IndicatorOut]:
    return [indicator_out(i) for i in (await repository.catalogue(conn)).values()]


async def define_indicator(conn: Conn, ctx: Context, body: IndicatorIn) -> IndicatorOut:
    """Add an entered indicator, or change one (its version grows)."""
    require_role(ctx.principal, Role.BOARD)
    current = (await repository.catalogue(conn)).get(body.code)
    if current is not None and current.derived:
        raise InvalidInput.on("code", "is a derived indicator, computed by the system")
    if (body.min_value is not None and body.max_value is not None
            and body.max_value < body.min_value):
        raise InvalidInput.on("max_value", "must not be below min_value")
    ind = Indicator(code=body.code, name_vi=body.name_vi, name_en=body.name_en,
                    unit_of_measure=body.unit_of_measure, value_type=body.value_type,
                    min_value=body.min_value, max_value=body.max_value,
                    reported_by=tuple(body.reported_by), required=body.required)
    saved = await repository.save_indicator(conn, ind, ctx.principal.subject)
    await ctx.audit(conn, "indicator.define", "indicator", body.code,
                 asdict(current) if current else None, asdict(saved))
    await ctx.publish(conn, saved.code, _defined(saved))
    return indicator_out(saved)


async def retire_indicator(conn: Conn, ctx: Context, code: str) -> IndicatorOut:
    """Retire an indicator: it can no longer be entered; reported values are kept."""
    require_role(ctx.principal, Role.BOARD)
    current = (await repository.catalogue(conn)).get(code)
    if current is None:
        raise NotFound(f"indicator {code} not found")
    if current.derived:
        raise InvalidInput.on("code", "is a derived indicator, computed by the system")
    if current.retired:
        return indicator_out(current)
    saved = await repository.save_indicator(
        conn, Indicator(**{**asdict(current), "retired": True}), ctx.principal.subject)
    await ctx.audit(conn, "indicator.retire", "indicator", code, asdict(current),
                 asdict(saved))
    await ctx.publish(conn, code, _defined(saved))
    return indicator_out(saved)


# --------------------------------------------------------------------------- targets


async def set_target(conn: Conn, ctx: Context, campaign_id: uuid.UUID, year: int,
                     unit_id: uuid.UUID, body: TargetIn) -> TargetOut:
    require_role(ctx.principal, Role.BOARD)
    await _campaign_year(conn, campaign_id, year)
    on = await hierarchy.last_day_active(conn, unit_id, date(year, 1, 1), date(year, 12, 31))
    if on is None:
        raise InvalidInput.on("unit_id", f"is not a unit active in {year}")
    ensure_may_act_on(ctx.principal, await hierarchy.ancestry(conn, unit_id, on))
    if (body.reduction_pp_min is not None and body.reduction_pp_max is not None
            and body.reduction_pp_max < body.reduction_pp_min):
        raise InvalidInput.on("reduction_pp_max", "must not be below reduction_pp_min")
    if (body.households_out_min is not None and body.households_out_max is not None
            and body.households_out_max < body.households_out_min):
        raise InvalidInput.on("households_out_max", "must not be below households_out_min")
    before = [dict(r) for r in await repository.targets(conn, campaign_id, year)
              if r["unit_id"] == unit_id]
    await repository.save_target(conn, campaign_id, year, unit_id, body.model_dump(),
                                 ctx.principal.subject)
    out = TargetOut(campaign_id=campaign_id, year=year, unit_id=unit_id, **body.model_dump())
    await ctx.audit(conn, "target.set", "target", f"{campaign_id}:{year}:{unit_id}",
                 before[0] if before else None, out.model_dump(mode="json"))
    await ctx.publish(conn, str(unit_id), ev.TargetSet(
        campaign_id=campaign_id, year=year, unit_id=unit_id, **body.model_dump()))
    return out


async def list_targets(conn: Conn, campaign_id: uuid.UUID, year: int | None) -> list[TargetOut]:
    await get_campaign(conn, campaign_id)
    out = []
    for r in await repository.targets(conn, campaign_id, year):
        data = dict(r)
        for k in ("reduction_pp_min", "reduction_pp_max"):
            data[k] = float(data[k]) if data[k] is not None else None
        out.append(TargetOut(**{k: v for k, v in data.items() if k in TargetOut.model_fields}))
    return out


async def set_national_average(conn: Conn, ctx: Context, year: int,
                               body: NationalAverageIn) -> NationalAverageOut:
    require_role(ctx.principal, Role.BOARD)
    before = [dict(r) for r in await repository.national_averages(conn) if r["year"] == year]
    await repository.save_national_average(conn, year, body.poor_rate_pct, body.source,
                                           ctx.principal.subject)
    out = NationalAverageOut(year=year, **body.model_dump())
    await ctx.audit(conn, "national_average.set", "national_average", year,
                 before[0] if before else None, out.model_dump(mode="json"))
    await ctx.publish(conn, str(year), ev.NationalAverageSet(
        year=year, **body.model_dump()))
    return out


async def list_national_averages(conn: Conn) -> list[NationalAverageOut]:
    return [NationalAverageOut(year=r["year"], poor_rate_pct=float(r["poor_rate_pct"]),
                               source=r["source"])
            for r in await repository.national_averages(conn)]


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class _Subject:
    """What a report write needs to know about its campaign year and unit."""

    campaign: asyncpg.Record
    due_at: datetime
    unit: UnitOnDate
    ref_day: date  # the day the unit's place in the hierarchy is read on


async def _campaign_year(conn: Conn, campaign_id: uuid.UUID, year: int) -> asyncpg.Record:
    campaign = await repository.campaign(conn, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    if not campaign["first_year"] <= year <= campaign["last_year"]:
        raise InvalidInput.on("year", f"is outside the campaign ({campaign['first_year']}–"
                                      f"{campaign['last_year']})")
    return campaign


async def _subject(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID,
                   year: int) -> _Subject:
    campaign = await _campaign_year(conn, campaign_id, year)
    due = await repository.due_at(conn, campaign_id, year)
    assert due is not None
    ref = await hierarchy.last_day_active(conn, unit_id, date(year, 1, 1), date(year, 12, 31))
    if ref is None:
        raise InvalidInput.on("unit_id", f"is not a unit active in {year}")
    unit = await hierarchy.unit_on(conn, unit_id, ref)
    assert unit is not None
    if unit.kind.value not in campaign["participating_kinds"]:
        raise InvalidInput.on("unit_id", f"a {unit.kind} does not report in this campaign")
    return _Subject(campaign, due, unit, ref)


def _may_review(principal: Principal, unit: UnitOnDate) -> None:
    """Reports are accepted or returned by the level right above the unit."""
    if Role.ADMIN in principal.roles:
        return
    if not principal.has_any(Role.REVIEWER, Role.BOARD):
        raise Forbidden("reviewing a report needs the reviewer or board role")
    if principal.unit_id is None or principal.unit_id != unit.parent_id:
        raise Forbidden("a report is reviewed by the level right above its unit")


def _check_backfill(principal: Principal, action: Action, submitted_at: datetime,
                    year: int) -> None:
    """A historical submission time is only recorded by an administrator back-filling records
    kept before the system existed; the version note and the audit row say so."""
    if Role.ADMIN not in principal.roles:
        raise Forbidden("only an administrator may record a historical submission time")
    if action is not Action.SUBMIT:
        raise InvalidInput.on("submitted_at", "is only recorded with a submission")
    if submitted_at.tzinfo is None or submitted_at > datetime.now(UTC):
        raise InvalidInput.on("submitted_at", "must be a past instant with a time zone")
    problem = domain.check_submitted_at(submitted_at, year)
    if problem:
        raise InvalidInput.on("submitted_at", problem)


async def write_report(conn: Conn, ctx: Context, campaign_id: uuid.UUID, unit_id: uuid.UUID,
                       year: int, action: Action, values: dict[str, Value] | None = None,
                       reason: str | None = None, submitted_at: datetime | None = None
                       ) -> ReportOut:
    """Save, submit, return, accept or reopen a report: one new version each time.
    ``submitted_at`` back-fills a historical submission (administrator only)."""
    if submitted_at is not None:
        _check_backfill(ctx.principal, action, submitted_at, year)
    s = await _subject(conn, campaign_id, unit_id, year)
    ancestry = await hierarchy.ancestry(conn, unit_id, s.ref_day)
    if action in (Action.SAVE, Action.SUBMIT):
        require_role(ctx.principal, Role.REPORTER)
        ensure_may_act_on(ctx.principal, ancestry, "the report's unit")
    elif action is Action.REOPEN:
        require_role(ctx.principal, Role.BOARD)
        ensure_may_act_on(ctx.principal, ancestry, "the report's unit")
    else:
        _may_review(ctx.principal, s.unit)
    row = await repository.lock_report(conn, campaign_id, unit_id, year)
    current = ReportStatus(row["status"]) if row else None
    if row is None and action not in (Action.SAVE, Action.SUBMIT):
        raise NotFound(f"no report of unit {unit_id} for {year}")
    status = domain.next_status(current, action)
    if not isinstance(status, ReportStatus):
        raise InvalidInput.on("status", status)
    report: dict[str, Any] = dict(row) if row else {
        "report_id": uuid.uuid4(), "campaign_id": campaign_id, "unit_id": unit_id,
        "year": year, "version": 0, "values": {}, "warnings": [],
        "first_submitted_at": None, "submitted_at": None, "on_time": None,
        "accepted_at": None, "submitted_values": None,
    }
    before = _jsonable(report) if row else None
    catalogue = await repository.catalogue(conn)
    if values is not None:
        errors = domain.check_values(values, catalogue, s.unit.kind)
        if errors:
            m.REPORT_REFUSALS.labels("invalid_values").inc()
            raise InvalidInput(f"{len(errors)} value(s) refused", errors)
        report["values"] = {k: _num(v) for k, v in values.items()}
    history = await repository.earlier_values(conn, campaign_id, unit_id, year)
    found = domain.warnings(report["values"], history, year)
    report["warnings"] = [w.model_dump() for w in found]
    now = datetime.now(UTC)
    resubmission = report["first_submitted_at"] is not None
    if action is Action.SUBMIT:
        missing = domain.missing_required(report["values"], catalogue, s.unit.kind)
        if missing:
            m.REPORT_REFUSALS.labels("missing_required").inc()
            raise InvalidInput(f"{len(missing)} required value(s) missing", missing)
        report["submitted_at"] = submitted_at or now
        report["first_submitted_at"] = report["first_submitted_at"] or report["submitted_at"]
        report["on_time"] = domain.is_on_time(report["first_submitted_at"], s.due_at)
        report["submitted_values"] = report["values"]
    if action is Action.ACCEPT:
        report["accepted_at"] = now
    if action is Action.REOPEN:
        report["accepted_at"] = None
    report["status"] = status.value
    report["version"] += 1
    await repository.save_report(conn, report)
    await repository.add_version(conn, report["report_id"], report["version"], action.value,
                                 status.value, report["values"], report["warnings"], reason,
                                 ctx.principal.subject)
    await ctx.audit(conn, f"report.{action.value}", "report", report["report_id"], before,
                 _jsonable(report) | ({"reason": reason} if reason else {}))
    ctx.after_commit(m.REPORT_ACTIONS.labels(action.value).inc)
    common = {"report_id": report["report_id"], "campaign_id": campaign_id,
              "unit_id": unit_id, "year": year, "version": report["version"]}
    payload: BaseModel | None = None
    if action is Action.SUBMIT:
        payload = ev.ReportSubmitted(
            **common, values=report["values"], submitted_at=report["submitted_at"],
            due_at=s.due_at,
            on_time=report["on_time"], resubmission=resubmission,
            warnings=[ReportWarning(**w) for w in report["warnings"]])
        punctuality = "on_time" if report["on_time"] else "late"
        ctx.after_commit(m.REPORTS_SUBMITTED.labels(punctuality).inc)
    elif action is Action.RETURN:
        payload = ev.ReportReturned(**common, reason=reason or "")
    elif action is Action.ACCEPT:
        payload = ev.ReportAccepted(**common, accepted_by_unit_id=ctx.principal.unit_id)
    elif action is Action.REOPEN:
        payload = ev.ReportReopened(**common, reason=reason or "")
    if payload is not None:
        await ctx.publish(conn, str(unit_id), payload)
    return await _report_out(conn, report, s.due_at)


def _num(v: Value) -> Value:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _jsonable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else str(v)
                if isinstance(v, uuid.UUID) else v) for k, v in report.items()
            if k != "updated_at"}


async def get_report(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID,
                     year: int) -> ReportOut:
    await _campaign_year(conn, campaign_id, year)
    row = await repository.find_report(conn, campaign_id, unit_id, year)
    if row is None:
        raise NotFound(f"no report of unit {unit_id} for {year}")
    due = await repository.due_at(conn, campaign_id, year)
    assert due is not None
    return await _report_out(conn, dict(row), due)


async def _report_out(conn: Conn, report: dict[str, Any], due: datetime) -> ReportOut:
    history = await repository.earlier_values(conn, report["campaign_id"], report["unit_id"],
                                              report["year"])
    previous = history[-1][1] if history and history[-1][0] == report["year"] - 1 else None
    target = await repository.target(conn, report["campaign_id"], report["year"],
                                     report["unit_id"])
    d = domain.derive(report["values"], previous, target,
                      await repository.national_average(conn, report["year"]))
    return ReportOut(
        report_id=report["report_id"], campaign_id=report["campaign_id"],
        unit_id=report["unit_id"], year=report["year"], status=report["status"],
        version=report["version"], values=report["values"], derived=_derived_out(d),
        warnings=report["warnings"], due_at=due,
        first_submitted_at=report["first_submitted_at"], submitted_at=report["submitted_at"],
        on_time=report["on_time"])


def _derived_out(d: domain.Derived) -> DerivedOut:
    return DerivedOut(poor_rate_pct=d.poor_rate_pct, near_poor_rate_pct=d.near_poor_rate_pct,
                      reduction_pp=d.reduction_pp,
                      target_attainment_pct=d.target_attainment_pct, target_met=d.target_met,
                      national_average_pct=d.national_average_pct,
                      at_or_below_national_average=d.at_or_below_national_average)


async def report_history(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID,
                         year: int) -> list[ReportVersionOut]:
    row = await repository.find_report(conn, campaign_id, unit_id, year)
    if row is None:
        raise NotFound(f"no report of unit {unit_id} for {year}")
    return [ReportVersionOut(version=r["version"], action=r["action"], status=r["status"],
                             values=r["values"], warnings=r["warnings"], note=r["note"],
                             actor=r["actor"], at=r["at"])
            for r in await repository.versions(conn, row["report_id"])]


# --------------------------------------------------------------------------- views


async def status_board(conn: Conn, campaign_id: uuid.UUID, year: int,
                       root_id: uuid.UUID | None) -> StatusBoard:
    """Every unit expected to report for ``year``, with its report's status and punctuality;
    a unit with no report after the due date is ``missing``."""
    campaign = await _campaign_year(conn, campaign_id, year)
    due = await repository.due_at(conn, campaign_id, year)
    assert due is not None
    day = due.astimezone(domain.VN).date() - timedelta(days=1)
    units = (await hierarchy.subtree(conn, root_id, day) if root_id
             else await hierarchy.active_on(conn, day))
    expected = [u for u in units if u.kind.value in campaign["participating_kinds"]]
    reports = await repository.reports_of_year(conn, campaign_id, year,
                                               [u.unit_id for u in expected])
    now = datetime.now(UTC)
    rows: list[UnitReportStatus] = []
    counts: dict[str, int] = {}
    for u in expected:
        r = reports.get(u.unit_id)
        first = r["first_submitted_at"] if r else None
        if first is not None:
            punctuality = "on_time" if domain.is_on_time(first, due) else "late"
        else:
            punctuality = "missing" if now >= due else "not_yet_due"
        counts[punctuality] = counts.get(punctuality, 0) + 1
        rows.append(UnitReportStatus(
            unit_id=u.unit_id, code=u.code, name=u.name, kind=u.kind, parent_id=u.parent_id,
            status=r["status"] if r else None, submitted_at=r["submitted_at"] if r else None,
            on_time=r["on_time"] if r else None, punctuality=punctuality))
    return StatusBoard(campaign_id=campaign_id, year=year, due_at=due, counts=counts,
                       units=rows)


async def aggregate(conn: Conn, campaign_id: uuid.UUID, year: int, unit_id: uuid.UUID,
                    level: UnitKind) -> AggregateOut:
    """Sums of the submitted reports of the units of kind ``level`` under ``unit_id``, and the
    rates derived from those sums (never an average of rates).

    The reduction in points compares like with like: both years' sums over the units that
    reported in both (``reduction_reports`` of them), so a unit missing one year does not
    make a fake reduction (or increase). The rates of the year are over all its reports."""
    await _campaign_year(conn, campaign_id, year)
    catalogue = await repository.catalogue(conn)

    async def submitted(y: int) -> dict[uuid.UUID, dict[str, Value]]:
        day = await hierarchy.last_day_active(conn, unit_id, date(y, 1, 1), date(y, 12, 31))
        if day is None:
            return {}
        units = [u.unit_id for u in await hierarchy.subtree(conn, unit_id, day)
                 if u.kind is level]
        # what was submitted, not a draft being corrected
        return {u: r["submitted_values"] for u, r in (await repository.reports_of_year(
            conn, campaign_id, y, units)).items() if r["submitted_values"] is not None}

    now = await submitted(year)
    if await hierarchy.last_day_active(conn, unit_id, date(year, 1, 1),
                                       date(year, 12, 31)) is None:
        raise InvalidInput.on("unit_id", f"is not a unit active in {year}")
    before = await submitted(year - 1)
    both = sorted(set(now) & set(before))
    values = domain.aggregate(now.values(), catalogue)
    target = await repository.target(conn, campaign_id, year, unit_id)
    d = domain.derive(values, domain.aggregate((before[u] for u in both), catalogue)
                      if both else None, target,
                      await repository.national_average(conn, year),
                      current_for_reduction=domain.aggregate((now[u] for u in both), catalogue))
    return AggregateOut(campaign_id=campaign_id, year=year, unit_id=unit_id, level=level,
                        reports=len(now), previous_reports=len(before),
                        reduction_reports=len(both), values=values, derived=_derived_out(d))


# --------------------------------------------------------------------------- overdue


async def emit_overdue(conn: Conn, topic: str) -> int:
    """Send ``report.overdue`` once for each unit still missing its report after a due date.

    Only due dates that pass while the campaign exists count: a cycle whose due date was
    already past when the campaign was created (a campaign set up afterwards, whose earlier
    years are back-filled) never sends ``report.overdue``: nobody could have reported in time
    in a campaign that did not exist. Its status board still shows who is late or missing."""
    sent = 0
    for cycle in await repository.cycles_past_due(conn):
        due: datetime = cycle["due_at"]
        day = due.astimezone(domain.VN).date() - timedelta(days=1)
        for unit_id in await repository.missing_at_due(
                conn, cycle["campaign_id"], cycle["year"], due, day,
                list(cycle["participating_kinds"])):
            if await repository.add_overdue_notice(conn, cycle["campaign_id"], cycle["year"],
                                                   unit_id):
                await _system_publish(conn, topic, str(unit_id), ev.ReportOverdue(
                    campaign_id=cycle["campaign_id"], unit_id=unit_id, year=cycle["year"],
                    due_at=due))
                sent += 1
    m.OVERDUE_NOTICES.inc(sent)
    return sent
