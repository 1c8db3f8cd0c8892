"""The ministry feed: the board publishes a year's central summary as an immutable numbered
snapshot; a correction gives a new snapshot naming the one it supersedes; the snapshots are read
from a cursor over HTTP and from the topic with a plain Kafka consumer, each valid against the
committed JSON Schema."""

from __future__ import annotations

import json
import uuid

import asyncpg
import jsonschema
import pytest

from chungtay_common.auth import Role
from tests.conftest import REPO
from tests.reporting.conftest import (
    Json,
    Reporting,
    Tree,
    figures,
    make_campaign,
    make_tree,
    read_topic,
    report,
)
from tests.support import assert_problem, bearer, eventually, ok

SCHEMA = json.loads((REPO / "docs" / "events" / "summary.published.v1.schema.json").read_text())


async def publish(w: Reporting, campaign: uuid.UUID, tree: Tree, year: int = 2026,
                  headers: dict[str, str] | None = None) -> Json:
    body = {"campaign_id": str(campaign), "year": year, "province_id": str(tree.province)}
    board = bearer(w.stack.token(Role.BOARD, unit=tree.province, sub="ban-thi-dua"))
    result: Json = ok(await w.reporting.post("/v1/feed", json=body,
                                             headers=headers or board), 201)
    return result


async def figures_shown(w: Reporting, campaign: uuid.UUID, tree: Tree, poor: int) -> None:
    async for attempt in eventually(20):
        with attempt:
            central = ok(await w.reporting.get("/v1/summaries/central", params={
                "campaign_id": str(campaign), "year": 2026,
                "province_id": str(tree.province)}, headers=w.admin))
            assert central["poor_households"] == poor, central


@pytest.fixture
async def published(world: Reporting) -> tuple[uuid.UUID, Tree, Json]:
    tree = await make_tree(world)
    campaign = await make_campaign(world, 2026, 2027)
    await report(world, campaign, tree.a[0], 2026, values=figures(1000, 100))
    await report(world, campaign, tree.b[0], 2026, values=figures(2000, 150))
    await figures_shown(world, campaign, tree, 250)
    return campaign, tree, await publish(world, campaign, tree)


async def test_a_correction_after_publication_is_a_new_snapshot_the_old_one_unchanged(
        world: Reporting, published: tuple[uuid.UUID, Tree, Json]) -> None:
    campaign, tree, first = published
    assert first["supersedes_seq"] is None
    assert first["summary"]["schema_id"] == "chungtay.central-summary.v1"
    assert first["summary"]["poor_households"] == 250
    assert first["summary"]["reports"] == 2
    # nothing changed: nothing to publish
    again = await world.reporting.post("/v1/feed", json={
        "campaign_id": str(campaign), "year": 2026, "province_id": str(tree.province)},
        headers=world.board)
    assert_problem(again, 409)
    await report(world, campaign, tree.a[0], 2026, "return")
    await report(world, campaign, tree.a[0], 2026, values=figures(1000, 90))  # corrected
    await figures_shown(world, campaign, tree, 240)
    second = await publish(world, campaign, tree)
    assert second["seq"] > first["seq"] and second["supersedes_seq"] == first["seq"]
    assert second["summary"]["poor_households"] == 240
    old = ok(await world.reporting.get(f"/v1/feed/{first['seq']}", headers=world.admin))
    assert old == first


async def test_the_feed_is_read_from_the_start_and_resumed_from_a_cursor(
        world: Reporting, published: tuple[uuid.UUID, Tree, Json]) -> None:
    campaign, tree, first = published
    await report(world, campaign, tree.b[1], 2026, values=figures(500, 10))
    await figures_shown(world, campaign, tree, 260)
    second = await publish(world, campaign, tree)
    everything: list[Json] = []
    after = 0
    while True:  # pages of one, as a slow reader would
        page = ok(await world.reporting.get("/v1/feed", params={"after": after, "limit": 1},
                                            headers=world.admin))
        everything.extend(page["items"])
        after = page["next_after"]
        if not page["has_more"]:
            break
    seqs = [item["seq"] for item in everything]
    assert seqs == sorted(seqs) and seqs == list(range(1, len(seqs) + 1))
    assert {first["seq"], second["seq"]} <= set(seqs)
    resumed = ok(await world.reporting.get("/v1/feed", params={"after": first["seq"]},
                                           headers=world.admin))
    assert [i["seq"] for i in resumed["items"]] == seqs[seqs.index(first["seq"]) + 1:]


async def test_every_message_on_the_feed_topic_is_valid_against_the_committed_schema(
        world: Reporting, published: tuple[uuid.UUID, Tree, Json]) -> None:
    _, _, first = published
    async for attempt in eventually(20):
        with attempt:
            records = await read_topic(world, "feed")
            bodies = [json.loads(r.value or b"") for r in records]
            assert first["seq"] in [b["payload"]["seq"] for b in bodies]
    for body in bodies:
        jsonschema.validate(body, SCHEMA)
        assert body["event_type"] == "summary.published"
    mine = next(b for b in bodies if b["payload"]["seq"] == first["seq"])
    assert mine["payload"]["summary"] == first["summary"]


async def test_only_the_board_publishes_and_published_snapshots_cannot_be_changed(
        world: Reporting, published: tuple[uuid.UUID, Tree, Json]) -> None:
    campaign, tree, first = published
    viewer = bearer(world.stack.token(Role.VIEWER, unit=tree.province))
    refused = await world.reporting.post("/v1/feed", json={
        "campaign_id": str(campaign), "year": 2026}, headers=viewer)
    assert_problem(refused, 403)
    # a summary is any token's to read
    ok(await world.reporting.get("/v1/feed", headers=viewer))
    # the board of another province does not publish this one's
    other = bearer(world.stack.token(Role.BOARD, unit=uuid.uuid4(), sub="ban-tinh-khac"))
    assert_problem(await world.reporting.post("/v1/feed", json={
        "campaign_id": str(campaign), "year": 2026, "province_id": str(tree.province)},
        headers=other), 403)
    conn = await asyncpg.connect(world.settings.dsn())
    try:
        with pytest.raises(asyncpg.RaiseError, match="never changed"):
            await conn.execute("UPDATE feed_snapshots SET year = 1999 WHERE seq = $1",
                               first["seq"])
    finally:
        await conn.close()
