"""Applying the events of the other services to the read models (facts and rollups).

Rollups are kept exact the simple way: an event that touches a unit's figures recomputes, from
the facts, only the rollup rows it can change (the unit's districts and province, in its year
and the next, whose reduction compares with it). The same function builds every row in a
rebuild, so a rollup always equals a recomputation from the facts once the consumers caught up.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg
from pydantic_core import to_json

from chungtay_common import hierarchy
from chungtay_common.contracts import awards as aw
from chungtay_common.contracts import indicators as ind
from chungtay_common.contracts.indicators import Figures
from chungtay_common.contracts.registration import UnitEvent, UnitMerged, UnitSplit
from chungtay_common.db import Conn
from services.reporting import domain, repository
from services.reporting.repository import exemplary
from services.reporting.service import deltas

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


def _submission(ev: ind.ReportSubmitted) -> tuple[Any, ...]:
    """The arguments of ``repository.save_submission`` for the event."""
    return (ev.campaign_id, ev.unit_id, ev.year, ev.report_id, ev.version, dict(ev.values),
            [w.model_dump() for w in ev.warnings], ev.submitted_at, ev.on_time,
            getattr(ev, "figures", Figures.ESTIMATED).value,  # v1: estimates
            getattr(ev, "status", "submitted"))


def _as_json_text(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The values (numbers only: the contract's) and the warnings as JSON text (encoded by
    pydantic's encoder: a fraction of the standard library's cost, read back by PostgreSQL as
    the same numbers)."""
    values, warnings = row[5], row[6]
    return (*row[:5], to_json(values).decode(),
            to_json(warnings).decode() if warnings else "[]", *row[7:])


async def record_submission(conn: Conn, ev: ind.ReportSubmitted) -> None:
    if await repository.save_submission(conn, *_submission(ev)):
        await refresh_around(conn, ev.campaign_id, ev.unit_id, ev.year, ev.year + 1)


async def record_submissions(conn: Conn, evs: Sequence[ind.ReportSubmitted]) -> None:
    """``record_submission`` of each event, in order, the facts in one round trip. In a
    batch, the facts it changed are kept, to be added to the rollups at the batch's end
    (``deltas``); else the rollups around each are refreshed (even for a version already
    held: a refresh recomputes from the facts, so the rows come out the same)."""
    rows = [_as_json_text(_submission(ev)) for ev in evs]
    pending = _pending.get()
    if pending is not None and not _deferred.get():
        pending.changes += [deltas.Change.of(r) for r in await repository.save_submissions(
            conn, rows, changes=True)]
        return
    await repository.save_submissions(conn, rows)
    for ev in evs:
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
    pending = _pending.get()
    if pending is not None:
        pending.hierarchy_changed = True
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
    if deferred:
        return
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
    kinds = [k.value for k in domain.ROLLUP_KINDS]
    found = await repository.rollup_roots_each(conn, [(u, start, end) for u in unit_ids], kinds)
    return set().union(*(f.roots for f in found))


async def refresh_around(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID,
                         first_year: int, last_year: int) -> None:
    """Recompute the rollups that hold ``unit_id``'s figures of ``first_year`` (and, through
    the reduction, of the years up to ``last_year``)."""
    if _deferred.get():
        return
    pending = _pending.get()
    if pending is not None:
        pending.around.add((campaign_id, unit_id, first_year, last_year))
        return
    roots = await _rollup_roots(conn, [unit_id], date(first_year, 1, 1),
                                date(last_year + 1, 1, 1))
    reads = Reads(conn)
    for year in range(first_year, last_year + 1):
        await refresh(conn, campaign_id, year, sorted(roots), reads)


async def refresh_all(conn: Conn) -> None:
    pending = _pending.get()
    if pending is not None:
        pending.everything = True
        return
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


@dataclass
class Pending:
    """The rollups the events of a batch asked to refresh, each refreshed once at its end."""

    rollups: set[tuple[uuid.UUID, int, uuid.UUID]] = field(default_factory=set)
    # (campaign, unit, first year, last year): resolved to rollups on the final hierarchy
    around: set[tuple[uuid.UUID, uuid.UUID, int, int]] = field(default_factory=set)
    everything: bool = False
    hierarchy_changed: bool = False  # a unit event is in the batch
    # facts the batch's submissions changed: added to the rollups by difference
    changes: list[deltas.Change] = field(default_factory=list)


@dataclass
class RootsSeen:
    """The rollups above a unit in a range of years, as found on the hierarchy of ``stamp``
    (where the views' consumers stood on the registration topic): a report's rollups are read
    from here while no unit event was applied since, by this process or another one."""

    stamp: object = None
    roots: dict[tuple[uuid.UUID, int, int], repository.RootsOver] = field(default_factory=dict)

    async def of_each(self, conn: Conn, keys: Sequence[tuple[uuid.UUID, int, int]],
                      pending: Pending) -> list[repository.RootsOver]:
        """The rollups above each ``(unit, first year, last year)``; those not seen yet are
        read in one statement."""
        missing = sorted({k for k in keys if k not in self.roots})
        if missing:
            found = await repository.rollup_roots_each(
                conn, [(unit_id, date(first, 1, 1), date(last + 1, 1, 1))
                       for unit_id, first, last in missing],
                [k.value for k in domain.ROLLUP_KINDS])
            seen = dict(zip(missing, found, strict=True))
            if pending.hierarchy_changed:
                return [seen[k] if k in seen else self.roots[k] for k in keys]
            self.roots.update(seen)
        return [self.roots[k] for k in keys]

    async def check(self, conn: Conn, pending: Pending) -> None:
        """Forget what another hierarchy (or this batch's unit events) may have changed."""
        stamp = None if pending.hierarchy_changed else await repository.hierarchy_stamp(
            conn, hierarchy.UNIT_EVENT_TYPES)
        if stamp is None or stamp != self.stamp:
            self.roots.clear()
            self.stamp = stamp


_roots_seen = RootsSeen()


_pending: ContextVar[Pending | None] = ContextVar("pending_refreshes", default=None)


@asynccontextmanager
async def refreshes_batched(conn: Conn) -> AsyncIterator[None]:
    """Apply a batch of events in the block, then refresh each rollup they touched once.

    Equal to refreshing after each event: a rollup is recomputed from the facts and the
    hierarchy, and at the end of the block it sees every event of the batch. A unit event
    names the rollups its units left (read before its snapshot is applied); a report's are
    read on the hierarchy at the end, which every unit event of the batch has reached."""
    pending = Pending()
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
    if _deferred.get():
        return
    if pending.everything:
        await refresh_all(conn)
        return
    await _roots_seen.check(conn, pending)
    reads = Reads(conn)  # what the deltas and the recomputations read, once a batch
    if pending.hierarchy_changed:  # the rollups the changes reach are recomputed
        pending.around.update(deltas.keys_of(deltas.recomputed(pending.changes)))
    else:  # first: a recomputation below overwrites what it also touches

        async def ancestry(conn: Conn, keys: Sequence[tuple[uuid.UUID, int, int]]
                           ) -> list[repository.RootsOver]:
            return await _roots_seen.of_each(conn, keys, pending)

        summable = await reads.summable() if pending.changes else frozenset[str]()
        pending.around.update(deltas.keys_of(await deltas.apply(
            conn, pending.changes, ancestry, summable)))
    around = sorted(pending.around)
    for (campaign_id, _, first_year, last_year), roots in zip(
            around, await _roots_seen.of_each(conn, [a[1:] for a in around], pending),
            strict=True):
        pending.rollups.update((campaign_id, year, root) for root in roots.roots
                               for year in range(first_year, last_year + 1))
    by_year: dict[tuple[uuid.UUID, int], list[uuid.UUID]] = {}
    for campaign_id, year, root in sorted(pending.rollups):
        by_year.setdefault((campaign_id, year), []).append(root)
    for (campaign_id, year), year_roots in by_year.items():
        await refresh(conn, campaign_id, year, year_roots, reads)


class Reads:
    """What the refreshes of one transaction read again and again (the catalogue, whether a
    year has reports), read once: within one transaction they do not change under it (events
    are applied under the views' lock; a batch refreshes after all its events)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._summable: frozenset[str] | None = None
        self._reported: dict[tuple[uuid.UUID, int], bool] = {}

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
    """Recompute the rollup rows of ``roots`` in the campaign's year from the facts and the
    hierarchy of the year: a few statements, however many roots."""
    if _deferred.get():
        return
    pending = _pending.get()
    if pending is not None:
        pending.rollups.update((campaign_id, year, root) for root in roots)
        return
    roots = sorted(set(roots))
    campaign = await repository.campaign(conn, campaign_id)
    due = await repository.cycle_due(conn, campaign_id, year)
    if campaign is None or due is None or not roots:
        return  # the campaign is not known yet: campaign.created refreshes its years
    reads = reads or Reads(conn)
    days = await repository.last_days(conn, roots, date(year, 1, 1), date(year, 12, 31))
    kinds = await repository.unit_kinds(conn, roots)
    gone = [r for r in roots if r not in days or r not in kinds]
    if gone:
        await repository.delete_rollups(conn, campaign_id, year, gone)
    live = [r for r in roots if r in days and r in kinds]
    if not live:
        return
    reports = await _commune_reports(reads, campaign_id, year, {r: days[r] for r in live})
    before_days = await repository.last_days(conn, live, date(year - 1, 1, 1),
                                             date(year - 1, 12, 31))
    before = await _commune_reports(reads, campaign_id, year - 1, before_days)
    counts = await repository.reports_expected_each(
        conn, live, domain.eve_of(due), campaign["participating_kinds"], campaign_id, year, due)
    summable = await reads.summable()
    rows = []
    for root in live:
        now, then = reports.get(root, {}), before.get(root, {})
        s = domain.sums({u: r["values"] for u, r in now.items()},
                        {u: r["values"] for u, r in then.items()}, summable)
        rows.append({
            "campaign_id": campaign_id, "year": year, "unit_id": root, "kind": kinds[root],
            "hierarchy_day": days[root], "reports": s.reports, "sums": s.sums,
            "official": sum(1 for r in now.values() if r["figures"] == Figures.OFFICIAL),
            "both_reports": s.both_reports, "both_now": s.both_now,
            "both_before": s.both_before, "due_at": due, **counts[root]})
    await repository.save_rollups(conn, rows)


async def _commune_reports(reads: Reads, campaign_id: uuid.UUID, year: int,
                           days: dict[uuid.UUID, date]
                           ) -> dict[uuid.UUID, dict[uuid.UUID, asyncpg.Record]]:
    """The commune reports of the year under each root as it stood on its day."""
    if not days or not await reads.reported(campaign_id, year):
        return {}
    return await repository.values_under_each(reads.conn, days, domain.SUMMED_KIND.value,
                                              campaign_id, year)
