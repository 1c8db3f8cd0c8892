from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest

from chungtay_common.auth import Role
from services.registration.api import build_app
from services.registration.settings import RegistrationSettings
from tests.conftest import TestStack
from tests.harness import in_process


@pytest.fixture(scope="session")
async def registration(stack: TestStack) -> AsyncIterator[httpx.AsyncClient]:
    """The registration API in this process (real PostgreSQL and Kafka), no token set."""
    settings = stack.settings(RegistrationSettings, "registration")
    assert isinstance(settings, RegistrationSettings)
    async with in_process(build_app(settings)) as client:
        yield client


@pytest.fixture(scope="session")
async def registration_db(
    stack: TestStack, registration: httpx.AsyncClient
) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the service's database (migrated by ``registration``), to check
    what was, or was not, written."""
    settings = stack.settings(RegistrationSettings, "registration")
    conn = await asyncpg.connect(settings.dsn())
    try:
        yield conn
    finally:
        await conn.close()


TABLES = ("units", "unit_versions", "unit_lineage", "outbox", "audit_log")


@pytest.fixture
def row_counts(registration_db: asyncpg.Connection) -> Callable[[], Awaitable[dict[str, int]]]:
    """Rows in each table the service writes; compare before and after a refused request."""

    async def count() -> dict[str, int]:
        return {t: await registration_db.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}

    return count


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def admin_headers(stack: TestStack) -> dict[str, str]:
    return {"authorization": f"Bearer {stack.token(Role.ADMIN, sub='admin')}"}


@pytest.fixture
def register(
    registration: httpx.AsyncClient, admin_headers: dict[str, str], unique_code: Callable[[], str]
) -> Callable[..., Any]:
    """Register a unit as admin and return its JSON; fields default to a fresh province."""

    async def do(headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "province", "subkind": "tinh", "code": unique_code(),
            "name": f"Tỉnh Thử {uuid.uuid4().hex[:6]}", "valid_from": "2017-01-01",
        }
        body.update(fields)
        for k, v in list(body.items()):
            if isinstance(v, (date, uuid.UUID)):
                body[k] = str(v)
        r = await registration.post("/v1/units", json=body, headers=headers or admin_headers)
        assert r.status_code == 201, r.text
        result: dict[str, Any] = r.json()
        return result

    return do
