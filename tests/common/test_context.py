"""Side effects of a request wait for its commit."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from chungtay_common.auth import Principal, Role
from chungtay_common.context import Context
from chungtay_common.http import Database


def _ctx() -> Context:
    return Context(principal=Principal(subject="t", roles=frozenset({Role.ADMIN})),
                   producer="test", topic="t.test.v1", correlation_id=uuid.uuid4())


async def test_after_commit_effects_run_only_once_the_transaction_committed(
    pool: asyncpg.Pool,
) -> None:
    db, ran = Database(pool), []
    ctx = _ctx()
    async with db.transaction(ctx) as conn:
        ctx.after_commit(lambda: ran.append("counted"))
        await conn.execute("SELECT 1")
        assert ran == []
    assert ran == ["counted"]

    class Refused(Exception):
        pass

    ctx = _ctx()
    with pytest.raises(Refused):
        async with db.transaction(ctx):
            ctx.after_commit(lambda: ran.append("must not be counted"))
            raise Refused
    assert ran == ["counted"]
