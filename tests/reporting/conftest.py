"""The reporting service fed the real way: registration, indicators and reporting run in this
process on databases and topics of their own (a namespace of this module), and the reporting
views are compared with what the indicators service computes from its own data."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from chungtay_common.auth import Role
from chungtay_common.consumer import partitions_of
from chungtay_common.db import drop_database, ensure_database, json_codecs
from chungtay_common.settings import ServiceSettings
from chungtay_common.stack import ensure_topics
from chungtay_common.topics import topic_name
from services.indicators.api import build_app as build_indicators
from services.indicators.settings import IndicatorsSettings
from services.registration.api import build_app as build_registration
from services.registration.settings import RegistrationSettings
from services.reporting.api import build_app as build_reporting
from services.reporting.repository import SEARCH_PATH
from services.reporting.settings import ReportingSettings
from tests.conftest import TestStack, delete_topics, next_code
from tests.harness import ServiceProcess, in_process, running
from tests.support import bearer, eventually, ok, register_unit

Json = dict[str, Any]
SERVICES = ("registration", "indicators", "reporting")
FIGURES = ("households_total", "poor_households", "near_poor_households", "escaped_poverty",
           "newly_poor", "fell_back_into_poverty")


@dataclass
class Reporting:
    """The three services of this module, their settings and a board token."""

    stack: TestStack
    namespace: str
    registration: httpx.AsyncClient
    indicators: httpx.AsyncClient
    reporting: httpx.AsyncClient
    settings: ReportingSettings
    admin: dict[str, str] = field(default_factory=dict)
    board: dict[str, str] = field(default_factory=dict)
    process: ServiceProcess | None = None  # reporting, when it runs in its own process

    async def views(self) -> asyncpg.Connection:
        """A connection to the reporting database that sees the views first."""
        conn = await asyncpg.connect(self.settings.dsn(),
                                     server_settings={"search_path": SEARCH_PATH})
        await json_codecs(conn)
        return conn


def _settings(stack: TestStack, cls: type[ServiceSettings], service: str, namespace: str
              ) -> Any:
    s = stack.settings(cls, service)
    return s.model_copy(update={"topic_namespace": namespace,
                                "pg_database": f"{namespace}_{service}"})


@asynccontextmanager
async def services(stack: TestStack, reporting_process: bool = False
                   ) -> AsyncIterator[Reporting]:
    """Registration and indicators in this process, reporting in this process or in its own
    (``w.process``), on databases and topics of a namespace of their own."""
    namespace = f"{stack.namespace}rp{uuid.uuid4().hex[:4]}"
    admin_settings = stack.settings(ServiceSettings, "registration")
    admin_dsn = admin_settings.dsn("postgres")
    for service in SERVICES:
        await ensure_database(admin_dsn, f"{namespace}_{service}")
    await ensure_topics(admin_settings, namespace)
    settings = _settings(stack, ReportingSettings, "reporting", namespace).model_copy(
        update={"gauges_seconds": 0.5})
    process = ServiceProcess(stack, "reporting", extra_env={
        "CHUNGTAY_TOPIC_NAMESPACE": namespace, "CHUNGTAY_PG_DATABASE": settings.pg_database,
        "CHUNGTAY_GAUGES_SECONDS": "0.5"})
    try:
        async with AsyncExitStack() as apps:
            registration = await apps.enter_async_context(in_process(build_registration(
                _settings(stack, RegistrationSettings, "registration", namespace))))
            indicators = await apps.enter_async_context(in_process(build_indicators(
                _settings(stack, IndicatorsSettings, "indicators", namespace))))
            if reporting_process:
                await apps.enter_async_context(running(process))
                reporting = await apps.enter_async_context(process.client())
            else:
                reporting = await apps.enter_async_context(in_process(build_reporting(settings)))
            yield Reporting(stack, namespace, registration, indicators, reporting, settings,
                            admin=bearer(stack.token(Role.ADMIN, sub="admin")),
                            board=bearer(stack.token(Role.ADMIN, sub="board-officer")),
                            process=process if reporting_process else None)
    finally:
        for service in SERVICES:
            await drop_database(admin_dsn, f"{namespace}_{service}")
        await delete_topics(admin_settings, namespace)


@pytest.fixture(scope="module")
async def world(stack: TestStack) -> AsyncIterator[Reporting]:
    async with services(stack) as w:
        yield w


@dataclass(frozen=True)
class Tree:
    """A province with districts A (communes a1, a2, a3) and B (communes b1, b2), from 2017."""

    province: uuid.UUID
    district_a: uuid.UUID
    district_b: uuid.UUID
    a: list[uuid.UUID]
    b: list[uuid.UUID]

    @property
    def communes(self) -> list[uuid.UUID]:
        return [*self.a, *self.b]


async def make_tree(w: Reporting) -> Tree:
    tag = uuid.uuid4().hex[:5]

    async def unit(kind: str, subkind: str, name: str, parent: uuid.UUID | None = None
                   ) -> uuid.UUID:
        u = await register_unit(w.registration, w.admin, kind=kind, subkind=subkind,
                                name=f"{name} {tag}", code=next_code(), parent=parent)
        return uuid.UUID(u["unit_id"])

    province = await unit("province", "tinh", "Tỉnh Thử")
    district_a = await unit("district", "huyen", "Huyện Minh Hóa", province)
    district_b = await unit("district", "huyen", "Huyện Tuyên Hóa", province)
    a = [await unit("commune", "xa", f"Xã A{i}", district_a) for i in range(3)]
    b = [await unit("commune", "xa", f"Xã B{i}", district_b) for i in range(2)]
    tree = Tree(province, district_a, district_b, a, b)
    await held_by_indicators(w, [province, district_a, district_b, *a, *b])
    return tree


async def held_by_indicators(w: Reporting, units: list[uuid.UUID]) -> None:
    """Wait until the indicators service has consumed the units (it refuses reports and
    targets of units it does not know)."""
    dsn = w.settings.model_copy(update={"pg_database": f"{w.namespace}_indicators"}).dsn()
    conn = await asyncpg.connect(dsn)
    try:
        async for attempt in eventually(20):
            with attempt:
                held = await conn.fetchval(
                    "SELECT count(*) FROM units WHERE unit_id = ANY($1)", units)
                assert held == len(units)
    finally:
        await conn.close()


async def make_campaign(w: Reporting, first: int, last: int, **fields: Any) -> uuid.UUID:
    body = {"code": f"ct-{uuid.uuid4().hex[:8]}", "name": "Chung tay vì người nghèo",
            "first_year": first, "last_year": last, **fields}
    created = ok(await w.indicators.post("/v1/campaigns", json=body, headers=w.board), 201)
    return uuid.UUID(created["campaign_id"])


def figures(households: int, poor: int, **extra: int) -> dict[str, int]:
    return {"households_total": households, "poor_households": poor,
            "near_poor_households": poor // 2, "escaped_poverty": 0, "newly_poor": 0,
            "fell_back_into_poverty": 0, **extra}


async def report(w: Reporting, campaign: uuid.UUID, unit: uuid.UUID, year: int,
                 action: str = "submit", values: dict[str, int] | None = None) -> Json:
    path = f"/v1/campaigns/{campaign}/reports/{unit}/{year}"
    body: Json = {"reason": "kiểm tra lại số liệu"} if action in ("return", "reopen") else {}
    if (action in ("submit", "confirm") and values is not None) or action == "submit":
        body = {"values": values}
    # who submitted a report does not review it: another official accepts and confirms
    caller = w.admin if action in ("accept", "return", "confirm") else w.board
    result: Json = ok(await w.indicators.post(f"{path}/{action}", json=body, headers=caller))
    return result




async def read_topic(w: Reporting, owner: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every message of ``owner``'s topic, from the beginning, with a plain Kafka consumer."""
    consumer = AIOKafkaConsumer(bootstrap_servers=w.settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        parts = await partitions_of(w.settings.kafka_bootstrap, [topic_name(owner, w.namespace)])
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        out: list[ConsumerRecord[bytes, bytes]] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


async def replay_topic(w: Reporting, owner: str) -> int:
    """Send every message of the topic again, as a redelivery would bring it."""
    records = await read_topic(w, owner)
    producer = AIOKafkaProducer(bootstrap_servers=w.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for r in records:
            await producer.send_and_wait(r.topic, r.value, key=r.key, partition=r.partition)
    finally:
        await producer.stop()
    return len(records)


async def consumed_all(w: Reporting, owner: str) -> None:
    """Wait until the reporting consumers committed every message of the topic."""
    parts = await partitions_of(w.settings.kafka_bootstrap, [topic_name(owner, w.namespace)])
    admin = AIOKafkaAdminClient(bootstrap_servers=w.settings.kafka_bootstrap)
    ends_reader = AIOKafkaConsumer(bootstrap_servers=w.settings.kafka_bootstrap, group_id=None)
    await admin.start()
    await ends_reader.start()
    try:
        ends = await ends_reader.end_offsets(parts)
        async for attempt in eventually(30):
            with attempt:
                committed = await admin.list_consumer_group_offsets(
                    f"{w.namespace}-{w.settings.service_name}")
                behind = {tp: ends[tp] - (committed[tp].offset if tp in committed else 0)
                          for tp in parts}
                assert not any(behind.values()), behind
    finally:
        await ends_reader.stop()
        await admin.close()
