"""The summary routes' answers are kept until the views change: asked again, an answer is
served as it was, without being computed again; once an event changes the views, the next
answer is computed again and shows it."""

from __future__ import annotations

import uuid
from typing import Any

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
            assert b'"poor_households":100' in first
    before = await computed(world, "provincial")
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
