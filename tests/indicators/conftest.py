"""The indicators service in this process on the real PostgreSQL and Kafka, fed with units the
real way: registered through the registration API (also in this process), published by its
outbox relay and consumed into the indicators service's own copy of the hierarchy."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

from chungtay_common.auth import Role
from services.indicators.api import build_app as build_indicators
from services.indicators.settings import IndicatorsSettings
from services.registration.api import build_app as build_registration
from services.registration.settings import RegistrationSettings
from tests.conftest import TestStack
from tests.harness import in_process

Json = dict[str, Any]
OVERDUE_CHECK_SECONDS = 0.2


def eventually(seconds: float = 10) -> AsyncRetrying:
    return AsyncRetrying(wait=wait_fixed(0.1), stop=stop_after_delay(seconds), reraise=True)


def indicators_settings(stack: TestStack) -> IndicatorsSettings:
    settings = stack.settings(IndicatorsSettings, "indicators")
    assert isinstance(settings, IndicatorsSettings)
    return settings.model_copy(update={"overdue_check_seconds": OVERDUE_CHECK_SECONDS})


class Service:
    """The indicators app served in this process; ``restart`` ends its lifespan (relay,
    consumer, periodic jobs) and starts a fresh app on the same database."""

    def __init__(self, settings: IndicatorsSettings) -> None:
        self.settings = settings
        self._exit = AsyncExitStack()
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        assert self._client is not None, "the service is not running"
        return self._client

    async def start(self) -> None:
        self._client = await self._exit.enter_async_context(
            in_process(build_indicators(self.settings)))

    async def stop(self) -> None:
        self._client = None
        await self._exit.aclose()

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture(scope="session")
async def indicators(stack: TestStack) -> AsyncIterator[Service]:
    service = Service(indicators_settings(stack))
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture(scope="session")
async def registration(stack: TestStack) -> AsyncIterator[httpx.AsyncClient]:
    settings = stack.settings(RegistrationSettings, "registration")
    assert isinstance(settings, RegistrationSettings)
    async with in_process(build_registration(settings)) as client:
        yield client


@pytest.fixture(scope="session")
async def indicators_db(stack: TestStack, indicators: Service
                       ) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the service's database, to see what was (or was not) written."""
    conn = await asyncpg.connect(indicators.settings.dsn())
    try:
        yield conn
    finally:
        await conn.close()


TABLES = ("reports", "report_versions", "outbox", "audit_log", "idempotency_keys")


@pytest.fixture
def row_counts(indicators_db: asyncpg.Connection) -> Callable[[], Awaitable[dict[str, int]]]:
    """Rows in each table a request writes; compare before and after a refused request.
    ``report.overdue`` rows are left out: the periodic check writes them at any time."""

    async def count() -> dict[str, int]:
        counts = {t: await indicators_db.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}
        counts["outbox"] = await indicators_db.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type <> 'report.overdue'")
        return counts

    return count


def bearer(stack: TestStack, *roles: Role, unit: uuid.UUID | None = None,
           sub: str = "tester") -> dict[str, str]:
    return {"authorization": f"Bearer {stack.token(*roles, unit=unit, sub=sub)}"}


@dataclass(frozen=True)
class Tree:
    """Province → districts A and B; communes A1 and A2 under A, B1 under B (from 2017)."""

    province: uuid.UUID
    district_a: uuid.UUID
    district_b: uuid.UUID
    commune_a1: uuid.UUID
    commune_a2: uuid.UUID
    commune_b1: uuid.UUID

    @property
    def units(self) -> list[uuid.UUID]:
        return [self.province, self.district_a, self.district_b, self.commune_a1,
                self.commune_a2, self.commune_b1]


async def register_tree(stack: TestStack, registration: httpx.AsyncClient,
                        indicators_db: asyncpg.Connection, code: Callable[[], str]) -> Tree:
    """Register a fresh tree through the registration API and wait until the indicators
    service has consumed every unit of it."""
    admin = bearer(stack, Role.ADMIN, sub="admin")
    tag = uuid.uuid4().hex[:6]

    async def register(kind: str, subkind: str, name: str,
                       parent: uuid.UUID | None = None) -> uuid.UUID:
        body: Json = {"kind": kind, "subkind": subkind, "code": code(),
                      "name": f"{name} {tag}", "valid_from": "2017-01-01"}
        if parent is not None:
            body["parent_id"] = str(parent)
        r = await registration.post("/v1/units", json=body, headers=admin)
        assert r.status_code == 201, r.text
        return uuid.UUID(r.json()["unit_id"])

    province = await register("province", "tinh", "Tỉnh Thử")
    district_a = await register("district", "huyen", "Huyện Minh Hóa", province)
    district_b = await register("district", "huyen", "Huyện Tuyên Hóa", province)
    tree = Tree(province, district_a, district_b,
                await register("commune", "xa", "Xã Hóa Hợp", district_a),
                await register("commune", "xa", "Xã Trọng Hóa", district_a),
                await register("commune", "xa", "Xã Thanh Hóa", district_b))
    async for attempt in eventually():
        with attempt:
            held = await indicators_db.fetchval(
                "SELECT count(*) FROM units WHERE unit_id = ANY($1)", tree.units)
            assert held == len(tree.units)
    return tree


@pytest.fixture
async def tree(stack: TestStack, registration: httpx.AsyncClient,
               indicators_db: asyncpg.Connection, unique_code: Callable[[], str]) -> Tree:
    """A tree of its own for each test: a unit's earlier years are read across campaigns, so
    tests sharing units would see each other's reports."""
    return await register_tree(stack, registration, indicators_db, unique_code)
