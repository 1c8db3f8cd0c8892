"""The reporting process killed with SIGKILL in the middle of a stream of reports, then
restarted: afterwards the views equal what the indicators service computes, nothing lost and
nothing counted twice."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from tests.conftest import TestStack
from tests.reporting.conftest import Reporting, figures, make_campaign, make_tree, report, services
from tests.reporting.test_views import (
    YEARS,
    assert_matches_indicators,
    assert_rollups_are_recomputable,
)
from tests.support import eventually, ok

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def apart(stack: TestStack) -> AsyncIterator[Reporting]:
    async with services(stack, reporting_process=True) as w:
        yield w


async def test_killed_mid_stream_and_restarted_loses_and_doubles_nothing(
        apart: Reporting) -> None:
    w, rng = apart, random.Random(13)
    assert w.process is not None
    tree = await make_tree(w)
    campaign = await make_campaign(w, *YEARS)
    for step in range(60):
        unit, year = rng.choice(tree.communes), rng.choice(YEARS)
        await report(w, campaign, unit, year, values=figures(1000, rng.randint(10, 300)))
        if step == 20:
            # the views have taken some of the stream: kill the process in the middle of it
            async for attempt in eventually(20):
                with attempt:
                    fresh = ok(await w.reporting.get("/v1/freshness", headers=w.admin))
                    assert any(t["last_event_type"] == "report.submitted"
                               for t in fresh["topics"])
            await w.process.stop(kill=True)
        if step == 40:
            await w.process.start()
    async for attempt in eventually(60):
        with attempt:
            await assert_matches_indicators(w, campaign, tree)
    await assert_rollups_are_recomputable(w)


async def test_a_database_without_views_is_filled_from_the_topics_at_start(
        apart: Reporting) -> None:
    """As after an upgrade from a version without the views: the consumer group's offsets
    would not bring the old events again, so the service replays them before it serves."""
    w = apart
    assert w.process is not None
    tree = await make_tree(w)
    campaign = await make_campaign(w, *YEARS)
    for unit in tree.communes:
        await report(w, campaign, unit, 2026, values=figures(1000, 100))
        await report(w, campaign, unit, 2027, values=figures(1000, 70))
    async for attempt in eventually(30):
        with attempt:
            await assert_matches_indicators(w, campaign, tree)
    await w.process.stop()
    conn = await w.views()
    try:
        await conn.execute("DROP SCHEMA views CASCADE")
    finally:
        await conn.close()
    await w.process.start()
    await assert_matches_indicators(w, campaign, tree)  # at once: built before serving
    await assert_rollups_are_recomputable(w)
