"""The outbox relay on the real PostgreSQL and Kafka."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from chungtay_common.contracts.registration import UnitRenamed, UnitSnapshot, UnitVersion
from chungtay_common.db import apply_migrations
from chungtay_common.events import Actor, new_envelope
from chungtay_common.outbox import OutboxRelay, enqueue
from chungtay_common.settings import ServiceSettings
from tests.support import eventually


def _renamed(unit_id: uuid.UUID, n: int) -> UnitRenamed:
    return UnitRenamed(
        unit_id=unit_id, effective_date=date(2018, 1, 1), old_name=f"Xã {n - 1}",
        new_name=f"Xã {n}", units=[UnitSnapshot(unit_id=unit_id, kind="commune", revision=n,
                                                versions=[UnitVersion(valid_from=date(2017, 1, 1),
                                                                      name=f"Xã {n}")])])


async def _topic(settings: ServiceSettings) -> str:
    name = f"{settings.topic_namespace}.outbox-test.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def _read_all(settings: ServiceSettings, topic: str, expected: int) -> list[dict[str, Any]]:
    """The ``expected`` messages of ``topic`` (a minute at most, for a loaded machine)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    out: list[dict[str, Any]] = []
    try:
        async for attempt in eventually(60):
            with attempt:
                batch = await consumer.getmany(timeout_ms=500)
                for tp in sorted(batch):
                    out.extend({"key": m.key.decode(), **json.loads(m.value)}
                               for m in batch[tp])
                assert len(out) >= expected
    finally:
        await consumer.stop()
    return out


async def test_events_written_while_the_relay_is_down_are_published_in_order_per_key(
    pool: asyncpg.Pool, common_settings: ServiceSettings,
) -> None:
    await apply_migrations(pool)  # idempotent: nothing to apply twice
    topic = await _topic(common_settings)
    units = [uuid.uuid4() for _ in range(4)]
    written = []
    async with pool.acquire() as conn, conn.transaction():
        for n in range(1, 11):
            for unit in units:
                env = new_envelope(payload=_renamed(unit, n), producer="test",
                                   subject_id=str(unit), actor=Actor(subject="t"))
                await enqueue(conn, env, topic)
                written.append(env.event_id)
    relay = OutboxRelay(pool, bootstrap=common_settings.kafka_bootstrap, client_id="test",
                        batch_size=7, poll_seconds=0.05)
    await relay.start()
    try:
        messages = await _read_all(common_settings, topic, len(written))
        # the last batch is marked published when its transaction commits, just after Kafka
        # acknowledged it: wait for that before stopping the relay
        async for attempt in eventually(10):
            with attempt:
                async with pool.acquire() as conn:
                    assert await conn.fetchval(
                        "SELECT count(*) FROM outbox WHERE topic = $1"
                        " AND published_at IS NULL", topic) == 0
    finally:
        await relay.stop()
    assert sorted(m["event_id"] for m in messages) == sorted(str(e) for e in written)
    for unit in units:
        revisions = [m["payload"]["units"][0]["revision"] for m in messages
                     if m["key"] == str(unit)]
        assert revisions == list(range(1, 11))
    async with pool.acquire() as conn:
        left = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = $1 AND published_at IS NULL", topic)
    assert left == 0


async def test_a_rolled_back_transaction_publishes_nothing(
    pool: asyncpg.Pool, common_settings: ServiceSettings,
) -> None:
    topic = await _topic(common_settings)
    unit = uuid.uuid4()

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with pool.acquire() as conn, conn.transaction():
            env = new_envelope(payload=_renamed(unit, 1), producer="test",
                               subject_id=str(unit), actor=Actor(subject="t"))
            await enqueue(conn, env, topic)
            raise Boom
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", topic) == 0
