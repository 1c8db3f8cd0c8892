"""Housekeeping bounds the outbox, the processed-events records and the idempotency records,
on the real PostgreSQL: it removes what has done its work and nothing else."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta

import asyncpg
import pytest

from chungtay_common import housekeeping, idempotency, metrics
from chungtay_common.consumer import DeadLetters, EventProcessor, Outcome
from chungtay_common.contracts.registration import UnitRegistered, UnitSnapshot, UnitVersion
from chungtay_common.db import (
    COMMON_MIGRATIONS,
    Conn,
    apply_migrations,
    create_pool,
    drop_database,
    ensure_database,
)
from chungtay_common.events import SYSTEM_ACTOR, Envelope, new_envelope
from chungtay_common.hierarchy import MIGRATIONS as HIERARCHY_MIGRATIONS
from chungtay_common.settings import ServiceSettings
from chungtay_common.topics import topic_name
from tests.conftest import TestStack
from tests.harness import ServiceProcess, running
from tests.support import bearer, eventually, metric, register_unit

KEEP = housekeeping.Keep(published=timedelta(hours=1), processed=timedelta(days=7),
                         responses=timedelta(hours=24), batch=2)  # small batches: several


@pytest.fixture
async def own_pool(common_settings: ServiceSettings) -> AsyncIterator[asyncpg.Pool]:
    """A database of this test's own: a sweep removes what is old in the whole database."""
    name = f"{common_settings.database}_hk{uuid.uuid4().hex[:6]}"
    admin = common_settings.dsn("postgres")
    await ensure_database(admin, name)
    pool = await create_pool(common_settings.dsn(name))
    await apply_migrations(pool, COMMON_MIGRATIONS, HIERARCHY_MIGRATIONS)
    yield pool
    await pool.close()
    await drop_database(admin, name)


def _event(name: str) -> tuple[uuid.UUID, bytes]:
    unit = uuid.uuid4()
    payload = UnitRegistered(unit_id=unit, units=[UnitSnapshot(
        unit_id=unit, kind="commune", revision=1,
        versions=[UnitVersion(valid_from=date(2017, 1, 1), name=name)])])
    env = new_envelope(payload=payload, producer="test", subject_id=str(unit),
                       actor=SYSTEM_ACTOR)
    return env.event_id, json.dumps(env.model_dump(mode="json", serialize_as_any=True)).encode()


async def _nothing(conn: Conn, envelope: Envelope[UnitRegistered]) -> None:
    pass


async def test_a_sweep_removes_what_has_done_its_work_and_nothing_else(
    own_pool: asyncpg.Pool, common_settings: ServiceSettings,
) -> None:
    async with own_pool.acquire() as conn:
        # outbox: 5 published 2 hours ago, 1 published just now, 3 never published (2 of
        # them written days ago: a broker down for days loses nothing)
        for i, (created, published) in enumerate(
                [("3 days", "2 hours")] * 5 + [("1 hour", "0 s")]
                + [("3 days", None)] * 2 + [("0 s", None)]):
            await conn.execute(
                "INSERT INTO outbox (event_id, topic, key, event_type, body, created_at,"
                " published_at) VALUES ($1, 't', $2, 'x', '{}', now() - $3::text::interval,"
                " now() - $4::text::interval)", uuid.uuid4(), f"k{i}", created, published)
        # idempotency: 3 responses 25 hours old, 1 an hour old
        for i, age in enumerate(["25 hours"] * 3 + ["1 hour"]):
            await idempotency.remember(conn, "lan", f"key-{i:04d}", "POST", "/v1/x", f"h{i}",
                                       201, b"{}")
            await conn.execute("UPDATE idempotency_keys SET created_at = now() - $1::text::interval"
                               " WHERE key = $2", age, f"key-{i:04d}")

    dlq = DeadLetters(common_settings.kafka_bootstrap,
                      topic_name("deadletter", common_settings.topic_namespace), "test")
    await dlq.start()
    try:
        processor = EventProcessor(own_pool, {"unit.registered": _nothing}, dlq)
        events = [_event(f"Xã {i}") for i in range(6)]
        # partition 0: offsets 0-3; partition 1: offsets 0-1
        places = [("t", 0, 0), ("t", 0, 1), ("t", 0, 2), ("t", 0, 3), ("t", 1, 0), ("t", 1, 1)]
        for (_, raw), (topic, partition, offset) in zip(events, places, strict=True):
            assert await processor.process(raw, None, topic, partition, offset) is Outcome.APPLIED
        async with own_pool.acquire() as conn:
            # past the retention: p0 offsets 0, 1 and 3 (its newest), p1 offset 1 (its newest)
            await conn.execute(
                "UPDATE processed_events SET processed_at = now() - interval '8 days'"
                " WHERE event_id = ANY($1)", [events[i][0] for i in (0, 1, 3, 5)])
        before = {t: metrics.HOUSEKEEPING_REMOVED.labels(t)._value.get()
                  for t in housekeeping.TABLES}

        removed = await housekeeping.sweep(own_pool, KEEP)

        assert removed == {"outbox": 5, "processed_events": 2, "idempotency_keys": 3}
        assert {t: metrics.HOUSEKEEPING_REMOVED.labels(t)._value.get() - before[t]
                for t in housekeeping.TABLES} == removed
        async with own_pool.acquire() as conn:
            left = await conn.fetch("SELECT key, published_at IS NULL AS unpublished"
                                    " FROM outbox ORDER BY id")
            assert [(r["key"], r["unpublished"]) for r in left] == [
                ("k5", False), ("k6", True), ("k7", True), ("k8", True)]
            assert [r["key"] for r in await conn.fetch(
                "SELECT key FROM idempotency_keys")] == ["key-0003"]
            kept = {(r["partition"], r["offset"]) for r in await conn.fetch(
                'SELECT partition, "offset" FROM processed_events')}
            # the newest of each partition stays whatever its age, and what is within retention
            assert kept == {(0, 2), (0, 3), (1, 0), (1, 1)}
        # an event delivered again within the retention is still recognised as applied
        assert await processor.process(events[2][1], None, "t", 0, 2) is Outcome.DUPLICATE
        assert await processor.process(events[3][1], None, "t", 0, 3) is Outcome.DUPLICATE
        # a second sweep finds nothing more
        assert await housekeeping.sweep(own_pool, KEEP) == dict.fromkeys(housekeeping.TABLES, 0)
    finally:
        await dlq.stop()


@pytest.mark.e2e
async def test_a_running_service_sweeps_its_published_outbox_rows(
    stack: TestStack, unique_code: Callable[[], str],
) -> None:
    proc = ServiceProcess(stack, "registration", {
        "CHUNGTAY_HOUSEKEEPING_SECONDS": "0.5", "CHUNGTAY_OUTBOX_KEEP_HOURS": "0"})
    admin = bearer(stack.token("admin"))
    async with running(proc), proc.client() as client:
        unit = await register_unit(client, admin, kind="province", subkind="tinh",
                                   code=unique_code(), name="Tỉnh Dọn Dẹp")
        dsn = stack.settings(ServiceSettings, "registration").dsn()
        conn = await asyncpg.connect(dsn)
        try:
            async for attempt in eventually(20):
                with attempt:
                    assert await conn.fetchval(
                        "SELECT count(*) FROM outbox WHERE key = $1", unit["unit_id"]) == 0
            assert await metric(client, "chungtay_housekeeping_removed_rows_total",
                                table="outbox") >= 1
            assert await metric(client, "chungtay_housekeeping_last_success_timestamp_seconds") > 0
        finally:
            await conn.close()
