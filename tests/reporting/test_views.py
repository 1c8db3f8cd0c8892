"""The views against the indicators service's own figures, after random sequences of submit,
correct, return, accept and reopen; rollups against a recomputation from the facts; late and
missing reports; redelivered events; targets and the national average."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from services.reporting.service import updates
from tests.conftest import next_code
from tests.reporting.conftest import (
    Json,
    Reporting,
    Tree,
    consumed_all,
    figures,
    held_by_indicators,
    make_campaign,
    make_tree,
    replay_topic,
    report,
)
from tests.support import eventually, ok, register_unit

YEARS = (2026, 2027)  # 2026 is past its due date (20 Nov 2026), 2027 is not


async def aggregate(w: Reporting, campaign: uuid.UUID, year: int, unit: uuid.UUID) -> Json:
    result: Json = ok(await w.indicators.get(
        f"/v1/campaigns/{campaign}/aggregates",
        params={"year": year, "unit_id": str(unit), "level": "commune"}, headers=w.admin))
    return result


async def status_counts(w: Reporting, campaign: uuid.UUID, year: int, unit: uuid.UUID
                        ) -> dict[str, int]:
    board = ok(await w.indicators.get(f"/v1/campaigns/{campaign}/status",
                                      params={"year": year, "unit_id": str(unit)},
                                      headers=w.admin))
    return {k: v for k, v in board["counts"].items() if v}


async def provincial(w: Reporting, campaign: uuid.UUID, year: int, tree: Tree,
                     **params: Any) -> Json:
    result: Json = ok(await w.reporting.get(
        "/v1/summaries/provincial", params={"campaign_id": str(campaign), "year": year,
                                            "province_id": str(tree.province), **params},
        headers=w.admin))
    return result


def close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-9)


async def assert_matches_indicators(w: Reporting, campaign: uuid.UUID, tree: Tree) -> None:
    """Every district's and the province's line equals the indicators service's aggregate and
    status board, in every year."""
    for year in YEARS:
        summary = await provincial(w, campaign, year, tree)
        lines = {ln["unit"]["unit_id"]: ln for ln in [summary["province"], *summary["districts"]]}
        assert set(lines) == {str(tree.province), str(tree.district_a), str(tree.district_b)}
        for unit in (tree.province, tree.district_a, tree.district_b):
            agg, line = await aggregate(w, campaign, year, unit), lines[str(unit)]
            assert line["reports"] == agg["reports"], (year, unit, line, agg)
            assert line["values"] == agg["values"], (year, unit)
            assert line["reduction_reports"] == agg["reduction_reports"]
            for key in ("poor_rate_pct", "near_poor_rate_pct", "reduction_pp"):
                assert close(line[key], agg["derived"][key]), (key, line[key], agg["derived"])
            target = line["target"] or {}
            assert target.get("met") == agg["derived"]["target_met"]
            assert close(target.get("attainment_pct"), agg["derived"]["target_attainment_pct"])
            counts = line["compliance"]
            mine = {k: counts[k] for k in ("on_time", "late", "missing", "not_yet_due")
                    if counts[k]}
            assert mine == await status_counts(w, campaign, year, unit), (year, unit)


async def assert_rollups_are_recomputable(w: Reporting) -> None:
    """The incremental rollups equal a recomputation of every row from the facts."""
    conn = await w.views()
    try:
        kept = [dict(r) for r in await conn.fetch(
            "SELECT * FROM rollups ORDER BY campaign_id, year, unit_id")]
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("DELETE FROM rollups")
            await updates.refresh_all(conn)
            again = [dict(r) for r in await conn.fetch(
                "SELECT * FROM rollups ORDER BY campaign_id, year, unit_id")]
        finally:
            await tx.rollback()
    finally:
        await conn.close()
    strip = ("refreshed_at",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in kept] == \
        [{k: v for k, v in r.items() if k not in strip} for r in again]


@pytest.mark.parametrize("seed", [7, 2026])
async def test_views_equal_the_indicators_figures_after_random_workflows(
        world: Reporting, seed: int) -> None:
    """Submit, correct, return, accept and reopen at random, with a merger in the middle of
    it (two communes of different districts become one on 1 July 2027)."""
    rng = random.Random(seed)
    tree = await make_tree(world)
    campaign = await make_campaign(world, *YEARS)
    target = {"reduction_pp_min": 1.5}
    for unit in (tree.province, tree.district_a):
        ok(await world.indicators.put(f"/v1/campaigns/{campaign}/targets/2027/{unit}",
                                      json=target, headers=world.board))
    state: dict[tuple[uuid.UUID, int], str] = {}
    # who may report for which years: after the merger, the successor for 2027 only
    years: dict[uuid.UUID, tuple[int, ...]] = dict.fromkeys(tree.communes, YEARS)
    for step in range(50):
        if step == 25:
            merged, successor = await merge(world, tree, [tree.a[2], tree.b[1]])
            years.update(dict.fromkeys(merged, (2026,)))
            years[successor] = (2027,)
        unit = rng.choice(sorted(years))
        year = rng.choice(years[unit])
        current = state.get((unit, year))
        choices = {None: ["submit"], "submitted": ["submit", "return", "accept"],
                   "returned": ["submit"], "accepted": ["reopen"],
                   "reopened": ["submit"]}[current]
        action = rng.choice(choices)
        households = rng.randint(800, 1200)
        values = figures(households, rng.randint(20, 200)) if action == "submit" else None
        done = await report(world, campaign, unit, year, action, values)
        state[(unit, year)] = done["status"]
    async for attempt in eventually(30):
        with attempt:
            await assert_matches_indicators(world, campaign, tree)
    await assert_rollups_are_recomputable(world)


async def merge(w: Reporting, tree: Tree, communes: list[uuid.UUID]
                ) -> tuple[list[uuid.UUID], uuid.UUID]:
    """Merge ``communes`` into a new commune of district B from 1 July 2027."""
    merged = ok(await w.registration.post("/v1/units/merge", headers=w.admin, json={
        "predecessor_ids": [str(u) for u in communes], "effective_date": "2027-07-01",
        "successor": {"kind": "commune", "subkind": "xa", "code": next_code(),
                      "name": f"Xã Hợp Nhất {uuid.uuid4().hex[:4]}",
                      "parent_id": str(tree.district_b)}}))
    successor = next(uuid.UUID(u["unit_id"]) for u in merged["units"]
                     if uuid.UUID(u["unit_id"]) not in communes)
    await held_by_indicators(w, [successor])
    return communes, successor


async def test_late_missing_and_not_yet_due(world: Reporting) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, *YEARS)
    await report(world, campaign, tree.a[0], 2026, values=figures(1000, 100))  # late
    await report(world, campaign, tree.a[1], 2027, values=figures(1000, 90))  # on time
    async for attempt in eventually(30):
        with attempt:
            past = (await provincial(world, campaign, 2026, tree))["province"]["compliance"]
            # expected: the two districts and five communes (participating kinds)
            assert (past["expected"], past["late"], past["missing"], past["on_time"]) == \
                (7, 1, 6, 0), past
            coming = (await provincial(world, campaign, 2027, tree))["province"]["compliance"]
            assert (coming["on_time"], coming["not_yet_due"], coming["missing"]) == \
                (1, 6, 0), coming
    page = ok(await world.reporting.get("/v1/compliance", params={
        "campaign_id": str(campaign), "year": 2026, "unit_id": str(tree.district_a),
        "punctuality": "missing"}, headers=world.admin))
    assert page["counts"] == {"on_time": 0, "late": 1, "missing": 3, "not_yet_due": 0}
    assert {i["unit"]["unit_id"] for i in page["items"]} == \
        {str(tree.district_a), str(tree.a[1]), str(tree.a[2])}


async def test_a_correction_replaces_the_values_and_a_district_report_is_compared(
        world: Reporting) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, *YEARS)
    await report(world, campaign, tree.a[0], 2026, values=figures(1000, 100))
    await report(world, campaign, tree.a[0], 2026, values=figures(1000, 80))  # corrected
    await report(world, campaign, tree.a[1], 2026, values=figures(500, 50))
    await report(world, campaign, tree.district_a, 2026, values=figures(1500, 140))
    async for attempt in eventually(30):
        with attempt:
            lines = {ln["unit"]["unit_id"]: ln
                     for ln in (await provincial(world, campaign, 2026, tree))["districts"]}
            a = lines[str(tree.district_a)]
            assert a["values"]["poor_households"] == 130 and a["reports"] == 2
            assert a["own_report"]["differs"] is True
            assert a["own_report"]["differences"] == {
                "near_poor_households": 70 - 65, "poor_households": 10}


async def test_national_average_and_targets_show_at_once(world: Reporting) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, *YEARS)
    for unit, poor in zip(tree.communes, (100, 90, 80, 70, 60), strict=True):
        await report(world, campaign, unit, 2026, values=figures(1000, poor))
        await report(world, campaign, unit, 2027, values=figures(1000, poor - 25))
    ok(await world.indicators.put("/v1/national-averages/2027", headers=world.board,
                                  json={"poor_rate_pct": 5.0, "source": "Bộ LĐ-TB&XH"}))
    ok(await world.indicators.put(f"/v1/campaigns/{campaign}/targets/2027/{tree.province}",
                                  json={"reduction_pp_min": 2.0,
                                        "at_most_national_average": True},
                                  headers=world.board))
    async for attempt in eventually(30):
        with attempt:
            p = (await provincial(world, campaign, 2027, tree))["province"]
            assert close(p["poor_rate_pct"], 275 / 5000 * 100)
            assert close(p["reduction_pp"], 2.5)
            assert p["national_average_pct"] == 5.0
            assert p["at_or_below_national_average"] is False  # 5.5 % > 5 %
            assert p["target"]["met"] is False and close(p["target"]["attainment_pct"], 125)


async def test_redelivered_events_change_nothing(world: Reporting) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, *YEARS)
    await report(world, campaign, tree.b[0], 2026, values=figures(1000, 100))
    async for attempt in eventually(30):
        with attempt:
            assert (await provincial(world, campaign, 2026, tree))["province"]["reports"] == 1
    for owner in ("registration", "indicators"):  # earlier tests' events are all applied
        await consumed_all(world, owner)
    conn = await world.views()
    try:
        before = [dict(r) for r in await conn.fetch("SELECT * FROM rollups ORDER BY unit_id")]
        events = await conn.fetchval("SELECT count(*) FROM processed_events")
        # every event of the indicators topic again, as a redelivery would bring them
        assert await replay_topic(world, "indicators") > 0
        await consumed_all(world, "indicators")
        assert await conn.fetchval("SELECT count(*) FROM processed_events") == events
        after = [dict(r) for r in await conn.fetch("SELECT * FROM rollups ORDER BY unit_id")]
        assert after == before
    finally:
        await conn.close()


async def test_a_unit_formed_mid_year_counts_in_its_district_and_province(
        world: Reporting) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, *YEARS)
    formed = await register_unit(world.registration, world.admin, kind="commune", subkind="xa",
                                 name=f"Xã Mới Lập {uuid.uuid4().hex[:4]}", code=next_code(),
                                 parent=tree.district_a, valid_from="2026-07-01")
    await held_by_indicators(world, [uuid.UUID(formed["unit_id"])])
    await report(world, campaign, tree.a[0], 2026, values=figures(1000, 100))
    await report(world, campaign, uuid.UUID(formed["unit_id"]), 2026,
                 values=figures(500, 40))  # the last event: nothing else refreshes after it
    async for attempt in eventually(30):
        with attempt:
            summary = await provincial(world, campaign, 2026, tree)
            assert summary["province"]["values"]["poor_households"] == 140
            a = next(ln for ln in summary["districts"]
                     if ln["unit"]["unit_id"] == str(tree.district_a))
            assert a["reports"] == 2
            agg = await aggregate(world, campaign, 2026, tree.province)
            assert summary["province"]["values"] == agg["values"]


async def test_summaries_say_whether_their_figures_are_estimates_or_official(
        world: Reporting) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, *YEARS)
    await report(world, campaign, tree.b[0], 2026, values=figures(1000, 100))
    await report(world, campaign, tree.b[1], 2026, values=figures(1000, 50))
    await report(world, campaign, tree.b[0], 2026, "confirm")  # the review keeps the estimate

    async def district_b() -> Json:
        lines = (await provincial(world, campaign, 2026, tree))["districts"]
        return next(ln for ln in lines if ln["unit"]["unit_id"] == str(tree.district_b))

    async for attempt in eventually(30):
        with attempt:
            assert (await district_b())["figures"] == "mixed"
    ok(await world.indicators.post(
        f"/v1/campaigns/{campaign}/reports/{tree.b[1]}/2026/confirm", headers=world.admin,
        json={"values": figures(1000, 40), "note": "Kết quả rà soát hộ nghèo năm 2026"}))
    async for attempt in eventually(30):
        with attempt:
            b = await district_b()
            assert (b["figures"], b["values"]["poor_households"]) == ("official", 140)
            central = ok(await world.reporting.get("/v1/summaries/central", params={
                "campaign_id": str(campaign), "year": 2026, "province_id": str(tree.province)},
                headers=world.admin))
            assert central["figures"] == "official"


async def test_the_consumer_asks_the_broker_to_hold_an_empty_fetch_briefly(
        world: Reporting) -> None:
    """faust asks for 1.5 s, which held events of busy partitions back that long behind a
    fetch of quiet ones (``chungtay_common.consumer``): the running consumer's fetcher has the
    reporting service's short wait (what an event waits at most), the indicators' faust's."""
    for client, wait in ((world.reporting, 250), (world.indicators, 1500)):
        app = client._transport.app  # type: ignore[attr-defined]
        assert app.state.settings.kafka_fetch_max_wait_ms == wait
        kafka = app.state.stream_app.consumer._thread._consumer
        assert kafka._fetcher._fetch_max_wait_ms == wait
