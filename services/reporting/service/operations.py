"""What the reporting service does besides events and requests: the campaign gauges, rebuild
progress as metrics, freshness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import Gauge

from chungtay_common import clock
from chungtay_common.db import Conn
from services.reporting import domain, repository
from services.reporting import metrics as m
from services.reporting.schemas import Freshness, PartitionFreshness, TopicFreshness
from services.reporting.service.summaries import compliance_of, sums_of, target_of

# the campaign gauges read every rollup; they are set again when the views changed, and at
# least this often (what a rollup's punctuality counts moves with the clock at a due instant)
GAUGES_AT_LEAST_EVERY = 60.0
# rollups between two turns given back to the event loop: the consumers and requests share
# it, and a longer turn holds a batch of events up (about 5 ms)
_YIELD_EVERY = 20


class CampaignGauges:
    """Sets the campaign gauges from the rollups (district and province levels), and the age
    of each due date. Reading every rollup is work in proportion to the units: it is done
    only when the views changed (``repository.views_version``) or a minute has passed, and
    gives the event loop back every few rollups, so requests are not held up meanwhile."""

    def __init__(self, stamp: Callable[[Conn], Awaitable[Hashable]] | None = None,
                 set_gauges: Callable[[Conn], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # where the views stand, the gauges' setting and the time (a test gives its own)
        self._stamp = stamp or repository.views_stamp
        self._set_gauges = set_gauges or campaign_gauges
        self._clock = clock
        self._seen: Hashable = None
        self._at = 0.0

    async def update(self, conn: Conn) -> None:
        now = clock.now()
        for r in await repository.cycles_with_codes(conn):
            m.DUE_AGE.labels(r["code"], str(r["year"])).set((now - r["due_at"]).total_seconds())
        version = await self._stamp(conn)
        if version == self._seen and self._clock() - self._at < GAUGES_AT_LEAST_EVERY:
            return
        await self._set_gauges(conn)
        self._seen, self._at = version, self._clock()


async def campaign_gauges(conn: Conn) -> None:
    """Set the campaign gauges from the rollups (district and province levels)."""
    averages = await repository.national_averages(conn)
    now = clock.now()
    values: list[tuple[Gauge, tuple[str, ...], float]] = []
    done = 0
    for campaign in await repository.campaigns(conn):
        targets = {(r["year"], r["unit_id"]): r for r in await repository.all_targets(
            conn, campaign["campaign_id"])}
        for r in await repository.rollups_named(conn, campaign["campaign_id"]):
            done += 1
            if done % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            labels: tuple[str, ...] = (campaign["code"], str(r["year"]), r["kind"],
                                       r["code"] or "", r["name"])
            d = domain.figures(sums_of(r), target_of(targets.get((r["year"], r["unit_id"]))),
                               averages.get(r["year"]))
            for gauge, value in ((m.POOR_RATE, d.poor_rate_pct), (m.REDUCTION, d.reduction_pp),
                                 (m.ATTAINMENT, d.target_attainment_pct)):
                if value is not None:
                    values.append((gauge, labels, value))
            values.append((m.DUE_AGE, labels[:2], (now - r["due_at"]).total_seconds()))
            c = compliance_of(r, now)
            for punctuality in ("on_time", "late", "missing", "not_yet_due"):
                values.append((m.REPORTS, (*labels, punctuality), getattr(c, punctuality)))
    nominations = await repository.nomination_counts(conn)
    for (year, status), count in nominations["status"].items():
        values.append((m.NOMINATIONS, (str(year), status), count))
    for (year, form, level), count in nominations["awards"].items():
        values.append((m.AWARDS, (str(year), form, level), count))
    await _SERIES.set_all(values)


class _Series:
    """The campaign gauges' series, set all at once: a series set before is set again through
    the child it already has (making a child is most of the cost of setting a gauge), one
    not set any more is removed. Never cleared first, so a scrape in between sees each series
    with its old value or its new one, never none."""

    def __init__(self) -> None:
        self._children: dict[tuple[Gauge, tuple[str, ...]], Any] = {}

    async def set_all(self, values: Sequence[tuple[Gauge, tuple[str, ...], float]]) -> None:
        wanted: set[tuple[Gauge, tuple[str, ...]]] = set()
        for i, (gauge, labels, value) in enumerate(values):
            if i % (_YIELD_EVERY * 50) == 0:
                await asyncio.sleep(0)
            key = (gauge, labels)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = gauge.labels(*labels)
            child.set(value)
            wanted.add(key)
        for key in [k for k in self._children if k not in wanted]:
            gauge, labels = key
            del self._children[key]
            try:
                gauge.remove(*labels)
            except KeyError:
                pass  # cleared meanwhile (a test's doing)


_SERIES = _Series()


async def rebuild_progress(conn: Conn) -> None:
    row = await repository.last_rebuild(conn)
    if row is not None:
        m.REBUILD_EVENTS.set(row["events"])
        m.REBUILD_PROGRESS.set(row["read_ratio"])


async def freshness(conn: Conn, topics: list[str], ends: dict[TopicPartition, int] | None,
                    committed: dict[TopicPartition, int] | None) -> Freshness:
    """Per topic: the last event applied to the views, and how many messages on the topic the
    consumers have not yet taken (the end offset minus the committed one: a message is
    committed once applied, or skipped as a duplicate or a type the views do not read)."""
    applied = {(r["topic"], r["partition"]): r for r in await repository.positions(conn)}
    out = []
    for topic in topics:
        parts = sorted({p for t, p in applied if t == topic}
                       | {tp.partition for tp in (ends or {}) if tp.topic == topic})
        rows = []
        for p in parts:
            tp, done = TopicPartition(topic, p), applied.get((topic, p))
            end = ends.get(tp) if ends is not None else None
            taken = committed.get(tp) if committed is not None else None
            rows.append(PartitionFreshness(
                partition=p, applied_offset=done["offset"] if done else None, end_offset=end,
                lag=None if end is None or taken is None else max(0, end - taken)))
        mine = [r for (t, _), r in applied.items() if t == topic]
        last = max(mine, key=lambda r: r["occurred_at"], default=None)
        out.append(TopicFreshness(
            topic=topic, last_event_type=last["event_type"] if last else None,
            last_occurred_at=last["occurred_at"] if last else None,
            last_applied_at=max((r["applied_at"] for r in mine), default=None),
            lag=None if ends is None or committed is None else sum(r.lag or 0 for r in rows),
            partitions=rows))
    return Freshness(topics=out)
