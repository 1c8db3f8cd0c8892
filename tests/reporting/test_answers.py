"""The summary routes' answers are kept until the views change: asked again, an answer is
served as it was, without being computed again; once an event changes the views, the next
answer is computed again and shows it."""

from __future__ import annotations

import uuid

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
