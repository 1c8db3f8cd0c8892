"""Applying the events of the other services to the read models (facts and rollups).

Rollups are kept exact the simple way: an event that touches a unit's figures recomputes, from
the facts, only the rollup rows it can change (the unit's districts and province, in its year
and the next, whose reduction compares with it). The same function builds every row in a
rebuild, so a rollup always equals a recomputation from the facts once the consumers caught up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime

import asyncpg

from chungtay_common import hierarchy
from chungtay_common.contracts import awards as aw
from chungtay_common.contracts import indicators as ind
from chungtay_common.contracts.indicators import Figures
from chungtay_common.contracts.registration import UnitEvent, UnitMerged, UnitSplit
from chungtay_common.db import Conn
from services.reporting import domain, repository
from services.reporting.repository import exemplary

# --------------------------------------------------------------------------- applying events


async def record_campaign(conn: Conn, ev: ind.CampaignCreated) -> None:
    await repository.save_campaign(
        conn, ev.campaign_id, ev.code, ev.name, ev.first_year, ev.last_year,
        [k.value for k in ev.participating_kinds], [(c.year, c.due_at) for c in ev.cycles])
    roots = await repository.units_of_kinds(conn, [k.value for k in domain.ROLLUP_KINDS])
    reads = Reads(conn)
    for cycle in ev.cycles:
        await refresh(conn, ev.campaign_id, cycle.year, roots, reads)


async def record_indicator(conn: Conn, ev: ind.IndicatorDefined) -> None:
    if await repository.save_indicator(conn, ev.code, ev.version, ev.name_vi,
                                       ev.aggregation.value, ev.derived, ev.retired):
        await refresh_all(conn)  # what is summed may have changed


async def record_target(conn: Conn, ev: ind.TargetSet) -> None:
    await repository.save_target(conn, ev.campaign_id, ev.year, ev.unit_id, ev.model_dump())


async def record_national_average(conn: Conn, ev: ind.NationalAverageSet) -> None:
    await repository.save_national_average(conn, ev.year, ev.poor_rate_pct)


async def record_submission(conn: Conn, ev: ind.ReportSubmitted) -> None:
    if await repository.save_submission(
            conn, ev.campaign_id, ev.unit_id, ev.year, ev.report_id, ev.version,
            dict(ev.values), [w.model_dump() for w in ev.warnings], ev.submitted_at,
            ev.on_time, getattr(ev, "figures", Figures.ESTIMATED).value,  # v1: estimates
            getattr(ev, "status", "submitted")):
        await refresh_around(conn, ev.campaign_id, ev.unit_id, ev.year, ev.year + 1)


async def record_review(conn: Conn, ev: ind.ReportReturned | ind.ReportAccepted
                        | ind.ReportReopened, state: str) -> None:
    if await repository.save_state(conn, ev.campaign_id, ev.unit_id, ev.year, ev.version,
                                   state):
        await refresh_around(conn, ev.campaign_id, ev.unit_id, ev.year, ev.year)


async def record_unit_change(conn: Conn, ev: UnitEvent, since: date) -> None:
    """A unit event moves figures between rollups: those its units belonged to before and
    after, in the campaign years from the change on."""
    units = [s.unit_id for s in ev.units]
    deferred = _deferred.get()
    touched = set() if deferred else await _rollup_roots(conn, units, since, None)
    for snap in ev.units:
        await hierarchy.apply_snapshot(conn, snap)
    if not deferred:
        touched |= await _rollup_roots(conn, units, since, None)
    if isinstance(ev, UnitMerged):
        await repository.add_lineage(conn, [(p, ev.successor_id) for p in ev.predecessor_ids],
                                     ev.effective_date, "merge")
    elif isinstance(ev, UnitSplit):
        await repository.add_lineage(conn, [(ev.predecessor_id, s) for s in ev.successor_ids],
                                     ev.effective_date, "split")
    reads = Reads(conn)
    for campaign_id, year in await repository.campaign_years(conn):
        if year >= since.year:
            await refresh(conn, campaign_id, year, sorted(touched), reads)


async def record_nomination(conn: Conn, ev: aw.NominationSubmitted | aw.NominationReviewed
                            | aw.NominationAppraised | aw.NominationApproved
                            | aw.NominationRejected | aw.NominationReturned
                            | aw.NominationForwarded | aw.AwardRevoked, status: str) -> None:
    level = ev.decision.authority_level.value if isinstance(
        ev, aw.NominationApproved | aw.AwardRevoked) else None
    if isinstance(ev, aw.NominationForwarded):
        level = ev.authority_level.value
    await repository.save_nomination(conn, {
        "nomination_id": ev.nomination_id, "form_code": ev.form_code, "year": ev.year,
        "nominee_kind": ev.nominee.kind.value, "nominee_unit_id": ev.nominee.unit_id,
        "proposing_unit_id": ev.proposing_unit_id, "status": status,
        "authority_level": level})


async def record_exemplary_model(conn: Conn, ev: aw.ExemplaryModelRegistered
                                 | aw.ExemplaryModelChanged | aw.ExemplaryModelRecognised
                                 | aw.ExemplaryModelReplicated
                                 | aw.ExemplaryModelAwardLinked) -> None:
    """A model of the awards register as it stands, and a replication where one took place
    (counted in the summaries as they are read: no rollup changes)."""
    await exemplary.save_model(conn, ev.model_id, ev.name, ev.kind.value, ev.unit_id, ev.year,
                               ev.recognised)
    if isinstance(ev, aw.ExemplaryModelReplicated):
        r = ev.replication
        await exemplary.add_replication(conn, r.replication_id, ev.model_id, r.unit_id,
                                        r.replicated_on, r.outcome)


# --------------------------------------------------------------------------- rollups


async def _rollup_roots(conn: Conn, unit_ids: Iterable[uuid.UUID], start: date,
                        end: date | None) -> set[uuid.UUID]:
    """The districts and provinces above (or equal to) the units at some day of [start, end)."""
    kinds = {k.value for k in domain.ROLLUP_KINDS}
    roots: set[uuid.UUID] = set()
    for unit_id in unit_ids:
        # from the start of each of its periods in the range: a unit formed mid-year (or
        # after a gap) has no ancestry on the range's first day
        versions = await repository.unit_versions(conn, unit_id)
        for day in domain.period_starts(
                [(v["valid_from"], v["valid_to"]) for v in versions], start, end):
            for chain in await hierarchy.ancestries(conn, unit_id, day, end):
                roots.update(chain)
    return await repository.units_among(conn, roots, kinds)


async def refresh_around(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID,
                         first_year: int, last_year: int) -> None:
    """Recompute the rollups that hold ``unit_id``'s figures of ``first_year`` (and, through
    the reduction, of the years up to ``last_year``)."""
    if _deferred.get():
        return
    roots = await _rollup_roots(conn, [unit_id], date(first_year, 1, 1),
                                date(last_year + 1, 1, 1))
    reads = Reads(conn)
    for year in range(first_year, last_year + 1):
        await refresh(conn, campaign_id, year, sorted(roots), reads)


async def refresh_all(conn: Conn) -> None:
    roots = await repository.units_of_kinds(conn, [k.value for k in domain.ROLLUP_KINDS])
    reads = Reads(conn)
    for campaign_id, year in await repository.campaign_years(conn):
        await refresh(conn, campaign_id, year, roots, reads)


# A rebuild replays every event with refreshes deferred, then refreshes every rollup once.
_deferred: ContextVar[bool] = ContextVar("deferred_refreshes", default=False)


@contextmanager
def refreshes_deferred() -> Iterator[None]:
    token = _deferred.set(True)
    try:
        yield
    finally:
        _deferred.reset(token)


class Reads:
    """What the refreshes of one event read again and again (a unit's last day in a year,
    its kind, the catalogue), read once: within one transaction they do not change under it
    (events are applied one at a time)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._days: dict[tuple[uuid.UUID, int], date | None] = {}
        self._kinds: dict[uuid.UUID, str | None] = {}
        self._summable: frozenset[str] | None = None
        self._reported: dict[tuple[uuid.UUID, int], bool] = {}

    async def last_day(self, root: uuid.UUID, year: int) -> date | None:
        if (root, year) not in self._days:
            self._days[root, year] = await hierarchy.last_day_active(
                self.conn, root, date(year, 1, 1), date(year, 12, 31))
        return self._days[root, year]

    async def kind(self, unit_id: uuid.UUID) -> str | None:
        if unit_id not in self._kinds:
            self._kinds[unit_id] = await repository.unit_kind(self.conn, unit_id)
        return self._kinds[unit_id]

    async def summable(self) -> frozenset[str]:
        if self._summable is None:
            self._summable = await repository.summable(self.conn)
        return self._summable

    async def reported(self, campaign_id: uuid.UUID, year: int) -> bool:
        """Whether any unit reported for the campaign's year (else there is nothing to sum)."""
        if (campaign_id, year) not in self._reported:
            self._reported[campaign_id, year] = await repository.any_facts(
                self.conn, campaign_id, year)
        return self._reported[campaign_id, year]


async def refresh(conn: Conn, campaign_id: uuid.UUID, year: int,
                  roots: Iterable[uuid.UUID], reads: Reads | None = None) -> None:
    if _deferred.get():
        return
    campaign = await repository.campaign(conn, campaign_id)
    due = await repository.cycle_due(conn, campaign_id, year)
    if campaign is None or due is None:
        return  # the campaign is not known yet: campaign.created refreshes its years
    reads = reads or Reads(conn)
    for root in roots:
        await refresh_rollup(reads, campaign, year, due, root)


async def refresh_rollup(reads: Reads, campaign: asyncpg.Record, year: int, due: datetime,
                         root: uuid.UUID) -> None:
    """Recompute one rollup row from the facts and the hierarchy of the year."""
    conn, campaign_id = reads.conn, campaign["campaign_id"]
    day = await reads.last_day(root, year)
    kind = await reads.kind(root)
    if day is None or kind is None:
        await repository.delete_rollup(conn, campaign_id, year, root)
        return
    reports = await _commune_reports(reads, campaign_id, year, root, day)
    before_day = await reads.last_day(root, year - 1)
    before = (await _commune_reports(reads, campaign_id, year - 1, root, before_day)
              if before_day else {})
    s = domain.sums({u: r["values"] for u, r in reports.items()},
                    {u: r["values"] for u, r in before.items()}, await reads.summable())
    counts = await repository.reports_expected(
        conn, root, domain.eve_of(due), campaign["participating_kinds"], campaign_id, year, due)
    await repository.save_rollup(conn, {
        "campaign_id": campaign_id, "year": year, "unit_id": root, "kind": kind,
        "hierarchy_day": day, "reports": s.reports, "sums": s.sums,
        "official": sum(1 for r in reports.values() if r["figures"] == Figures.OFFICIAL),
        "both_reports": s.both_reports, "both_now": s.both_now, "both_before": s.both_before,
        "due_at": due, **{k: counts[k] for k in ("expected", "on_time", "late", "accepted")}})


async def _commune_reports(reads: Reads, campaign_id: uuid.UUID, year: int, root: uuid.UUID,
                           day: date) -> dict[uuid.UUID, asyncpg.Record]:
    if not await reads.reported(campaign_id, year):
        return {}
    return await repository.values_under(reads.conn, root, day, domain.SUMMED_KIND.value,
                                         campaign_id, year)
