"""The idempotent event processor on the real PostgreSQL, dead letters on the real Kafka."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from chungtay_common import hierarchy
from chungtay_common.consumer import DeadLetters, EventProcessor, Outcome, publisher_of
from chungtay_common.contracts.registration import UnitRegistered, UnitSnapshot, UnitVersion
from chungtay_common.db import Conn
from chungtay_common.events import SYSTEM_ACTOR, Envelope, new_envelope
from chungtay_common.settings import ServiceSettings
from chungtay_common.topics import topic_name


def _raw(revision: int, name: str, unit_id: uuid.UUID) -> bytes:
    payload = UnitRegistered(unit_id=unit_id, units=[UnitSnapshot(
        unit_id=unit_id, kind="commune", revision=revision,
        versions=[UnitVersion(valid_from=date(2017, 1, 1), name=name)])])
    env = new_envelope(payload=payload, producer="test", subject_id=str(unit_id),
                       actor=SYSTEM_ACTOR)
    return json.dumps(env.model_dump(mode="json", serialize_as_any=True)).encode()


async def _apply(conn: Conn, envelope: Envelope[Any]) -> None:
    for snap in envelope.payload.units:
        await hierarchy.apply_snapshot(conn, snap)


async def test_duplicates_and_older_snapshots_change_nothing(
    pool: asyncpg.Pool, common_settings: ServiceSettings,
) -> None:
    dlq = DeadLetters(common_settings.kafka_bootstrap,
                      topic_name("deadletter", common_settings.topic_namespace), "test")
    await dlq.start()
    try:
        processor = EventProcessor(pool, {"unit.registered": _apply}, dlq)
        unit = uuid.uuid4()
        first, newer = _raw(1, "Xã Cũ", unit), _raw(2, "Xã Mới", unit)
        assert await processor.process(first, None, "t", 0, 1) is Outcome.APPLIED
        assert await processor.process(first, None, "t", 0, 1) is Outcome.DUPLICATE
        assert await processor.process(newer, None, "t", 0, 2) is Outcome.APPLIED
        # an older snapshot delivered late (another event id) does not overwrite the newer one
        assert await processor.process(_raw(1, "Xã Cũ", unit), None, "t", 1, 3) is Outcome.APPLIED
        async with pool.acquire() as conn:
            on = await hierarchy.unit_on(conn, unit, date(2018, 1, 1))
            assert on is not None and on.name == "Xã Mới"
            assert await conn.fetchval("SELECT revision FROM units WHERE unit_id = $1", unit) == 2
    finally:
        await dlq.stop()


async def test_a_failing_handler_dead_letters_the_event_and_rolls_back(
    pool: asyncpg.Pool, common_settings: ServiceSettings,
) -> None:
    topic = topic_name("deadletter", common_settings.topic_namespace)
    dlq = DeadLetters(common_settings.kafka_bootstrap, topic, "test")
    unit = uuid.uuid4()

    async def broken(conn: Conn, envelope: Envelope[Any]) -> None:
        await _apply(conn, envelope)
        raise RuntimeError("bug")

    await dlq.start()
    try:
        processor = EventProcessor(pool, {"unit.registered": broken}, dlq)
        raw = _raw(1, "Xã Lỗi", unit)
        key = str(unit).encode()
        assert await processor.process(raw, key, "src", 2, 42) is Outcome.DEAD_LETTERED
    finally:
        await dlq.stop()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM units WHERE unit_id = $1", unit) == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM processed_events WHERE topic = 'src' AND \"offset\" = 42") == 0
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=common_settings.kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        found = []
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=250)
            found += [m for ms in batch.values() for m in ms if m.key == key]
            if found:
                break
    finally:
        await consumer.stop()
    assert len(found) == 1 and found[0].value == raw
    headers = dict(found[0].headers)
    assert headers["x-dlq-reason-class"] == b"handler_error"
    assert b"bug" in headers["x-dlq-reason"] and headers["x-dlq-offset"] == b"42"


async def test_an_event_from_another_service_than_the_topics_owner_is_dead_lettered(
    pool: asyncpg.Pool, common_settings: ServiceSettings,
) -> None:
    """The topics are a trust boundary: a unit event on the registration topic is applied only
    when the registration service produced it."""
    ns = common_settings.topic_namespace
    registration = topic_name("registration", ns)
    assert publisher_of(registration) == "registration"
    assert publisher_of(topic_name("feed", ns)) == "reporting"  # published by reporting
    assert publisher_of("t") is None  # not one of ours: not checked
    dlq = DeadLetters(common_settings.kafka_bootstrap, topic_name("deadletter", ns), "test")
    await dlq.start()
    try:
        processor = EventProcessor(pool, {"unit.registered": _apply}, dlq)
        unit = uuid.uuid4()
        forged = _raw(1, "Xã Giả", unit)  # produced by "test"
        assert await processor.process(forged, None, registration, 0, 7) \
            is Outcome.DEAD_LETTERED
        async with pool.acquire() as conn:
            assert await conn.fetchval(
                "SELECT count(*) FROM units WHERE unit_id = $1", unit) == 0
        genuine = json.loads(_raw(1, "Xã Thật", unit))
        genuine["producer"] = "registration"
        assert await processor.process(json.dumps(genuine).encode(), None, registration, 0, 8) \
            is Outcome.APPLIED
    finally:
        await dlq.stop()
