"""Report writes outside a transaction (the API's report steps): read in one statement,
written in one that checks nothing changed in between, and worked out again under locks when
something did. Whatever the interleaving, every write lands once, as its own version, with
its audit row and its event; a write that lost the race leaves nothing behind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from chungtay_common import db
from chungtay_common.auth import Role
from services.indicators import repository, service
from services.indicators.domain import Action
from services.indicators.schemas import CampaignIn, ReportRef
from services.indicators.settings import IndicatorsSettings
from tests.conftest import TestStack
from tests.indicators.conftest import Tree
from tests.support import bearer, context, ok

VALUES = {"households_total": 1000, "poor_households": 100, "near_poor_households": 80,
          "escaped_poverty": 20, "newly_poor": 5, "fell_back_into_poverty": 2}


@pytest.fixture
async def other(settings: IndicatorsSettings) -> AsyncIterator[asyncpg.Connection]:
    """A second connection: the other request of a race."""
    conn = await asyncpg.connect(settings.dsn())
    await db.json_codecs(conn)
    yield conn
    await conn.close()


async def new_campaign(conn: asyncpg.Connection) -> uuid.UUID:
    async with conn.transaction():
        out = await service.create_campaign(conn, context(Role.ADMIN), CampaignIn(
            code=f"c-{uuid.uuid4().hex[:12]}", name="Chung tay vì người nghèo",
            first_year=2090, last_year=2091, participating_kinds=["commune"]))
    return out.campaign_id


async def written(conn: asyncpg.Connection, campaign: uuid.UUID, unit: uuid.UUID
                  ) -> dict[str, Any]:
    """What the writes of the unit's 2090 report left: its version, each version's number,
    and the versions named by the audit rows and the events."""
    report = await conn.fetchrow("SELECT report_id, version FROM reports WHERE campaign_id = $1"
                                 " AND unit_id = $2 AND year = 2090", campaign, unit)
    assert report is not None
    rid = report["report_id"]
    return {
        "version": report["version"],
        "versions": [r["version"] for r in await conn.fetch(
            "SELECT version FROM report_versions WHERE report_id = $1 ORDER BY version", rid)],
        "audited": sorted(r["v"] for r in await conn.fetch(
            "SELECT (after->>'version')::int AS v FROM audit_log WHERE entity_id = $1"
            " AND action LIKE 'report.%'", str(rid))),
        "events": sorted(r["v"] for r in await conn.fetch(
            "SELECT (body->'payload'->>'version')::int AS v FROM outbox"
            " WHERE event_type = 'report.submitted' AND body->'payload'->>'report_id' = $1",
            str(rid))),
    }


@pytest.mark.parametrize("first", [True, False], ids=["first-version", "later-version"])
async def test_a_write_that_loses_the_race_is_worked_out_again_and_leaves_nothing(
    indicators_db: asyncpg.Connection, other: asyncpg.Connection, tree: Tree,
    monkeypatch: pytest.MonkeyPatch, first: bool,
) -> None:
    campaign = await new_campaign(indicators_db)
    ref = ReportRef(campaign, tree.commune_a1, 2090)
    lan, minh = (context(Role.REPORTER, unit=tree.commune_a1, sub=who) for who in ("lan", "minh"))
    if not first:
        await service.write_report(indicators_db, lan, ref, Action.SUBMIT,
                                   service.Entry(values=VALUES))
    read = repository.read_reports
    raced: list[bool] = []

    async def read_then_lose(*args: Any, **kwargs: Any) -> Any:
        rows = await read(*args, **kwargs)
        if not raced and not kwargs.get("lock", args[-1]):
            raced.append(True)  # another request writes the report between read and write
            async with other.transaction():
                await service.write_report(other, minh, ref, Action.SUBMIT,
                                           service.Entry(values=VALUES | {"initiatives": 1}))
        return rows

    monkeypatch.setattr(repository, "read_reports", read_then_lose)
    out = await service.write_report(indicators_db, lan, ref, Action.SUBMIT,
                                     service.Entry(values=VALUES | {"initiatives": 2}))
    assert raced
    before = 0 if first else 1
    # the other request's version, then this one's, worked out again on top of it
    assert (out.version, out.values["initiatives"]) == (before + 2, 2)
    assert await written(indicators_db, campaign, tree.commune_a1) == {
        "version": before + 2, "versions": list(range(1, before + 3)),
        "audited": list(range(1, before + 3)), "events": list(range(1, before + 3))}


async def test_concurrent_submissions_of_one_report_each_land_once(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, indicators_db: asyncpg.Connection,
) -> None:
    campaign = await new_campaign(indicators_db)
    h = bearer(stack.token(Role.REPORTER, unit=tree.commune_a1, sub="reporter-lan"))
    path = f"/v1/campaigns/{campaign}/reports/{tree.commune_a1}/2090/submit"
    answers = await asyncio.gather(*(
        api.post(path, headers=h, json={"values": VALUES | {"initiatives": i}})
        for i in range(12)))
    versions = sorted(ok(r)["version"] for r in answers)
    assert versions == list(range(1, 13))
    assert await written(indicators_db, campaign, tree.commune_a1) == {
        "version": 12, "versions": versions, "audited": versions, "events": versions}
