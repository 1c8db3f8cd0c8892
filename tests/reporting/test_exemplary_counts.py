"""Exemplary models and their replications counted per district and for the province: models
registered, recognised and replicated in the awards service (in this process, on the module's
namespace) reach the reporting service through the real broker and show in the provincial
summary, as the hierarchy stood and restated; a rebuild replays them to the same counts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from chungtay_common.auth import Role
from chungtay_common.db import drop_database, ensure_database
from chungtay_common.settings import ServiceSettings
from services.awards.api import build_app as build_awards
from services.awards.settings import AwardsSettings
from services.reporting.service import rebuild
from tests.conftest import TestStack
from tests.harness import in_process
from tests.reporting.conftest import (
    Json,
    Reporting,
    Tree,
    _settings,
    figures,
    make_campaign,
    make_tree,
    report,
)
from tests.support import bearer, eventually, ok

YEAR = 2025
COUNTS = ("exemplary_models", "exemplary_models_recognised", "replications")


@pytest.fixture(scope="module")
async def awards(stack: TestStack, world: Reporting) -> AsyncIterator[httpx.AsyncClient]:
    """The awards service on the module's namespace (its own database, the same topics)."""
    settings = _settings(stack, AwardsSettings, "awards", world.namespace)
    admin_dsn = stack.settings(ServiceSettings, "registration").dsn("postgres")
    await ensure_database(admin_dsn, settings.pg_database)
    try:
        async with in_process(build_awards(settings)) as client:
            yield client
    finally:
        await drop_database(admin_dsn, settings.pg_database)


async def held_by_awards(w: Reporting, units: list[uuid.UUID]) -> None:
    dsn = w.settings.model_copy(update={"pg_database": f"{w.namespace}_awards"}).dsn()
    conn = await asyncpg.connect(dsn)
    try:
        async for attempt in eventually(20):
            with attempt:
                assert await conn.fetchval(
                    "SELECT count(*) FROM units WHERE unit_id = ANY($1)", units) == len(units)
    finally:
        await conn.close()


async def lines(w: Reporting, campaign: uuid.UUID, tree: Tree, year: int,
                hierarchy: str = "as_reported") -> dict[str, tuple[int, int, int]]:
    summary: Json = ok(await w.reporting.get("/v1/summaries/provincial", params={
        "campaign_id": str(campaign), "year": year, "province_id": str(tree.province),
        "hierarchy": hierarchy}, headers=w.admin))
    names = {str(tree.province): "province", str(tree.district_a): "A",
             str(tree.district_b): "B"}
    return {names[ln["unit"]["unit_id"]]: tuple(ln[c] for c in COUNTS)
            for ln in [summary["province"], *summary["districts"]]}


async def test_models_and_replications_are_counted_per_district_and_province(
        world: Reporting, awards: httpx.AsyncClient) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, YEAR - 1, YEAR)
    for year in (YEAR - 1, YEAR):  # a commune of each district reports (restated lines)
        for unit in (tree.a[0], tree.b[0]):
            await report(world, campaign, unit, year, values=figures(1000, 100))
    await held_by_awards(world, [tree.province, tree.district_a, tree.district_b,
                                 *tree.communes])

    def token(role: Role, unit: uuid.UUID, sub: str) -> dict[str, str]:
        return bearer(world.stack.token(role, unit=unit, sub=sub))

    async def register(unit: uuid.UUID, name: str, year: int = YEAR) -> Json:
        body = {"name": name, "unit_id": str(unit), "kind": "livelihood_model",
                "description": "Nuôi bò sinh sản", "year": year}
        result: Json = ok(await awards.post("/v1/exemplary-models", json=body,
                                             headers=token(Role.REPORTER, unit, "reporter")),
                          201)
        return result

    async def replicate(model: Json, unit: uuid.UUID, day: str) -> None:
        ok(await awards.post(f"/v1/exemplary-models/{model['model_id']}/replications",
                             json={"unit_id": str(unit), "replicated_on": day,
                                   "outcome": "Áp dụng thành công"},
                             headers=token(Role.REPORTER, unit, f"reporter-{unit}")))

    board = token(Role.BOARD, tree.province, "board")
    decision = {"recognised_by": "Chủ tịch UBND tỉnh", "decision_number": "12/QĐ-UBND",
                "decided_on": f"{YEAR}-05-01"}
    cows = await register(tree.a[0], "Mô hình nuôi bò")
    await register(tree.b[0], "Mô hình trồng nấm")  # proposed, not recognised
    forest = await register(tree.b[1], "Mô hình trồng rừng", YEAR - 1)
    for m in (cows, forest):
        ok(await awards.post(f"/v1/exemplary-models/{m['model_id']}/recognise",
                             json=decision, headers=board))
    await replicate(cows, tree.a[1], f"{YEAR}-06-01")
    await replicate(cows, tree.b[1], f"{YEAR}-07-01")
    await replicate(forest, tree.a[2], f"{YEAR}-08-01")
    await replicate(forest, tree.b[0], f"{YEAR - 1}-12-31")
    ok(await awards.patch(f"/v1/exemplary-models/{cows['model_id']}", headers=board,
                          json={"name": "Mô hình nuôi bò sinh sản"}))

    # (found in the year, of them recognised, replications in the year)
    expected = {YEAR: {"province": (2, 1, 3), "A": (1, 1, 2), "B": (1, 0, 1)},
                YEAR - 1: {"province": (1, 1, 1), "A": (0, 0, 0), "B": (1, 1, 1)}}
    async for attempt in eventually(30):
        with attempt:
            for year, counts in expected.items():
                assert await lines(world, campaign, tree, year) == counts, year
    for year, counts in expected.items():
        assert await lines(world, campaign, tree, year, "current") == counts, year

    views = await world.views()
    try:
        async for attempt in eventually(30):  # exemplary_model.changed, the last, applied
            with attempt:
                assert await views.fetchval(
                    "SELECT name FROM exemplary_models WHERE model_id = $1",
                    uuid.UUID(cows["model_id"])) == "Mô hình nuôi bò sinh sản"
    finally:
        await views.close()

    # the views rebuilt from the topics hold the same counts
    outcome = await rebuild.run(world.settings, out=None)
    assert outcome is not None and outcome.applied > 0
    for year, counts in expected.items():
        assert await lines(world, campaign, tree, year) == counts, year

