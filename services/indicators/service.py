"""Use cases of the indicators service. Each runs inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

import asyncpg
from pydantic import BaseModel
from pydantic_core import to_json

from chungtay_common import audit, clock, hierarchy, poverty
from chungtay_common.auth import Principal, Role, require_role
from chungtay_common.context import Context
from chungtay_common.contracts import indicators as ev
from chungtay_common.contracts.awards import AwardRuleChanged
from chungtay_common.contracts.indicators import Figures, ReportingCycle, ReportWarning, Value
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.db import Conn
from chungtay_common.errors import AppError, FieldError, InvalidInput, NotFound
from chungtay_common.hierarchy import UnitOnDate
from chungtay_common.messages import en_vi
from chungtay_common.refusals import DomainError, RuleBroken, StateConflict
from services.indicators import domain, repository
from services.indicators import metrics as m
from services.indicators import schemas as s
from services.indicators.domain import Action, Indicator, ReportStatus

# --------------------------------------------------------------------------- campaigns


async def create_campaign(conn: Conn, ctx: Context, c: s.CampaignIn) -> s.CampaignOut:
    require_role(ctx.principal, Role.BOARD)
    cycles = domain.cycles(c.first_year, c.last_year, c.due_month, c.due_day)
    campaign_id = uuid.uuid4()
    await repository.insert_campaign(
        conn, campaign_id, c.code, c.name, c.first_year, c.last_year,
        [d.model_dump(mode="json") for d in c.legal_basis],
        [k.value for k in c.participating_kinds], ctx.principal.subject)
    await repository.insert_cycles(conn, campaign_id, cycles)
    await repository.snapshot_catalogue(conn, campaign_id)  # the campaign keeps this version
    out = s.CampaignOut(campaign_id=campaign_id, code=c.code, name=c.name,
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


async def campaign(conn: Conn, campaign_id: uuid.UUID) -> asyncpg.Record:
    row = await repository.campaign(conn, campaign_id)
    if row is None:
        raise NotFound(en_vi(f"campaign {campaign_id} not found",
                             f"không có phong trào {campaign_id}"))
    return row


async def campaign_year(conn: Conn, campaign_id: uuid.UUID, year: int) -> asyncpg.Record:
    """The campaign, which must cover ``year``."""
    row = await campaign(conn, campaign_id)
    if not row["first_year"] <= year <= row["last_year"]:
        raise InvalidInput.on("year", en_vi(
            f"is outside the campaign ({row['first_year']}–{row['last_year']})",
            f"nằm ngoài thời gian của phong trào ({row['first_year']}–{row['last_year']})"))
    return row


async def get_campaign(conn: Conn, campaign_id: uuid.UUID) -> s.CampaignOut:
    return await _campaign_out(conn, await campaign(conn, campaign_id))


async def list_campaigns(conn: Conn) -> list[s.CampaignOut]:
    return [await _campaign_out(conn, r) for r in await repository.campaigns(conn)]


async def _campaign_out(conn: Conn, row: asyncpg.Record) -> s.CampaignOut:
    return s.CampaignOut(
        campaign_id=row["campaign_id"], code=row["code"], name=row["name"],
        first_year=row["first_year"], last_year=row["last_year"],
        legal_basis=row["legal_basis"], participating_kinds=row["participating_kinds"],
        cycles=[ReportingCycle(year=r["year"], due_at=r["due_at"])
                for r in await repository.cycles(conn, row["campaign_id"])])


async def _active_day(conn: Conn, unit_id: uuid.UUID, year: int) -> date:
    """The last day of ``year`` on which the unit exists (its place in the hierarchy then)."""
    day = await hierarchy.last_day_active(conn, unit_id, date(year, 1, 1), date(year, 12, 31))
    if day is None:
        raise InvalidInput.on("unit_id", en_vi(f"is not a unit active in {year}",
                                              f"không phải là đơn vị đang hoạt động năm {year}"))
    return day


# --------------------------------------------------------------------------- catalogue


def _entry(ind: Indicator) -> dict[str, Any]:
    return {**asdict(ind), "reported_by": list(ind.reported_by)}


def indicator_out(ind: Indicator) -> s.IndicatorOut:
    return s.IndicatorOut(**_entry(ind))


def _defined(ind: Indicator) -> ev.IndicatorDefined:
    return ev.IndicatorDefined(**_entry(ind))


async def seed_catalogue(conn: Conn, ctx: Context) -> int:
    """Put the seed indicators in an empty catalogue (at start-up, as the system), each
    recorded in the audit log; return how many."""
    await repository.lock_catalogue(conn)
    if await repository.catalogue(conn):
        return 0
    for ind in domain.SEED_CATALOGUE:
        saved = await repository.save_indicator(conn, ind, ctx.principal.subject)
        await ctx.audit(conn, "indicator.seed", "indicator", saved.code, None, asdict(saved))
        await ctx.publish(conn, saved.code, _defined(saved))
    return len(domain.SEED_CATALOGUE)


async def list_indicators(conn: Conn) -> list[s.IndicatorOut]:
    return [indicator_out(i) for i in (await repository.catalogue(conn)).values()]


async def list_campaign_indicators(conn: Conn, campaign_id: uuid.UUID
                                   ) -> list[s.IndicatorOut]:
    """The catalogue a campaign's reports are validated against: as it was at its creation."""
    await campaign(conn, campaign_id)
    return [indicator_out(i)
            for i in (await repository.campaign_catalogue(conn, campaign_id)).values()]


async def define_indicator(conn: Conn, ctx: Context, body: s.IndicatorIn) -> s.IndicatorOut:
    """Add an entered indicator, or change one (its version grows). Campaigns created from
    now on use it; an existing campaign keeps the version it was created with."""
    require_role(ctx.principal, Role.BOARD)
    current = (await repository.catalogue(conn)).get(body.code)
    if current is not None:
        domain.check_entered(current)
    domain.check_range("min_value", body.min_value, "max_value", body.max_value)
    ind = Indicator(code=body.code, name_vi=body.name_vi, name_en=body.name_en,
                    unit_of_measure=body.unit_of_measure, value_type=body.value_type,
                    min_value=body.min_value, max_value=body.max_value,
                    reported_by=tuple(body.reported_by), required=body.required)
    return await _save_indicator(conn, ctx, "indicator.define", current, ind)


async def retire_indicator(conn: Conn, ctx: Context, code: str) -> s.IndicatorOut:
    """Retire an indicator: campaigns created from now on do not take it (an existing one
    keeps its catalogue); reported values are kept. Not one that derived figures or a current
    award rule read."""
    require_role(ctx.principal, Role.BOARD)
    current = (await repository.catalogue(conn)).get(code)
    if current is None:
        raise NotFound(en_vi(f"indicator {code} not found", f"không có chỉ tiêu {code}"))
    domain.check_retirable(current, await repository.award_forms_reading(conn, code))
    if current.retired:
        return indicator_out(current)
    return await _save_indicator(conn, ctx, "indicator.retire", current,
                                 Indicator(**{**asdict(current), "retired": True}))


async def record_award_rule(conn: Conn, rule: AwardRuleChanged) -> None:
    """Keep which indicators an award form's current rule reads (from ``award_rule.changed``),
    so that they are not retired from under it."""
    await repository.record_award_rule(conn, rule.form_code, rule.version,
                                       sorted(domain.indicators_read_by_rule(rule.rule)))


async def _save_indicator(conn: Conn, ctx: Context, action: str, current: Indicator | None,
                          ind: Indicator) -> s.IndicatorOut:
    saved = await repository.save_indicator(conn, ind, ctx.principal.subject)
    await ctx.audit(conn, action, "indicator", ind.code,
                    asdict(current) if current else None, asdict(saved))
    await ctx.publish(conn, saved.code, _defined(saved))
    return indicator_out(saved)


# --------------------------------------------------------------------------- targets


async def set_target(conn: Conn, ctx: Context, campaign_id: uuid.UUID, year: int,
                     unit_id: uuid.UUID, body: s.TargetIn) -> s.TargetOut:
    require_role(ctx.principal, Role.BOARD)
    await campaign_year(conn, campaign_id, year)
    await _active_day(conn, unit_id, year)  # a unit of that year
    # whose target it is: the caller's authority as the hierarchy stands today
    await hierarchy.ensure_authority(conn, ctx.principal, unit_id, clock.today(),
                                     "the target's unit")
    domain.check_range("reduction_pp_min", body.reduction_pp_min,
                       "reduction_pp_max", body.reduction_pp_max)
    domain.check_range("households_out_min", body.households_out_min,
                       "households_out_max", body.households_out_max)
    before = [dict(r) for r in await repository.targets(conn, campaign_id, year)
              if r["unit_id"] == unit_id]
    await repository.save_target(conn, campaign_id, year, unit_id, body.model_dump(),
                                 ctx.principal.subject)
    out = s.TargetOut(campaign_id=campaign_id, year=year, unit_id=unit_id, **body.model_dump())
    await ctx.audit(conn, "target.set", "target", f"{campaign_id}:{year}:{unit_id}",
                    before[0] if before else None, out.model_dump(mode="json"))
    await ctx.publish(conn, str(unit_id), ev.TargetSet(
        campaign_id=campaign_id, year=year, unit_id=unit_id, **body.model_dump()))
    return out


async def list_targets(conn: Conn, campaign_id: uuid.UUID, year: int | None
                       ) -> list[s.TargetOut]:
    await campaign(conn, campaign_id)
    out = []
    for r in await repository.targets(conn, campaign_id, year):
        data = dict(r)
        for k in ("reduction_pp_min", "reduction_pp_max"):
            data[k] = float(data[k]) if data[k] is not None else None
        out.append(s.TargetOut(**{k: v for k, v in data.items()
                                  if k in s.TargetOut.model_fields}))
    return out


async def set_national_average(conn: Conn, ctx: Context, year: int,
                               body: s.NationalAverageIn) -> s.NationalAverageOut:
    require_role(ctx.principal, Role.BOARD)
    before = [dict(r) for r in await repository.national_averages(conn) if r["year"] == year]
    await repository.save_national_average(conn, year, body.poor_rate_pct, body.source,
                                           ctx.principal.subject)
    out = s.NationalAverageOut(year=year, **body.model_dump())
    await ctx.audit(conn, "national_average.set", "national_average", year,
                    before[0] if before else None, out.model_dump(mode="json"))
    await ctx.publish(conn, str(year), ev.NationalAverageSet(year=year, **body.model_dump()))
    return out


async def list_national_averages(conn: Conn) -> list[s.NationalAverageOut]:
    return [s.NationalAverageOut(year=r["year"], poor_rate_pct=float(r["poor_rate_pct"]),
                                 source=r["source"])
            for r in await repository.national_averages(conn)]


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class Entry:
    """What a write brings: values to save or submit (None: those saved before), the version's
    note (a reason, or an import's note), and a historical submission time (back-filled by an
    administrator, within the open data migration ``migration_id``)."""

    values: dict[str, Value] | None = None
    note: str | None = None
    submitted_at: datetime | None = None
    migration_id: uuid.UUID | None = None


async def save_report(conn: Conn, ctx: Context, ref: s.ReportRef, body: s.ValuesIn
                      ) -> s.ReportOut:
    """Save a unit's values for a year as a draft (replacing the values saved before)."""
    return await write_report(conn, ctx, ref, Action.SAVE, Entry(values=body.values))


async def submit_report(conn: Conn, ctx: Context, ref: s.ReportRef, body: s.SubmitIn
                        ) -> s.ReportOut:
    """Submit the report (with ``values``, or the saved draft) to the level above."""
    return await write_report(conn, ctx, ref, Action.SUBMIT, Entry(values=body.values))


async def return_report(conn: Conn, ctx: Context, ref: s.ReportRef, body: s.ReasonIn
                        ) -> s.ReportOut:
    """Return a submitted report to its unit for correction, with a reason."""
    return await write_report(conn, ctx, ref, Action.RETURN, Entry(note=body.reason))


async def accept_report(conn: Conn, ctx: Context, ref: s.ReportRef) -> s.ReportOut:
    """Accept a submitted report; it is then locked."""
    return await write_report(conn, ctx, ref, Action.ACCEPT)


async def confirm_report(conn: Conn, ctx: Context, ref: s.ReportRef, body: s.ConfirmIn
                         ) -> s.ReportOut:
    """Make a report's figures official after the yearly household poverty review (with the
    review's ``values``, or the estimates as they are): the level right above, as it accepts
    reports; a new version, with who and when."""
    return await write_report(conn, ctx, ref, Action.CONFIRM,
                              Entry(values=body.values, note=body.note))


async def reopen_report(conn: Conn, ctx: Context, ref: s.ReportRef, body: s.ReasonIn
                        ) -> s.ReportOut:
    """Reopen an accepted report (board), with a reason."""
    return await write_report(conn, ctx, ref, Action.REOPEN, Entry(note=body.reason))


@dataclass(frozen=True)
class _Subject:
    """What a report write needs to know about its campaign year and unit."""

    due_at: datetime
    unit: UnitOnDate
    ref_day: date  # the day the unit's place in the hierarchy is read on


@dataclass
class _Write:
    """A report write under way: the report's row as it becomes, and what the steps need."""

    ctx: Context
    subject: _Subject
    catalogue: dict[str, Indicator]
    report: dict[str, Any]  # the row, with its new status and version
    before: dict[str, Any] | None  # the row as it was (None: a new report)
    now: datetime
    read: Mapping[str, Any]  # the report's row of ``repository.read_reports``
    history: list[tuple[int, dict[str, Any]]]  # the latest earlier year's submitted values
    note: str | None = None
    migration: asyncpg.Record | None = None
    event: BaseModel | None = None


@dataclass(frozen=True)
class CampaignPlan:
    """What never changes in a campaign once it is created (no statement updates campaigns,
    their cycles or their copy of the catalogue): its row, due dates and catalogue. Kept in
    the process after the first read, so a report write reads none of it."""

    row: asyncpg.Record
    due: dict[int, datetime]
    catalogue: dict[str, Indicator]

    def check_year(self, year: int) -> None:
        first, last = self.row["first_year"], self.row["last_year"]
        if not first <= year <= last:
            raise InvalidInput.on("year", en_vi(
                f"is outside the campaign ({first}–{last})",
                f"nằm ngoài thời gian của phong trào ({first}–{last})"))


_PLANS: dict[uuid.UUID, CampaignPlan] = {}


async def campaign_plan(conn: Conn, campaign_id: uuid.UUID) -> CampaignPlan:
    plan = _PLANS.get(campaign_id)
    if plan is None:
        row = await campaign(conn, campaign_id)
        plan = CampaignPlan(row, {c["year"]: c["due_at"]
                                  for c in await repository.cycles(conn, campaign_id)},
                            await repository.campaign_catalogue(conn, campaign_id))
        if len(_PLANS) >= 1000:  # a bound, far above the campaigns a deployment runs
            _PLANS.clear()
        _PLANS[campaign_id] = plan
    return plan


@dataclass(frozen=True)
class Written:
    """A report as a write left it; ``answer()`` is what the API answers with."""

    report: dict[str, Any]
    due_at: datetime
    history: list[tuple[int, Any]]
    read: Mapping[str, Any]
    saved: bool = True  # False: the report changed since it was read; nothing was written

    def answer(self) -> s.ReportOut:
        return _report_out(self.report, self.due_at, self.history, self.read)


Outcome = Written | AppError | DomainError


async def write_report(conn: Conn, ctx: Context, ref: s.ReportRef, action: Action,
                       entry: Entry = Entry()) -> s.ReportOut:
    """Save, submit, return, accept or reopen a report: one new version each time.

    Inside a transaction, the report is locked while it is read and written. Outside one
    (the API's report steps: ``Write.statement``), it is read in one statement and written in
    another that checks it has not changed since: two round trips. If it has (another
    request wrote it in between), it is worked out again in a transaction that locks it."""
    locked = conn.is_in_transaction()
    mark = ctx.effects_mark()
    (outcome,) = await write_reports(conn, ctx, ref.campaign_id, action, [(ref, entry)],
                                     lock=locked)
    if isinstance(outcome, Exception):
        raise outcome
    if outcome.saved:
        return outcome.answer()
    ctx.drop_effects(mark)  # of the attempt that wrote nothing
    m.REPORT_WRITE_RACES.inc()
    async with conn.transaction():
        return await write_report(conn, ctx, ref, action, entry)


async def write_reports(conn: Conn, ctx: Context, campaign_id: uuid.UUID, action: Action,
                        writes: list[tuple[s.ReportRef, Entry]], lock: bool = True
                        ) -> list[Outcome]:
    """``action`` on many reports of a campaign (each unit and year once): each one's answer,
    or why it was refused. Written only if none is refused (the caller then raises, so its
    transaction writes nothing). However many the reports, they are read in one or two
    statements (``repository.read_reports``; ``lock``: in a transaction) and written in one.
    A report's checks read only reports of earlier years, so the writes of one year need no
    order."""
    plan = await campaign_plan(conn, campaign_id)
    for ref, _ in writes:
        plan.check_year(ref.year)
    now = clock.now()
    migrations = await _backfills(conn, ctx, action, writes, now)
    keys = [(ref.unit_id, ref.year) for ref, _ in writes]
    today = clock.today()
    reads = await repository.read_reports(conn, today, campaign_id, keys,
                                          ctx.principal.unit_id,
                                          action in domain.REVIEWS_OF_A_SUBMISSION, lock)
    outcomes: list[Outcome] = []
    done: list[_Write] = []
    for i, (ref, entry) in enumerate(writes):
        try:
            migration = migrations.get(i)
            if isinstance(migration, Exception):
                raise migration
            read = reads[ref.unit_id, ref.year]
            w = _prepare(ctx, ref, action, entry, plan, read, read, today, now, migration)
        except (AppError, DomainError) as refusal:
            outcomes.append(refusal)
        else:
            done.append(w)
            outcomes.append(Written(w.report, w.subject.due_at, w.history, w.read))
    if len(done) == len(writes) and not await _record(conn, ctx, action, done):
        return [Written(w.report, w.subject.due_at, w.history, w.read, saved=False)
                for w in done]
    return outcomes


async def _backfills(conn: Conn, ctx: Context, action: Action,
                     writes: list[tuple[s.ReportRef, Entry]], now: datetime
                     ) -> dict[int, asyncpg.Record | AppError | DomainError]:
    """For each write (by its index) with a historical submission time: the open data
    migration it is recorded within, or why it may not be (each migration read once)."""
    found: dict[int, asyncpg.Record | AppError | DomainError] = {}
    read: dict[uuid.UUID | None, asyncpg.Record | AppError | DomainError] = {}
    for i, (ref, entry) in enumerate(writes):
        if entry.submitted_at is None:
            continue
        try:
            domain.check_backfill(ctx.principal.roles, action, entry.submitted_at, ref.year,
                                  now)
        except DomainError as refusal:
            found[i] = refusal
            continue
        if entry.migration_id not in read:
            try:
                read[entry.migration_id] = await backfill_migration(conn, entry.migration_id)
            except (AppError, DomainError) as refusal:
                read[entry.migration_id] = refusal
        found[i] = read[entry.migration_id]
    return found


def _prepare(ctx: Context, ref: s.ReportRef, action: Action, entry: Entry, plan: CampaignPlan,
             subject_row: Mapping[str, Any], read: Mapping[str, Any], today: date, now: datetime,
             migration: asyncpg.Record | None) -> _Write:
    """One report's write, worked out from what was read: every rule, the new row, its
    event."""
    note = entry.note
    if migration is not None:
        note = "; ".join(filter(None, (note, _within(migration))))
    subject = _subject(plan, ref, subject_row)
    _check_actor(ctx, action, subject_row, today)
    w = _open(ctx, ref, action, subject, plan, read, now)
    w.note, w.migration = note, migration
    if action in domain.REVIEWS_OF_A_SUBMISSION:
        domain.check_separation(action, ctx.principal.subject, read["last_submitter"])
    if entry.values is not None:
        _enter(w, entry.values)
    w.report["warnings"] = [found.model_dump() for found in
                            domain.warnings(w.report["values"], w.history, ref.year)]
    w.event = STEPS[action](w, entry)
    return w


def _subject(plan: CampaignPlan, ref: s.ReportRef, row: Mapping[str, Any]) -> _Subject:
    if row["active_day"] is None:
        raise InvalidInput.on("unit_id", en_vi(
            f"is not a unit active in {ref.year}",
            f"không phải là đơn vị đang hoạt động năm {ref.year}"))
    unit = UnitOnDate(unit_id=ref.unit_id, kind=UnitKind(row["kind"]), code=row["code"],
                      name=row["name"], subkind=row["subkind"], parent_id=row["parent_id"])
    if unit.kind.value not in plan.row["participating_kinds"]:
        raise InvalidInput.on("unit_id", en_vi(
            f"a {unit.kind} does not report in this campaign",
            f"đơn vị loại {unit.kind} không báo cáo trong phong trào này"))
    return _Subject(plan.due[ref.year], unit, row["active_day"])


def _check_actor(ctx: Context, action: Action, row: Mapping[str, Any], today: date) -> None:
    """The unit's reporters enter its report, the board reopens it, the level right above
    reviews it. Authority is the acting unit's on the day of the action, as the hierarchy
    stands that day (a former parent has lost it, the current one holds it); the report's
    unit itself is judged as it stood in the report's year (``_subject``). The level above a
    unit closed with its district is the level above that (the first that exists today),
    else only an administrator could review its reports."""
    principal = ctx.principal
    role = domain.ACTING_ROLE.get(action)
    if role is None:
        if Role.ADMIN not in principal.roles and not row["acting"]:
            hierarchy.check_authority(principal, [], False, today)
        domain.check_reviewer(principal.roles, principal.unit_id, row["reviewing_unit"])
        return
    require_role(principal, role)
    hierarchy.check_authority(principal, list(row["chain"]), row["acting"], today,
                              "the report's unit")


def _open(ctx: Context, ref: s.ReportRef, action: Action, subject: _Subject,
          plan: CampaignPlan, read: Mapping[str, Any], now: datetime) -> _Write:
    """The report as it becomes: its next status and version."""
    exists = read["report_id"] is not None
    if not exists and action not in (Action.SAVE, Action.SUBMIT):
        raise NotFound(en_vi(f"no report of unit {ref.unit_id} for {ref.year}",
                             f"đơn vị {ref.unit_id} chưa có báo cáo năm {ref.year}"))
    status = domain.next_status(ReportStatus(read["status"]) if exists else None, action)
    report: dict[str, Any] = {
        "report_id": read["report_id"] if exists else uuid.uuid4(),
        "campaign_id": ref.campaign_id, "unit_id": ref.unit_id, "year": ref.year}
    if exists:
        report.update((c, read[c]) for c in repository.REPORT_COLUMNS[4:])
    else:
        report.update(version=0, values={}, warnings=[], first_submitted_at=None,
                      submitted_at=None, on_time=None, accepted_at=None, submitted_values=None,
                      figures=Figures.ESTIMATED.value)
    before = _row_json(report) if exists else None
    report["status"] = status.value
    report["version"] += 1
    latest = read["latest"]  # what the checks compare with: the latest earlier year
    history = [] if latest is None else [(latest[0], latest[1])]
    return _Write(ctx, subject, plan.catalogue, report, before, now, read, history)


def _enter(w: _Write, values: dict[str, Value]) -> None:
    problems = domain.check_values(values, w.catalogue, w.subject.unit.kind)
    if problems:
        m.REPORT_REFUSALS.labels("invalid_values").inc()
        raise _refused(en_vi(f"{len(problems)} value(s) refused",
                             f"{len(problems)} giá trị không được chấp nhận"), problems)
    w.report["values"] = {k: _num(v) for k, v in values.items()}


def _refused(detail: str, problems: list[domain.Problem]) -> InvalidInput:
    return InvalidInput(detail, [FieldError(field=p.field, message=p.message)
                                 for p in problems])


_JSON_COLUMNS = frozenset({"values", "warnings", "submitted_values"})


async def _record(conn: Conn, ctx: Context, action: Action, writes: list[_Write]) -> bool:
    """The new versions, the audit rows of the changes (naming the data migration of a
    back-filled submission) and the events, in one statement; False when nothing was written
    (a report changed since it was read)."""
    columns = [[_column(c, w.report[c]) for w in writes] for c in repository.REPORT_COLUMNS]
    for i, w in enumerate(writes):  # the same values, submitted: encoded once
        if w.report["submitted_values"] is w.report["values"]:
            columns[_SUBMITTED_VALUES][i] = columns[_VALUES][i]
    changes = [audit.Change(
        f"report.{action.value}", "report", str(w.report["report_id"]), w.before,
        _row_json(w.report) | ({"reason": w.note} if w.note else {})
        | ({"data_migration": _migration_json(w.migration)} if w.migration else {}))
        for w in writes]
    events = [(str(w.report["unit_id"]), w.event) for w in writes if w.event is not None]
    saved = await repository.record_reports(
        conn, columns, [action.value] * len(writes), [w.note for w in writes],
        ctx.principal.subject, ctx.audit_args(changes),
        ctx.outbox_args(events) if events else None)
    if saved:
        ctx.after_commit(partial(m.REPORT_ACTIONS.labels(action.value).inc, len(writes)))
    return saved


_VALUES = repository.REPORT_COLUMNS.index("values")
_SUBMITTED_VALUES = repository.REPORT_COLUMNS.index("submitted_values")


def _column(name: str, value: Any) -> Any:
    if name in _JSON_COLUMNS and value is not None:
        return to_json(value).decode()  # plain numbers and strings: as json.dumps, faster
    return value


def _about(w: _Write) -> dict[str, Any]:
    """What every report event says about its report."""
    return {k: w.report[k] for k in ("report_id", "campaign_id", "unit_id", "year", "version")}


# The steps: what each action changes beyond the values, and the event it sends.

def _save(w: _Write, entry: Entry) -> None:
    return None  # a draft is the unit's own business: no event


def _submit(w: _Write, entry: Entry) -> ev.ReportSubmittedV2:
    """Submitted figures are estimates until the poverty review makes them official."""
    r = w.report
    _check_required(w)
    resubmission = r["first_submitted_at"] is not None
    r["submitted_at"] = entry.submitted_at or w.now
    r["first_submitted_at"] = r["first_submitted_at"] or r["submitted_at"]
    r["on_time"] = domain.is_on_time(r["first_submitted_at"], w.subject.due_at)
    r["figures"] = Figures.ESTIMATED.value
    w.ctx.after_commit(m.REPORTS_SUBMITTED.labels("on_time" if r["on_time"] else "late").inc)
    return _submitted(w, resubmission)


def _confirm(w: _Write, entry: Entry) -> ev.ReportSubmittedV2:
    """The review's official figures (or the estimates, as they are) become the report's."""
    domain.check_confirmable(Figures(w.before["figures"] if w.before else "estimated"))
    _check_required(w)
    w.report["figures"] = Figures.OFFICIAL.value
    return _submitted(w, resubmission=True)


def _check_required(w: _Write) -> None:
    missing = domain.missing_required(w.report["values"], w.catalogue, w.subject.unit.kind)
    if missing:
        m.REPORT_REFUSALS.labels("missing_required").inc()
        raise _refused(en_vi(f"{len(missing)} required value(s) missing",
                             f"thiếu {len(missing)} giá trị bắt buộc"), missing)


def _submitted(w: _Write, resubmission: bool) -> ev.ReportSubmittedV2:
    r = w.report
    r["submitted_values"] = r["values"]
    return ev.ReportSubmittedV2(
        **_about(w), values=r["values"], submitted_at=r["submitted_at"],
        due_at=w.subject.due_at, on_time=r["on_time"], resubmission=resubmission,
        warnings=[ReportWarning(**found) for found in r["warnings"]],
        figures=Figures(r["figures"]), status=r["status"])


def _return(w: _Write, entry: Entry) -> ev.ReportReturned:
    return ev.ReportReturned(**_about(w), reason=entry.note or "")


def _accept(w: _Write, entry: Entry) -> ev.ReportAccepted:
    w.report["accepted_at"] = w.now
    return ev.ReportAccepted(**_about(w), accepted_by_unit_id=w.ctx.principal.unit_id)


def _reopen(w: _Write, entry: Entry) -> ev.ReportReopened:
    w.report["accepted_at"] = None
    return ev.ReportReopened(**_about(w), reason=entry.note or "")


STEPS: dict[Action, Callable[[_Write, Entry], BaseModel | None]] = {
    Action.SAVE: _save, Action.SUBMIT: _submit, Action.RETURN: _return,
    Action.ACCEPT: _accept, Action.REOPEN: _reopen, Action.CONFIRM: _confirm,
}


def _num(v: Value) -> Value:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _row_json(report: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else str(v)
                if isinstance(v, uuid.UUID) else v) for k, v in report.items()
            if k != "updated_at"}


async def get_report(conn: Conn, ref: s.ReportRef) -> s.ReportOut:
    await campaign_year(conn, ref.campaign_id, ref.year)
    row = await _find_report(conn, ref)
    due = await repository.due_at(conn, ref.campaign_id, ref.year)
    assert due is not None
    return await _read_report_out(conn, dict(row), due)


async def report_history(conn: Conn, ctx: Context, ref: s.ReportRef
                         ) -> list[s.ReportVersionOut]:
    """Every version of a report, with who acted: officials' identities, so read only within
    the caller's subtree as the hierarchy stands today (the board: its province; an
    administrator: all), and every read is recorded in the audit log."""
    await campaign_year(conn, ref.campaign_id, ref.year)
    await hierarchy.ensure_authority(conn, ctx.principal, ref.unit_id, clock.today(),
                                     "the report's unit")
    row = await _find_report(conn, ref)
    await ctx.audit(conn, "report.history_read", "report", row["report_id"], None, None)
    return [s.ReportVersionOut(version=r["version"], action=r["action"], status=r["status"],
                               values=r["values"], warnings=r["warnings"], note=r["note"],
                               actor=r["actor"], at=r["at"], figures=r["figures"])
            for r in await repository.versions(conn, row["report_id"])]


async def _find_report(conn: Conn, ref: s.ReportRef) -> asyncpg.Record:
    row = await repository.find_report(conn, ref.campaign_id, ref.unit_id, ref.year)
    if row is None:
        raise NotFound(en_vi(f"no report of unit {ref.unit_id} for {ref.year}",
                             f"đơn vị {ref.unit_id} chưa có báo cáo năm {ref.year}"))
    return row


async def _read_report_out(conn: Conn, report: dict[str, Any], due: datetime) -> s.ReportOut:
    """A stored report's answer: what it is derived from read for it."""
    history = await repository.earlier_values(conn, report["campaign_id"], report["unit_id"],
                                              report["year"])
    target = await repository.target(conn, report["campaign_id"], report["year"],
                                     report["unit_id"])
    national = await repository.national_average(conn, report["year"])
    return _answer(report, due, history, target, national)


def _report_out(report: dict[str, Any], due: datetime, history: list[tuple[int, Any]],
                read: Mapping[str, Any]) -> s.ReportOut:
    """A written report's answer, from what the write read (``repository.open_reports``)."""
    national = read["national_average"]
    return _answer(report, due, history, repository.target_of(read),
                   float(national) if national is not None else None)


def _answer(report: dict[str, Any], due: datetime, history: list[tuple[int, Any]],
            target: poverty.Target | None, national: float | None) -> s.ReportOut:
    previous = history[-1][1] if history and history[-1][0] == report["year"] - 1 else None
    d = poverty.derive(report["values"], previous, target, national)
    return s.ReportOut(
        report_id=report["report_id"], campaign_id=report["campaign_id"],
        unit_id=report["unit_id"], year=report["year"], status=report["status"],
        version=report["version"], values=report["values"], derived=_derived_out(d),
        warnings=report["warnings"], due_at=due,
        first_submitted_at=report["first_submitted_at"], submitted_at=report["submitted_at"],
        on_time=report["on_time"], figures=report["figures"])


def _derived_out(d: poverty.Derived) -> s.DerivedOut:
    return s.DerivedOut(
        poor_rate_pct=d.poor_rate_pct, near_poor_rate_pct=d.near_poor_rate_pct,
        reduction_pp=d.reduction_pp, target_attainment_pct=d.target_attainment_pct,
        target_met=d.target_met, national_average_pct=d.national_average_pct,
        at_or_below_national_average=d.at_or_below_national_average)


# --------------------------------------------------------------------------- views


async def status_board(conn: Conn, campaign_id: uuid.UUID, year: int,
                       root_id: uuid.UUID | None) -> s.StatusBoard:
    """Every unit expected to report for ``year``, with its report's status and punctuality;
    a unit with no report after the due date is ``missing``."""
    row = await campaign_year(conn, campaign_id, year)
    due = await repository.due_at(conn, campaign_id, year)
    assert due is not None
    day = domain.eve_of(due)
    units = (await hierarchy.subtree(conn, root_id, day) if root_id
             else await hierarchy.active_on(conn, day))
    expected = [u for u in units if u.kind.value in row["participating_kinds"]]
    reports = await repository.reports_of_year(conn, campaign_id, year,
                                               [u.unit_id for u in expected])
    now = clock.now()
    rows: list[s.UnitReportStatus] = []
    counts: dict[str, int] = {}
    for u in expected:
        r = reports.get(u.unit_id)
        first = r["first_submitted_at"] if r else None
        if first is not None:
            punctuality = "on_time" if domain.is_on_time(first, due) else "late"
        else:
            punctuality = "missing" if now >= due else "not_yet_due"
        counts[punctuality] = counts.get(punctuality, 0) + 1
        rows.append(s.UnitReportStatus(
            unit_id=u.unit_id, code=u.code, name=u.name, kind=u.kind, parent_id=u.parent_id,
            status=r["status"] if r else None, submitted_at=r["submitted_at"] if r else None,
            on_time=r["on_time"] if r else None, punctuality=punctuality))
    return s.StatusBoard(campaign_id=campaign_id, year=year, due_at=due, counts=counts,
                         units=rows)


async def aggregate(conn: Conn, campaign_id: uuid.UUID, year: int, unit_id: uuid.UUID,
                    level: UnitKind) -> s.AggregateOut:
    """Sums of the submitted reports of the units of kind ``level`` under ``unit_id``, and the
    rates derived from those sums (never an average of rates).

    The reduction in points compares like with like: both years' sums over the units that
    reported in both (``reduction_reports`` of them), so a unit missing one year does not
    make a fake reduction (or increase). The rates of the year are over all its reports."""
    await campaign_year(conn, campaign_id, year)
    catalogue = await repository.campaign_catalogue(conn, campaign_id)

    async def submitted(y: int) -> dict[uuid.UUID, dict[str, Value]]:
        day = await hierarchy.last_day_active(conn, unit_id, date(y, 1, 1), date(y, 12, 31))
        if day is None:
            return {}
        units = [u.unit_id for u in await hierarchy.subtree(conn, unit_id, day)
                 if u.kind is level]
        # what was submitted, not a draft being corrected
        return {u: r["submitted_values"] for u, r in (await repository.reports_of_year(
            conn, campaign_id, y, units)).items() if r["submitted_values"] is not None}

    await _active_day(conn, unit_id, year)
    now, before = await submitted(year), await submitted(year - 1)
    both = sorted(set(now) & set(before))
    values = domain.aggregate(now.values(), catalogue)
    target = await repository.target(conn, campaign_id, year, unit_id)
    d = poverty.derive(values, domain.aggregate((before[u] for u in both), catalogue)
                      if both else None, target,
                      await repository.national_average(conn, year),
                      current_for_reduction=domain.aggregate((now[u] for u in both), catalogue))
    return s.AggregateOut(campaign_id=campaign_id, year=year, unit_id=unit_id, level=level,
                          reports=len(now), previous_reports=len(before),
                          reduction_reports=len(both), values=values, derived=_derived_out(d))


# --------------------------------------------------------------------------- overdue


async def emit_overdue(conn: Conn, ctx: Context) -> int:
    """Send ``report.overdue`` once for each unit still missing its report after a due date;
    return how many were sent.

    Only due dates that pass while the campaign exists count: a cycle whose due date was
    already past when the campaign was created (a campaign set up afterwards, whose earlier
    years are back-filled) never sends ``report.overdue``: nobody could have reported in time
    in a campaign that did not exist. Its status board still shows who is late or missing."""
    sent = 0
    for cycle in await repository.cycles_past_due(conn, clock.now()):
        campaign_id, year, due = cycle["campaign_id"], cycle["year"], cycle["due_at"]
        for unit_id in await repository.missing_at_due(
                conn, campaign_id, year, due, domain.eve_of(due),
                list(cycle["participating_kinds"])):
            if await repository.add_overdue_notice(conn, campaign_id, year, unit_id):
                await ctx.publish(conn, str(unit_id), ev.ReportOverdue(
                    campaign_id=campaign_id, unit_id=unit_id, year=year, due_at=due))
                sent += 1
    ctx.after_commit(partial(m.OVERDUE_NOTICES.inc, sent))
    return sent


# --------------------------------------------------------------------------- data migrations


def _migration_out(row: asyncpg.Record) -> s.DataMigrationOut:
    return s.DataMigrationOut(**{k: row[k] for k in s.DataMigrationOut.model_fields})


def _migration_json(row: asyncpg.Record) -> dict[str, Any]:
    return _migration_out(row).model_dump(mode="json")


def _within(migration: asyncpg.Record) -> str:
    """What a back-filled version's note says of its data migration."""
    return (f"within data migration {migration['reference']} "
            f"({migration['migration_id']})")


async def backfill_migration(conn: Conn, migration_id: uuid.UUID | None) -> asyncpg.Record:
    """The open data migration a back-filled submission is recorded within, held (``FOR
    SHARE``) so that it is not closed before the submission commits."""
    if migration_id is None:
        raise RuleBroken("migration_id", en_vi(
            "is required with a historical submission time: name the open data migration "
            "it is recorded within (POST /v1/data-migrations opens one)",
            "là bắt buộc khi ghi thời điểm nộp trong quá khứ: hãy nêu đợt chuyển đổi dữ "
            "liệu đang mở (mở bằng POST /v1/data-migrations)"))
    row = await repository.data_migration(conn, migration_id, lock="SHARE")
    if row is None:
        raise RuleBroken("migration_id", en_vi(f"no data migration {migration_id}",
                                              f"không có đợt chuyển đổi dữ liệu {migration_id}"))
    if row["closed_at"] is not None:
        raise RuleBroken("migration_id", en_vi(
            f"data migration {row['reference']} is closed: open another one",
            f"đợt chuyển đổi dữ liệu {row['reference']} đã đóng: hãy mở đợt khác"))
    return row


async def open_data_migration(conn: Conn, ctx: Context, body: s.DataMigrationIn
                               ) -> s.DataMigrationOut:
    """Open a data migration (administrator): back-filled submissions name it."""
    require_role(ctx.principal, Role.ADMIN)
    row = await repository.insert_data_migration(conn, uuid.uuid4(), body.reference,
                                                 body.reason, ctx.principal.subject)
    out = _migration_out(row)
    await ctx.audit(conn, "data_migration.open", "data_migration", out.migration_id, None,
                    out.model_dump(mode="json"))
    return out


async def close_data_migration(conn: Conn, ctx: Context, migration_id: uuid.UUID
                               ) -> s.DataMigrationOut:
    """Close a data migration (administrator): nothing more is back-filled within it."""
    require_role(ctx.principal, Role.ADMIN)
    before = await repository.data_migration(conn, migration_id, lock="UPDATE")
    if before is None:
        raise NotFound(en_vi(f"data migration {migration_id} not found",
                             f"không có đợt chuyển đổi dữ liệu {migration_id}"))
    if before["closed_at"] is not None:
        raise StateConflict(en_vi(f"data migration {before['reference']} is closed already",
                                  f"đợt chuyển đổi dữ liệu {before['reference']} đã đóng"))
    out = _migration_out(await repository.close_data_migration(conn, migration_id,
                                                               ctx.principal.subject))
    await ctx.audit(conn, "data_migration.close", "data_migration", migration_id,
                    _migration_json(before), out.model_dump(mode="json"))
    return out


async def list_data_migrations(conn: Conn, principal: Principal) -> list[s.DataMigrationOut]:
    """Every data migration, the latest first (administrator: they name who opened them)."""
    require_role(principal, Role.ADMIN)
    return [_migration_out(r) for r in await repository.data_migrations(conn)]
