from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from chungtay_common.db import (
    COMMON_MIGRATIONS,
    apply_migrations,
    create_pool,
    drop_database,
    ensure_database,
)
from chungtay_common.hierarchy import MIGRATIONS as HIERARCHY_MIGRATIONS
from chungtay_common.settings import ServiceSettings
from tests.conftest import TestStack


@pytest.fixture(scope="session")
async def common_settings(stack: TestStack) -> ServiceSettings:
    return stack.settings(ServiceSettings, "common")


@pytest.fixture(scope="session")
async def pool(common_settings: ServiceSettings) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own with the shared tables (outbox, processed events, hierarchy)."""
    admin = common_settings.dsn("postgres")
    await ensure_database(admin, common_settings.database)
    pool = await create_pool(common_settings.dsn())
    await apply_migrations(pool, COMMON_MIGRATIONS, HIERARCHY_MIGRATIONS)
    yield pool
    await pool.close()
    await drop_database(admin, common_settings.database)
