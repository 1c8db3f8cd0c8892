"""The registration service in this process (real PostgreSQL and Kafka), and a connection to
its database whose writes are rolled back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from chungtay_common.auth import Role
from services.registration.api import build_app
from services.registration.settings import RegistrationSettings
from tests.conftest import TestStack
from tests.harness import in_process
from tests.support import bearer, register_unit, rolled_back

Json = dict[str, Any]
Register = Callable[..., Awaitable[Json]]


@pytest.fixture(scope="session")
def registration_settings(stack: TestStack) -> RegistrationSettings:
    settings = stack.settings(RegistrationSettings, "registration")
    assert isinstance(settings, RegistrationSettings)
    return settings


@pytest.fixture(scope="session")
async def registration(registration_settings: RegistrationSettings
                       ) -> AsyncIterator[httpx.AsyncClient]:
    """The registration API (it migrates its database on start), no token set."""
    async with in_process(build_app(registration_settings)) as client:
        yield client


@pytest.fixture(scope="module")
async def registration_db(registration_settings: RegistrationSettings,
                          registration: httpx.AsyncClient) -> AsyncIterator[asyncpg.Connection]:
    """One connection to the migrated database per test module, in a transaction rolled back
    at the module's end: it sees what requests committed, and nothing written in it stays. Its
    statements stay prepared from one test to the next."""
    async with rolled_back(registration_settings.dsn()) as conn:
        yield conn


@pytest.fixture
async def conn(registration_db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """A use case's connection: what the test writes is rolled back after it."""
    async with rolled_back(registration_db) as savepoint:
        yield savepoint


TABLES = ("units", "unit_versions", "unit_lineage", "outbox", "audit_log", "idempotency_keys")


@pytest.fixture
def row_counts(registration_db: asyncpg.Connection) -> Callable[[], Awaitable[dict[str, int]]]:
    """Rows in each table the service writes; compare before and after a refused request."""

    async def count() -> dict[str, int]:
        return {t: await registration_db.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}

    return count


@pytest.fixture(scope="session")
def admin_headers(stack: TestStack) -> dict[str, str]:
    return bearer(stack.token(Role.ADMIN, sub="admin"))


@pytest.fixture
def register(
    registration: httpx.AsyncClient, admin_headers: dict[str, str], unique_code: Callable[[], str]
) -> Register:
    """Register a unit (as admin unless ``headers`` say otherwise) and return it; fields default
    to a fresh province, and every unit gets a fresh code unless ``code`` is given."""

    async def do(headers: dict[str, str] | None = None, *, kind: str = "province",
                 subkind: str = "tinh", name: str | None = None, **fields: Any) -> Json:
        fields.setdefault("code", unique_code())
        return await register_unit(
            registration, headers or admin_headers, kind=kind, subkind=subkind,
            name=name or f"Tỉnh Thử {uuid.uuid4().hex[:6]}", parent=fields.pop("parent_id", None),
            **fields)

    return do
