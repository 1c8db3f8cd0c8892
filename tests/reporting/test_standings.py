"""Summaries a Board officer reads besides the provincial one: the hierarchy as reported and
restated after a merger, rankings, exemplary units, trends with the period view, freshness."""

from __future__ import annotations

import uuid

from tests.conftest import next_code
from tests.reporting.conftest import (
    Json,
    Reporting,
    figures,
    held_by_indicators,
    make_campaign,
    make_tree,
    report,
)
from tests.support import eventually, ok


async def get(w: Reporting, path: str, **params: object) -> Json:
    result: Json = ok(await w.reporting.get(path, params={k: str(v) for k, v in params.items()},
                                            headers=w.admin))
    return result


async def test_a_merger_as_reported_and_restated_onto_todays_units(world: Reporting) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, 2025, 2026)
    a0, a1, b0 = tree.a[0], tree.a[1], tree.b[0]
    for unit, poor in ((a0, 100), (a1, 50), (b0, 30)):
        await report(world, campaign, unit, 2025, values=figures(1000, poor))
    merged = ok(await world.registration.post("/v1/units/merge", headers=world.admin, json={
        "predecessor_ids": [str(a0), str(b0)], "effective_date": "2026-01-01",
        "successor": {"kind": "commune", "subkind": "xa", "code": next_code(),
                      "name": f"Xã Hợp Nhất {uuid.uuid4().hex[:4]}",
                      "parent_id": str(tree.district_b)}}))
    successor = next(u["unit_id"] for u in merged["units"]
                     if u["unit_id"] not in (str(a0), str(b0)))
    await held_by_indicators(world, [uuid.UUID(successor)])
    params = {"campaign_id": campaign, "year": 2025, "province_id": tree.province}
    async for attempt in eventually(20):
        with attempt:
            reported = await get(world, "/v1/summaries/provincial", **params)
            restated = await get(world, "/v1/summaries/provincial", **params,
                                 hierarchy="current")
            before = {ln["unit"]["unit_id"]: ln["values"]["poor_households"]
                      for ln in reported["districts"]}
            after = {ln["unit"]["unit_id"]: ln["values"]["poor_households"]
                     for ln in restated["districts"]}
            assert before == {str(tree.district_a): 150, str(tree.district_b): 30}
            assert after == {str(tree.district_a): 50, str(tree.district_b): 130}
            assert reported["province"]["values"] == restated["province"]["values"]
            assert restated["province"]["compliance"] is None


async def test_rankings_exemplary_units_and_trends(world: Reporting) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, 2026, 2027)
    # 2026 → 2027 rates: a0 10 → 7, a1 10 → 8, a2 10 → 7 (tie), b0 10 → 9.5; b1 reports once
    for unit, now in zip(tree.communes, (70, 80, 70, 95, None), strict=True):
        await report(world, campaign, unit, 2026, values=figures(1000, 100))
        if now is not None:
            await report(world, campaign, unit, 2027, values=figures(1000, now))
    ok(await world.indicators.put(f"/v1/campaigns/{campaign}/targets/2027/{tree.a[1]}",
                                  json={"reduction_pp_min": 1.0}, headers=world.board))
    async for attempt in eventually(20):
        with attempt:
            page = await get(world, "/v1/rankings", campaign_id=campaign, year=2027,
                             unit_id=tree.province)
            ranks = [(r["unit"]["unit_id"], r["rank"]) for r in page["items"]]
            assert ranks[:2] and {u for u, r in ranks if r == 1} == {str(tree.a[0]),
                                                                      str(tree.a[2])}
            assert dict(ranks)[str(tree.a[1])] == 3 and dict(ranks)[str(tree.b[0])] == 4
            assert ranks[-1] == (str(tree.b[1]), None)  # no 2027 report, no rank
    async for attempt in eventually(20):  # once the target's event is applied
        with attempt:
            by_attainment = await get(world, "/v1/rankings", campaign_id=campaign, year=2027,
                                      unit_id=tree.province, by="attainment")
            assert by_attainment["items"][0]["unit"]["unit_id"] == str(tree.a[1])
            assert by_attainment["items"][0]["target_attainment_pct"] == 200.0
    districts = await get(world, "/v1/rankings", campaign_id=campaign, year=2027,
                          unit_id=tree.province, level="district")
    assert [r["unit"]["unit_id"] for r in districts["items"]] == [str(tree.district_a),
                                                                  str(tree.district_b)]
    best = await get(world, "/v1/exemplary", campaign_id=campaign, year=2027,
                     unit_id=tree.province)
    assert [r["unit"]["unit_id"] for r in best["best_reducers"]][:2] == sorted(
        [str(tree.a[0]), str(tree.a[2])], key=lambda u: [r["unit"]["unit_id"]
                                                          for r in page["items"]].index(u))
    trend = await get(world, f"/v1/trends/{tree.district_a}", campaign_id=campaign)
    assert [p["year"] for p in trend["points"]] == [2026, 2027]
    assert abs(trend["points"][1]["reduction_pp"] - 8 / 3) < 1e-9  # 300 → 220 of 3,000
    assert trend["period"]["yearly_reduction_pp"] == {"2027": trend["points"][1][
        "reduction_pp"]}
    assert trend["period"]["meets_plan"] is True
    commune = await get(world, f"/v1/trends/{tree.b[0]}", campaign_id=campaign)
    assert commune["period"]["meets_plan"] is False  # 0.5 points a year
    assert commune["points"][1]["report_state"] == "submitted"


async def test_freshness_names_the_last_event_of_each_topic(world: Reporting) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, 2026, 2027)
    await report(world, campaign, tree.a[0], 2026, values=figures(1000, 100))
    async for attempt in eventually(20):
        with attempt:
            fresh = await get(world, "/v1/freshness")
            by_topic = {t["topic"].split(".")[-2]: t for t in fresh["topics"]}
            assert set(by_topic) == {"registration", "indicators", "awards"}
            indicators = by_topic["indicators"]
            assert indicators["last_event_type"] == "report.submitted"
            assert indicators["lag"] == 0 and by_topic["registration"]["lag"] == 0
