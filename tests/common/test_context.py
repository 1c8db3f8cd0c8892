"""The use cases' context: side effects of a request wait for its commit, and what no request
caused acts as the service itself."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import pytest

from chungtay_common.auth import Role
from chungtay_common.context import Context
from chungtay_common.contracts.registration import UnitRegistered, UnitSnapshot, UnitVersion
from chungtay_common.events import SYSTEM_ACTOR
from chungtay_common.http import Database
from chungtay_common.settings import ServiceSettings
from chungtay_common.topics import topic_name
from tests.support import context, rolled_back


async def test_after_commit_effects_run_only_once_the_transaction_committed(
    pool: asyncpg.Pool,
) -> None:
    db, ran = Database(pool), []
    ctx = context(Role.ADMIN)
    async with db.transaction(ctx) as conn:
        ctx.after_commit(lambda: ran.append("counted"))
        await conn.execute("SELECT 1")
        assert ran == []
    assert ran == ["counted"]

    class Refused(Exception):
        pass

    ctx = context(Role.ADMIN)
    with pytest.raises(Refused):
        async with db.transaction(ctx):
            ctx.after_commit(lambda: ran.append("must not be counted"))
            raise Refused
    assert ran == ["counted"]


@pytest.fixture
async def conn(common_settings: ServiceSettings, pool: asyncpg.Pool
               ) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the database ``pool`` migrated, in a transaction rolled back after the
    test."""
    async with rolled_back(common_settings.dsn()) as conn:
        yield conn


def _registered() -> UnitRegistered:
    unit_id = uuid.uuid4()
    return UnitRegistered(unit_id=unit_id, units=[UnitSnapshot(
        unit_id=unit_id, kind="province", revision=1,
        versions=[UnitVersion(valid_from=date(2017, 1, 1), code="44", name="Tỉnh Quảng Bình")])])


async def test_the_system_acts_as_system_on_the_services_own_topic(
    common_settings: ServiceSettings, conn: asyncpg.Connection
) -> None:
    settings = common_settings.model_copy(update={"service_name": "awards"})
    ctx = Context.system(settings)
    assert ctx.actor == SYSTEM_ACTOR
    assert ctx.principal.subject == "system" and ctx.principal.roles == frozenset()
    assert ctx.producer == "awards"
    assert ctx.topic == topic_name("awards", settings.topic_namespace) \
        == f"{settings.topic_namespace}.awards.v1"
    assert Context.system(settings).correlation_id != ctx.correlation_id
    caused_by = uuid.uuid4()  # a consumer passes the consumed event's
    assert Context.system(settings, correlation_id=caused_by).correlation_id == caused_by

    payload = _registered()
    await ctx.publish(conn, payload.unit_id, payload)
    await ctx.audit(conn, "unit.register", "unit", payload.unit_id, None, {"code": "44"})
    event = await conn.fetchrow("SELECT topic, body FROM outbox WHERE key = $1",
                                str(payload.unit_id))
    audit = await conn.fetchrow("SELECT actor, actor_roles, correlation_id FROM audit_log"
                                " WHERE entity_id = $1", str(payload.unit_id))
    assert event is not None and event["topic"] == ctx.topic
    body = event["body"]
    assert body["actor"] == {"subject": "system", "roles": ["system"]}
    assert body["producer"] == "awards"
    assert body["correlation_id"] == str(ctx.correlation_id)
    assert audit is not None and dict(audit) == {
        "actor": "system", "actor_roles": ["system"], "correlation_id": ctx.correlation_id}


async def test_a_request_acts_as_its_caller(conn: asyncpg.Connection) -> None:
    ctx = context(Role.REVIEWER, sub="tinh-44", topic="t.registration.v1")
    assert ctx.actor.subject == "tinh-44" and ctx.actor.roles == [Role.REVIEWER]
    payload = _registered()
    await ctx.publish(conn, payload.unit_id, payload)
    row = await conn.fetchrow("SELECT topic, body FROM outbox WHERE key = $1",
                              str(payload.unit_id))
    assert row is not None and row["topic"] == "t.registration.v1"
    assert row["body"]["actor"] == {"subject": "tinh-44", "roles": ["reviewer"]}


async def test_the_audit_log_is_append_only_and_records_the_callers_unit(
    conn: asyncpg.Connection,
) -> None:
    unit = uuid.uuid4()
    ctx = context(Role.REGISTRAR, unit=unit, sub="lan")
    await ctx.audit(conn, "unit.rename", "unit", unit, {"name": "A"}, {"name": "B"})
    row = await conn.fetchrow(
        "SELECT id, actor, actor_unit_id FROM audit_log WHERE entity_id = $1", str(unit))
    assert (row["actor"], row["actor_unit_id"]) == ("lan", unit)
    for sql in ("UPDATE audit_log SET actor = 'someone else' WHERE id = $1",
                "DELETE FROM audit_log WHERE id = $1"):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            async with conn.transaction():  # a savepoint: the refusal ends only it
                await conn.execute(sql, row["id"])
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        async with conn.transaction():
            await conn.execute("TRUNCATE audit_log")
