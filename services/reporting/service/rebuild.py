"""Rebuild the read models from the log: replay every topic from its beginning into a fresh
schema, then swap it in atomically. The service keeps answering from the old views meanwhile.

1. A fresh schema is filled from offset 0 of every subscribed topic up to the ends seen at the
   start, with the rollups' refreshes deferred; then every rollup is computed once.
2. The swap takes the views' lock (the live consumers apply each event under it too),
   so no event is applied to the old views meanwhile; the fresh schema catches up to
   what the live consumers had applied, and the schemas are renamed in one transaction.
Events the live consumers apply afterwards are recognised by the fresh ``processed_events``
(copied by the replay), so nothing counts twice and nothing is lost.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from chungtay_common.consumer import partitions_of
from chungtay_common.db import create_pool
from chungtay_common.events import InvalidEvent, parse_event
from chungtay_common.settings import ServiceSettings
from chungtay_common.topics import topic_name
from services.reporting import repository
from services.reporting.consumers import APPLIERS, SUBSCRIPTIONS
from services.reporting.service import batches, updates
from services.reporting.service.batches import Appliers, Delivery

log = logging.getLogger(__name__)
BATCH = 2000  # events applied per transaction
PARSE_SLICE = 100  # events parsed between two turns of the event loop
# the collector's thresholds during a replay: a batch makes some 100,000 objects, freed by
# their reference counts once stored; collecting every 700 allocations (the default) scanned
# them again and again
_REPLAY_GC = (50_000, 20, 20)


@dataclass
class Progress:
    """Events read against the topics' ends seen at the start; drawn as a bar on a terminal."""

    total: int
    out: TextIO | None
    read: int = 0
    applied: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.monotonic)
    _drawn: float = 0.0

    @property
    def ratio(self) -> float:
        return 1.0 if self.total == 0 else min(1.0, self.read / self.total)

    @property
    def rate(self) -> float:
        return self.read / max(1e-6, time.monotonic() - self.started)

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.out is None or (not force and now - self._drawn < 0.2):
            return
        self._drawn = now
        filled = int(self.ratio * 30)
        self.out.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.ratio:6.1%} "
                       f"{self.read}/{self.total} events, {self.rate:,.0f} events/s ")
        self.out.flush()


class Replay:
    """Applies messages to the schema the pool's search path puts first, a batch per
    transaction (``batches.apply_batch``).

    The next batch is read and parsed while the database stores the one before (``apply``
    returns once the batch is handed over; ``drain`` waits for it): the parsing is this
    process's work, the storing mostly the database server's, and the machine has more than
    one core. Batches are stored one after the other, in the order read."""

    def __init__(self, pool: asyncpg.Pool, appliers: Appliers) -> None:
        self.pool = pool
        self.appliers = appliers
        self._storing: asyncio.Task[None] | None = None

    async def apply(self, records: list[ConsumerRecord[bytes, bytes]], progress: Progress
                    ) -> None:
        deliveries = await self._parsed(records, progress)
        await self.drain()
        self._storing = asyncio.create_task(self._store(deliveries, len(records), progress))

    async def drain(self) -> None:
        """Wait until every batch handed over is stored (raises what storing raised)."""
        storing, self._storing = self._storing, None
        if storing is not None:
            await storing

    async def _parsed(self, records: list[ConsumerRecord[bytes, bytes]], progress: Progress
                      ) -> list[Delivery]:
        deliveries = []
        for i, rec in enumerate(records):
            if i % PARSE_SLICE == 0:
                await asyncio.sleep(0)  # let the batch being stored send its next statement
            progress.read += 1
            try:
                env = parse_event(rec.value or b"")
            except InvalidEvent:
                continue  # the live consumer dead-lettered it
            if self.appliers.reads(env.event_type):
                deliveries.append(Delivery(env, rec.topic, rec.partition, rec.offset))
        return deliveries

    async def _store(self, deliveries: list[Delivery], read: int, progress: Progress) -> None:
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    applied = await batches.apply_batch(conn, deliveries, self.appliers)
            except Exception:
                # the live consumer dead-lettered the failing event; it must not stop every
                # rebuild: the batch again, one event at a time, without it
                log.exception("a batch failed: applying its events one at a time")
                async with conn.transaction():
                    applied = await batches.apply_each(conn, deliveries, self.appliers)
        progress.applied += len(applied)
        progress.skipped += read - len(applied)


async def _read_until(consumer: AIOKafkaConsumer, replay: Replay,
                      until: Mapping[TopicPartition, int], progress: Progress,
                      on_batch: Any = None) -> None:
    """Apply messages until every partition's position reaches its offset in ``until``."""
    try:
        while [tp for tp, end in until.items() if await _position(consumer, tp) < end]:
            fetched = await consumer.getmany(timeout_ms=500, max_records=BATCH)
            # everything read is applied, also past ``until``: a message skipped here would
            # be skipped for good (the position moved on); the live consumer later finds it
            # applied
            records = [r for rs in fetched.values() for r in rs]
            if records:
                await replay.apply(records, progress)
                if on_batch is not None:
                    await on_batch()
            progress.draw()
    finally:
        await replay.drain()


async def _position(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int:
    position: int = await consumer.position(tp)
    return position


@dataclass(frozen=True)
class Outcome:
    events: int
    applied: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / max(1e-6, self.seconds)


class RebuildRunning(Exception):
    """Another rebuild of the same views is running."""


async def run(settings: ServiceSettings, out: TextIO | None = sys.stderr, *,
              if_missing: bool = False) -> Outcome | None:
    """Rebuild the views of the service configured by ``settings``; returns what it replayed.

    One rebuild at a time: a second one is refused (``RebuildRunning``). With ``if_missing``
    (a service starting on a database without views, e.g. after an upgrade: its consumer
    group's offsets would not bring the old events again), it waits for a running rebuild and
    builds only when there are still no views of this code's definition (``GENERATION``)."""
    admin = await create_pool(settings.dsn(), 3, repository.SEARCH_PATH)
    try:
        async with admin.acquire() as holder:
            if if_missing:
                await repository.lock_rebuilds(holder)
                if await repository.views_current(holder):
                    await repository.unlock_rebuilds(holder)
                    return None
            elif not await repository.try_lock_rebuilds(holder):
                raise RebuildRunning("another rebuild of these views is running")
            try:
                return await _rebuild(settings, admin, out)
            finally:
                await repository.unlock_rebuilds(holder)
    finally:
        await admin.close()


async def _rebuild(settings: ServiceSettings, admin: asyncpg.Pool, out: TextIO | None
                   ) -> Outcome:
    # what the process holds before the replay (modules, models, clients) is frozen: the
    # collector's full collections, triggered again and again by the batches' objects, then
    # scan only what the replay itself keeps (a full collection of it all took about 50 ms)
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(*_REPLAY_GC)
    try:
        return await _rebuild_frozen(settings, admin, out)
    finally:
        gc.set_threshold(*thresholds)


async def _rebuild_frozen(settings: ServiceSettings, admin: asyncpg.Pool, out: TextIO | None
                          ) -> Outcome:
    schema = f"{repository.VIEWS}_rebuild"
    pool = await create_pool(settings.dsn(), 2, f"{schema}, public")
    topics = [topic_name(owner, settings.topic_namespace) for owner in SUBSCRIPTIONS]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **settings.kafka_security())
    await consumer.start()
    try:
        async with admin.acquire() as conn:
            rebuild_id = await repository.start_rebuild(conn)
            async with conn.transaction():
                await repository.drop_schema(conn, schema)
                await repository.create_views(conn, schema)
        try:
            partitions = await partitions_of(settings.kafka_bootstrap, topics,
                                             settings.kafka_security())
            outcome = await _replay_and_swap(admin, pool, consumer, partitions, schema,
                                             rebuild_id, out)
        except BaseException as exc:
            async with admin.acquire() as conn:
                await repository.end_rebuild(conn, rebuild_id, "failed", repr(exc)[:1000])
                await repository.drop_schema(conn, schema)
            raise
        async with admin.acquire() as conn:
            await repository.end_rebuild(
                conn, rebuild_id, "swapped",
                f"{outcome.events} events in {outcome.seconds:.1f} s")
        return outcome
    finally:
        await consumer.stop()
        await pool.close()


async def _replay_and_swap(admin: asyncpg.Pool, pool: asyncpg.Pool,
                           consumer: AIOKafkaConsumer, partitions: list[TopicPartition],
                           schema: str, rebuild_id: int, out: TextIO | None) -> Outcome:
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    progress = Progress(total=sum(ends.values()), out=out)
    replay = Replay(pool, APPLIERS)

    async def report() -> None:
        async with admin.acquire() as conn:
            await repository.rebuild_progress(conn, rebuild_id, progress.applied,
                                              progress.ratio)

    with updates.refreshes_deferred():
        await _read_until(consumer, replay, ends, progress, report)
    async with pool.acquire() as conn, conn.transaction():
        await updates.refresh_all(conn)
    async with admin.acquire() as conn, conn.transaction():
        await repository.lock_views(conn)
        if await repository.views_exist(conn):
            live = await repository.applied_offsets(conn, repository.VIEWS)
            behind = {tp: live[(tp.topic, tp.partition)] + 1 for tp in partitions
                      if (tp.topic, tp.partition) in live}
            await _read_until(consumer, replay, behind, progress, report)
        await repository.swap_views(conn, schema)
    async with admin.acquire() as conn:
        await repository.drop_schema(conn, repository.OLD_VIEWS)
    progress.draw(force=True)
    if out is not None:
        out.write("\n")
    await report()
    seconds = time.monotonic() - progress.started
    log.info("rebuilt the views from %d events (%d applied) in %.1f s", progress.read,
             progress.applied, seconds)
    return Outcome(events=progress.read, applied=progress.applied, seconds=seconds)
