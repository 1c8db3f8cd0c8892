"""The summary routes' answers are kept until the views change: asked again, an answer is
served as it was, without being computed again; once an event changes the views, the next
answer is computed again and shows it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.reporting import repository
from services.reporting.api.answers import ViewsChanges
from services.reporting.service import operations
from tests.reporting.conftest import Reporting, figures, make_campaign, make_tree, report
from tests.support import eventually, metric, ok

YEAR = 2027


async def computed(w: Reporting, route: str) -> float:
    return await metric(w.reporting, "chungtay_reporting_answers_total", route=route,
                        source="computed")


async def summary(w: Reporting, campaign: uuid.UUID, province: uuid.UUID) -> bytes:
    r = await w.reporting.get("/v1/summaries/provincial", headers=w.admin, params={
        "campaign_id": str(campaign), "year": YEAR, "province_id": str(province)})
    ok(r)
    return r.content


async def test_an_answer_is_kept_until_the_views_change(world: Reporting) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, YEAR, YEAR)
    await report(world, campaign, tree.a[0], YEAR, values=figures(1000, 100))
    async for attempt in eventually(30):
        with attempt:
            first = await summary(world, campaign, tree.province)
            assert json.loads(first)["province"]["values"].get("poor_households") == 100
    # the views' notice of the commit that brought it may come after that answer was computed
    # (one more computation then): once an answer is served as kept, the views hold still
    async for attempt in eventually(10):
        with attempt:
            before = await computed(world, "provincial")
            first = await summary(world, campaign, tree.province)
            assert await computed(world, "provincial") == before
    for _ in range(3):  # the views hold still: the same answer, not computed again
        assert await summary(world, campaign, tree.province) == first
    assert await computed(world, "provincial") == before
    await report(world, campaign, tree.a[1], YEAR, values=figures(500, 40))
    async for attempt in eventually(30):
        with attempt:
            assert b'"poor_households":140' in await summary(world, campaign, tree.province)
    assert await computed(world, "provincial") > before


async def test_the_campaign_gauges_are_set_again_only_when_the_views_changed(
        world: Reporting) -> None:
    conn = await world.views()
    calls: list[int] = []
    stamp = [(1, 10, 1)]  # where the views stand, as the test says
    now = [1000.0]

    async def set_gauges(c: Any) -> None:
        calls.append(1)

    async def views_stamp(c: Any) -> tuple[int, int, int]:
        return stamp[0]

    # this instance's own readers: the app's periodic job keeps its own, untouched
    gauges = operations.CampaignGauges(views_stamp, set_gauges, lambda: now[0])
    try:
        await gauges.update(conn)
        await gauges.update(conn)  # the views held still: nothing read again
        assert len(calls) == 1
        stamp[0] = (1, 11, 1)  # an event applied
        await gauges.update(conn)
        assert len(calls) == 2
        now[0] += operations.GAUGES_AT_LEAST_EVERY  # still, at least once a minute
        await gauges.update(conn)
        assert len(calls) == 3
    finally:
        await conn.close()


async def test_the_views_changes_are_heard_and_a_lost_connection_is_not_trusted(
        world: Reporting) -> None:
    """Each transaction that records where the views stand announces it at its commit; the
    listener counts them; while its connection is lost it says nothing (the answers then ask
    the database), and a new one counts as a change."""
    changes = ViewsChanges(world.settings.dsn())
    schema = f"views_heard_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(world.settings.dsn(),
                                 server_settings={"search_path": f"{schema}, public"})
    try:
        assert changes.generation is None  # not listening yet
        await changes.keep()
        first = changes.generation
        assert first is not None
        await repository.create_views(conn, schema)
        async with conn.transaction():
            await repository.record_positions(conn, [("t", 0, 7, "report.submitted",
                                                      datetime.now(UTC))])
        async for attempt in eventually(10):
            with attempt:
                assert (changes.generation or 0) > first
        heard = changes.generation
        assert heard is not None
        await conn.fetchval("SELECT pg_terminate_backend($1)",
                            changes._conn.get_server_pid() if changes._conn else 0)
        async for attempt in eventually(10):
            with attempt:
                assert changes.generation is None
        await changes.keep()
        assert (changes.generation or 0) > heard
    finally:
        await changes.close()
        await repository.drop_schema(conn, schema)
        await conn.close()
