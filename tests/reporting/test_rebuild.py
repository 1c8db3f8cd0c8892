"""Rebuilding the views from the log while the service runs: the rebuilt tables equal the
incremental ones row by row, the service answers throughout and goes on applying events on
the swapped-in views."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from services.reporting import repository
from services.reporting.service import rebuild
from tests.reporting.conftest import (
    Reporting,
    figures,
    make_campaign,
    make_tree,
    report,
)
from tests.support import eventually, metric, ok

TABLES = {  # table: what orders its rows (columns stamped with the time of writing left out)
    "units": "unit_id", "unit_versions": "unit_id, valid_from", "lineage": "predecessor_id",
    "campaigns": "campaign_id", "cycles": "campaign_id, year", "indicators": "code",
    "targets": "campaign_id, year, unit_id", "national_averages": "year",
    "facts": "campaign_id, year, unit_id", "nominations": "nomination_id",
    "rollups": "campaign_id, year, unit_id", "processed_events": "event_id",
    "positions": "topic, partition",
}
STAMPS = {"updated_at", "refreshed_at", "processed_at", "applied_at"}


async def tables(w: Reporting) -> dict[str, list[dict[str, Any]]]:
    conn = await w.views()
    try:
        return {t: [{k: v for k, v in dict(r).items() if k not in STAMPS}
                    for r in await conn.fetch(f"SELECT * FROM {t} ORDER BY {order}")]
                for t, order in TABLES.items()}
    finally:
        await conn.close()


async def test_rebuilt_views_equal_the_incremental_ones_row_by_row(world: Reporting) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, 2026, 2027)
    for i, unit in enumerate(tree.communes):
        await report(world, campaign, unit, 2026, values=figures(1000, 100 + i))
        await report(world, campaign, unit, 2027, values=figures(1000, 80 + i))
    await report(world, campaign, tree.a[0], 2027, "return")
    await report(world, campaign, tree.a[0], 2027, values=figures(1000, 60))
    await report(world, campaign, tree.b[0], 2027, "accept")
    params = {"campaign_id": str(campaign), "year": "2027", "province_id": str(tree.province)}
    async for attempt in eventually(20):
        with attempt:
            p = ok(await world.reporting.get("/v1/summaries/provincial", params=params,
                                             headers=world.admin))["province"]
            assert p["values"]["poor_households"] == 60 + 81 + 82 + 83 + 84
            assert p["compliance"]["accepted"] == 1
    before = await tables(world)

    async def reading() -> int:
        """The service answers from the old views while the rebuild runs."""
        answered = 0
        while not done.is_set():
            ok(await world.reporting.get("/v1/summaries/provincial", params=params,
                                         headers=world.admin))
            answered += 1
            await asyncio.sleep(0)
        return answered

    done = asyncio.Event()
    reader = asyncio.create_task(reading())
    out = io.StringIO()
    try:
        outcome = await rebuild.run(world.settings, out=out)
    finally:
        done.set()
    assert await reader > 0
    assert outcome.events >= len(before["processed_events"]) > 0
    assert "events/s" in out.getvalue() and "100.0%" in out.getvalue()
    after = await tables(world)
    for table in TABLES:
        assert after[table] == before[table], table
    # the live consumer goes on, on the swapped-in views
    await report(world, campaign, tree.a[1], 2027, "return")
    await report(world, campaign, tree.a[1], 2027, values=figures(1000, 1))
    async for attempt in eventually(20):
        with attempt:
            p = ok(await world.reporting.get("/v1/summaries/provincial", params=params,
                                             headers=world.admin))["province"]
            assert p["values"]["poor_households"] == 60 + 1 + 82 + 83 + 84
            assert await metric(world.reporting, "chungtay_reporting_rebuild_progress_ratio") \
                == 1.0


async def test_a_second_rebuild_is_refused_while_one_runs(world: Reporting) -> None:
    conn = await world.views()
    try:
        await repository.lock_rebuilds(conn)  # as a running rebuild holds it
        with pytest.raises(rebuild.RebuildRunning):
            await rebuild.run(world.settings, out=None)
    finally:
        await conn.close()
