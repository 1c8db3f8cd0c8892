"""Stored responses of idempotent writes are kept for the retries, then forgotten: they hold
personal data (housekeeping removes them in bulk: tests/common/test_housekeeping.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg

from chungtay_common import idempotency
from chungtay_common.settings import ServiceSettings
from tests.support import rolled_back


async def test_a_stored_response_is_forgotten_after_its_time(
    common_settings: ServiceSettings, pool: asyncpg.Pool,
) -> None:
    lan = f"lan-{uuid.uuid4().hex[:8]}"  # the database holds other tests' keys
    async with rolled_back(common_settings.dsn()) as conn:
        await idempotency.remember(conn, lan, "key-0001", "POST", "/v1/x", "h1", 201,
                                   '{"name": "Nguyễn Thị Lan"}'.encode())
        await idempotency.remember(conn, lan, "key-0002", "POST", "/v1/x", "h2", 201, b"{}")
        kept = timedelta(hours=24)
        assert await idempotency.lookup(conn, lan, "key-0001", "h1", kept) is not None
        await conn.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'"
                           " WHERE actor = $1 AND key = 'key-0001'", lan)
        # an old key is forgotten: the same key may be used again, for another request too
        assert await idempotency.lookup(conn, lan, "key-0001", "h9", kept) is None
        await idempotency.remember(conn, lan, "key-0001", "POST", "/v1/x", "h9", 201, b"{}")
        assert await idempotency.lookup(conn, lan, "key-0001", "h9", kept) is not None
