"""The indicators service in this process on the real PostgreSQL and Kafka. For the HTTP tests,
units arrive the real way: registered through the registration API (also in this process),
published by its outbox relay and consumed into the indicators service's own copy of the
hierarchy. For the use cases, units are put straight into that copy, on a connection rolled
back after the test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date

import asyncpg
import httpx
import pytest

from chungtay_common import db, hierarchy
from chungtay_common.auth import Role
from chungtay_common.contracts.registration import UnitKind, UnitSnapshot, UnitVersion
from chungtay_common.db import Conn
from services.indicators.api import build_app as build_indicators
from services.indicators.settings import IndicatorsSettings
from services.registration.api import build_app as build_registration
from services.registration.settings import RegistrationSettings
from tests.conftest import TestStack, next_code
from tests.harness import in_process
from tests.support import bearer, eventually, register_unit, rolled_back

OVERDUE_CHECK_SECONDS = 0.2
IMPORT_MAX_BYTES = 200_000


@pytest.fixture(scope="session")
def settings(stack: TestStack) -> IndicatorsSettings:
    s = stack.settings(IndicatorsSettings, "indicators")
    assert isinstance(s, IndicatorsSettings)
    return s.model_copy(update={"overdue_check_seconds": OVERDUE_CHECK_SECONDS,
                                "import_max_bytes": IMPORT_MAX_BYTES})


@pytest.fixture(scope="session")
async def api(settings: IndicatorsSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The indicators app, its lifespan (migrations, seeding, relay, consumer, periodic jobs)
    run for the whole session."""
    async with in_process(build_indicators(settings)) as client:
        yield client


@pytest.fixture(scope="session")
async def registration(stack: TestStack) -> AsyncIterator[httpx.AsyncClient]:
    settings = stack.settings(RegistrationSettings, "registration")
    assert isinstance(settings, RegistrationSettings)
    async with in_process(build_registration(settings)) as client:
        yield client


@pytest.fixture(scope="session")
async def indicators_db(settings: IndicatorsSettings, api: httpx.AsyncClient
                        ) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the service's database, to see what was (or was not) written."""
    conn = await asyncpg.connect(settings.dsn())
    await db.json_codecs(conn)  # as on the connections of the service's pool
    yield conn
    await conn.close()


@pytest.fixture
async def conn(settings: IndicatorsSettings, api: httpx.AsyncClient
               ) -> AsyncIterator[asyncpg.Connection]:
    """A use case's connection to the migrated database; all it writes is rolled back."""
    async with rolled_back(settings.dsn()) as conn:
        await db.json_codecs(conn)
        yield conn


TABLES = ("reports", "report_versions", "outbox", "audit_log", "idempotency_keys")
RowCounts = Callable[[], Awaitable[dict[str, int]]]


async def count_rows(conn: Conn) -> dict[str, int]:
    """Rows in each table a write changes. ``report.overdue`` rows are left out: the periodic
    check writes them at any time."""
    counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}
    counts["outbox"] = await conn.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type <> 'report.overdue'")
    return counts


@pytest.fixture
def row_counts(indicators_db: asyncpg.Connection) -> RowCounts:
    """Compare before and after a refused request: it wrote nothing."""
    return lambda: count_rows(indicators_db)


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

    @property
    def communes(self) -> list[uuid.UUID]:
        return [self.commune_a1, self.commune_a2, self.commune_b1]


Add = Callable[[UnitKind, str, uuid.UUID | None], Awaitable[uuid.UUID]]


async def build_tree(add: Add) -> Tree:
    province = await add(UnitKind.PROVINCE, "Tỉnh Thử", None)
    district_a = await add(UnitKind.DISTRICT, "Huyện Minh Hóa", province)
    district_b = await add(UnitKind.DISTRICT, "Huyện Tuyên Hóa", province)
    return Tree(province, district_a, district_b,
                await add(UnitKind.COMMUNE, "Xã Hóa Hợp", district_a),
                await add(UnitKind.COMMUNE, "Xã Trọng Hóa", district_a),
                await add(UnitKind.COMMUNE, "Xã Thanh Hóa", district_b))


SUBKINDS = {UnitKind.PROVINCE: "tinh", UnitKind.DISTRICT: "huyen", UnitKind.COMMUNE: "xa"}


async def hold_unit(conn: Conn, kind: UnitKind, name: str, parent: uuid.UUID | None,
                    valid_from: date = date(2017, 1, 1), code: str | None = None
                    ) -> uuid.UUID:
    """Put a unit (with a fresh code by default) straight into the service's copy of the
    hierarchy."""
    unit_id, code = uuid.uuid4(), code or next_code()
    await hierarchy.apply_snapshot(conn, UnitSnapshot(
        unit_id=unit_id, kind=kind, revision=1, versions=[UnitVersion(
            valid_from=valid_from, code=code, name=f"{name} {code}", subkind=SUBKINDS[kind],
            parent_id=parent)]))
    return unit_id


@pytest.fixture
async def tree(stack: TestStack, registration: httpx.AsyncClient,
               indicators_db: asyncpg.Connection) -> Tree:
    """A tree of its own for each HTTP test (a unit's earlier years are read across
    campaigns, so tests sharing units would see each other's reports), registered through
    the registration API; returned once the indicators service has consumed every unit."""
    admin = bearer(stack.token(Role.ADMIN, sub="admin"))
    tag = uuid.uuid4().hex[:6]

    async def register(kind: UnitKind, name: str, parent: uuid.UUID | None) -> uuid.UUID:
        unit = await register_unit(registration, admin, kind=kind, subkind=SUBKINDS[kind],
                                   name=f"{name} {tag}", code=next_code(), parent=parent)
        return uuid.UUID(unit["unit_id"])

    tree = await build_tree(register)
    async for attempt in eventually():
        with attempt:
            assert await indicators_db.fetchval(
                "SELECT count(*) FROM units WHERE unit_id = ANY($1)", tree.units) == 6
    return tree


@pytest.fixture
async def held_tree(conn: asyncpg.Connection) -> Tree:
    """The same tree for a use case, in its rolled-back transaction (no registration, no
    Kafka)."""
    return await build_tree(lambda kind, name, parent: hold_unit(conn, kind, name, parent))
