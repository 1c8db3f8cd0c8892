"""The indicators API through HTTP: the app in this process, the real PostgreSQL and Kafka, and
units that arrived from the registration service over Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from chungtay_common.auth import Role
from services.indicators import domain
from tests.conftest import TestStack
from tests.indicators.conftest import OVERDUE_CHECK_SECONDS, Service, Tree, bearer, eventually

Json = dict[str, Any]
Headers = dict[str, str]
RowCounts = Callable[[], Awaitable[dict[str, int]]]

PAST = (2017, 2018)  # every cycle's due date has passed: submissions are late
FUTURE = (2090, 2091)  # no due date has passed: submissions are on time

VALUES: Json = {"households_total": 1000, "poor_households": 100,
                "near_poor_households": 80, "escaped_poverty": 20, "newly_poor": 5,
                "fell_back_into_poverty": 2, "initiatives": 3}


def values(**changes: Any) -> Json:
    return {**VALUES, **changes}


def key() -> Headers:
    return {"Idempotency-Key": uuid.uuid4().hex}


def field_names(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in r.json()["errors"]]


@pytest.fixture
def api(indicators: Service) -> httpx.AsyncClient:
    return indicators.client


@pytest.fixture
def board(stack: TestStack, tree: Tree) -> Headers:
    return bearer(stack, Role.BOARD, unit=tree.province, sub="board-hoa")


def reporter(stack: TestStack, unit: uuid.UUID) -> Headers:
    return bearer(stack, Role.REPORTER, unit=unit, sub=f"reporter-{unit}")


def reviewer(stack: TestStack, unit: uuid.UUID) -> Headers:
    return bearer(stack, Role.REVIEWER, unit=unit, sub=f"reviewer-{unit}")


async def create_campaign(api: httpx.AsyncClient, headers: Headers, years: tuple[int, int],
                          kinds: tuple[str, ...] = ("district", "commune")) -> Json:
    r = await api.post("/v1/campaigns", headers=headers, json={
        "code": f"campaign-{uuid.uuid4().hex[:12]}", "name": "Chung tay vì người nghèo",
        "first_year": years[0], "last_year": years[1], "participating_kinds": list(kinds),
        "legal_basis": [{"number": "1258/QĐ-TTg", "issued_on": "2016-07-01",
                         "title": "Phong trào thi đua Cả nước chung tay vì người nghèo"}]})
    assert r.status_code == 201, r.text
    campaign: Json = r.json()
    return campaign


@pytest.fixture
async def past(api: httpx.AsyncClient, board: Headers) -> str:
    return str((await create_campaign(api, board, PAST))["campaign_id"])


@pytest.fixture
async def future(api: httpx.AsyncClient, board: Headers) -> str:
    return str((await create_campaign(api, board, FUTURE))["campaign_id"])


def report_path(campaign: str, unit: uuid.UUID, year: int) -> str:
    return f"/v1/campaigns/{campaign}/reports/{unit}/{year}"


async def act(api: httpx.AsyncClient, headers: Headers, campaign: str, unit: uuid.UUID,
              year: int, action: str, body: Json | None = None,
              idempotency: Headers | None = None) -> httpx.Response:
    """Save (PUT), or submit/return/accept/reopen (POST) a report."""
    path = report_path(campaign, unit, year)
    h = {**headers, **(idempotency or key())}
    if action == "save":
        return await api.put(path, headers=h, json=body)
    return await api.post(f"{path}/{action}", headers=h, json=body)


async def ok(r: Awaitable[httpx.Response]) -> Any:
    response = await r
    assert response.status_code == 200, response.text
    return response.json()


async def get_report(api: httpx.AsyncClient, headers: Headers, campaign: str, unit: uuid.UUID,
                     year: int) -> Json:
    report: Json = await ok(api.get(report_path(campaign, unit, year), headers=headers))
    return report


# ---------------------------------------------------------------------------------------------
# campaigns, catalogue, targets


async def test_create_campaign_is_for_the_board(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers
) -> None:
    campaign = await create_campaign(api, board, (2016, 2020))
    assert [c["year"] for c in campaign["cycles"]] == [2016, 2017, 2018, 2019, 2020]
    due = datetime.fromisoformat(campaign["cycles"][1]["due_at"])
    assert due == datetime(2017, 11, 19, 17, 0, tzinfo=UTC)  # 20 November 00:00 in Vietnam
    assert campaign["legal_basis"][0]["number"] == "1258/QĐ-TTg"
    got = await ok(api.get(f"/v1/campaigns/{campaign['campaign_id']}", headers=board))
    assert {k: v for k, v in got.items() if k != "cycles"} == {
        k: v for k, v in campaign.items() if k != "cycles"}
    # the same instants, whatever offset they are written with
    assert [(c["year"], datetime.fromisoformat(c["due_at"])) for c in got["cycles"]] == [
        (c["year"], datetime.fromisoformat(c["due_at"])) for c in campaign["cycles"]]
    assert campaign["campaign_id"] in {
        c["campaign_id"] for c in await ok(api.get("/v1/campaigns", headers=board))}

    admin = await create_campaign(api, bearer(stack, Role.ADMIN), PAST)
    assert admin["first_year"] == 2017
    for role in (Role.REPORTER, Role.REVIEWER, Role.VIEWER):
        r = await api.post("/v1/campaigns", headers=bearer(stack, role, unit=tree.province),
                           json={"code": f"c-{uuid.uuid4().hex[:8]}", "name": "x",
                                 "first_year": 2017, "last_year": 2018})
        assert r.status_code == 403, (role, r.text)
    r = await api.post("/v1/campaigns", headers=board, json={
        "code": campaign["code"], "name": "again", "first_year": 2017, "last_year": 2018})
    assert r.status_code == 409, r.text
    r = await api.post("/v1/campaigns", headers=board, json={
        "code": f"c-{uuid.uuid4().hex[:8]}", "name": "x", "first_year": 2018, "last_year": 2017})
    assert field_names(r) == ["last_year"]
    r = await api.post("/v1/campaigns", json={"code": "c-none", "name": "x",
                                              "first_year": 2017, "last_year": 2018})
    assert r.status_code == 401


async def test_catalogue_is_seeded_with_entered_and_derived_indicators(
    api: httpx.AsyncClient, board: Headers
) -> None:
    listed = {i["code"]: i for i in await ok(api.get("/v1/indicators", headers=board))}
    assert len(domain.SEED_CATALOGUE) == 17
    for seed in domain.SEED_CATALOGUE:
        entry = listed[seed.code]
        assert entry["derived"] is seed.derived, seed.code
        assert entry["required"] is seed.required, seed.code
    derived = {c for c, i in listed.items() if i["derived"]}
    assert derived == set(domain.DERIVED)
    assert listed["poor_rate_pct"]["aggregation"] == "ratio_of_sums"
    assert listed["poor_rate_pct"]["formula"] == "poor_households / households_total * 100"
    assert listed["households_total"]["aggregation"] == "sum"
    assert listed["households_total"]["name_vi"] == "Tổng số hộ"


async def test_add_change_and_retire_an_indicator(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str
) -> None:
    code = f"t_{uuid.uuid4().hex[:10]}"
    body: Json = {"code": code, "name_vi": "Số hộ được vay vốn", "name_en": "Households lent",
                  "unit_of_measure": "households", "reported_by": ["commune"]}
    added = await ok(api.post("/v1/indicators", headers=board, json=body))
    assert (added["version"], added["derived"], added["retired"]) == (1, False, False)
    assert added["aggregation"] == "sum" and added["required"] is False
    changed = await ok(api.post("/v1/indicators", headers=board,
                                json={**body, "name_en": "Households given loans"}))
    assert (changed["version"], changed["name_en"]) == (2, "Households given loans")

    commune = reporter(stack, tree.commune_a1)
    await ok(act(api, commune, future, tree.commune_a1, 2090, "save", {"values": {code: 4}}))
    # a district does not report it
    r = await act(api, reporter(stack, tree.district_a), future, tree.district_a, 2090, "save",
                  {"values": {code: 4}})
    assert field_names(r) == [f"values.{code}"]

    retired = await ok(api.post(f"/v1/indicators/{code}/retire", headers=board))
    assert (retired["version"], retired["retired"]) == (3, True)
    listed = {i["code"]: i for i in await ok(api.get("/v1/indicators", headers=board))}
    assert listed[code]["retired"] is True  # retired entries stay in the catalogue
    r = await act(api, commune, future, tree.commune_a1, 2090, "save", {"values": {code: 5}})
    assert field_names(r) == [f"values.{code}"]
    assert "retired" in r.json()["errors"][0]["message"]
    # the value saved before is kept
    kept = await get_report(api, board, future, tree.commune_a1, 2090)
    assert kept["values"] == {code: 4}

    r = await api.post("/v1/indicators", headers=commune, json=body)
    assert r.status_code == 403, r.text
    r = await api.post(f"/v1/indicators/{code}/retire", headers=commune)
    assert r.status_code == 403, r.text
    r = await api.post(f"/v1/indicators/t_{uuid.uuid4().hex[:8]}/retire", headers=board)
    assert r.status_code == 404, r.text


async def test_derived_indicators_cannot_be_defined_or_retired(
    api: httpx.AsyncClient, board: Headers
) -> None:
    body = {"code": "poor_rate_pct", "name_vi": "Tỷ lệ", "name_en": "Rate",
            "unit_of_measure": "percent", "value_type": "decimal", "reported_by": ["commune"]}
    assert field_names(await api.post("/v1/indicators", headers=board, json=body)) == ["code"]
    assert field_names(await api.post("/v1/indicators/reduction_pp/retire",
                                      headers=board)) == ["code"]
    listed = {i["code"]: i for i in await ok(api.get("/v1/indicators", headers=board))}
    assert listed["poor_rate_pct"]["derived"] is True
    assert listed["reduction_pp"]["retired"] is False
    r = await api.post("/v1/indicators", headers=board, json={
        "code": f"t_{uuid.uuid4().hex[:8]}", "name_vi": "x", "name_en": "x",
        "unit_of_measure": "x", "min_value": 10, "max_value": 5, "reported_by": ["commune"]})
    assert field_names(r) == ["max_value"]


async def test_set_targets_and_the_national_average(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, past: str
) -> None:
    target = {"reduction_pp_min": 1.5, "reduction_pp_max": 2.0, "households_out_min": 40,
              "source": "Nghị quyết HĐND tỉnh"}
    path = f"/v1/campaigns/{past}/targets/2017/{tree.district_a}"
    got = await ok(api.put(path, headers=board, json=target))
    assert got["reduction_pp_min"] == 1.5 and got["unit_id"] == str(tree.district_a)
    again = await ok(api.put(path, headers=board, json={**target, "reduction_pp_min": 1.8}))
    assert again["reduction_pp_min"] == 1.8
    listed = await ok(api.get(f"/v1/campaigns/{past}/targets", headers=board,
                              params={"year": 2017}))
    assert [(t["unit_id"], t["reduction_pp_min"]) for t in listed] == [
        (str(tree.district_a), 1.8)]
    assert await ok(api.get(f"/v1/campaigns/{past}/targets", headers=board,
                            params={"year": 2018})) == []

    r = await api.put(path, headers=reviewer(stack, tree.province), json=target)
    assert r.status_code == 403, r.text
    r = await api.put(f"/v1/campaigns/{past}/targets/2019/{tree.district_a}", headers=board,
                      json=target)
    assert field_names(r) == ["year"]
    r = await api.put(f"/v1/campaigns/{past}/targets/2017/{uuid.uuid4()}", headers=board,
                      json=target)
    assert field_names(r) == ["unit_id"]
    r = await api.put(path, headers=board, json={"reduction_pp_min": 2, "reduction_pp_max": 1})
    assert field_names(r) == ["reduction_pp_max"]
    # a board member of another province's tree may not set this one's targets
    r = await api.put(path, headers=bearer(stack, Role.BOARD, unit=uuid.uuid4()), json=target)
    assert r.status_code == 403, r.text

    year = 2000 + uuid.uuid4().int % 90  # a year of its own: averages are global
    average = {"poor_rate_pct": 8.23, "source": "Quyết định 1052/QĐ-LĐTBXH (MOLISA)"}
    got = await ok(api.put(f"/v1/national-averages/{year}", headers=board, json=average))
    assert got == {**average, "year": year}
    listed = await ok(api.get("/v1/national-averages", headers=board))
    assert {**average, "year": year} in listed
    r = await api.put(f"/v1/national-averages/{year}", headers=reporter(stack, tree.province),
                      json=average)
    assert r.status_code == 403, r.text
    r = await api.put(f"/v1/national-averages/{year}", headers=board,
                      json={"poor_rate_pct": 101, "source": "x"})
    assert field_names(r) == ["poor_rate_pct"]


# ---------------------------------------------------------------------------------------------
# who may do what


async def test_a_commune_reporter_writes_only_its_own_communes_report(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, future: str
) -> None:
    own = reporter(stack, tree.commune_a1)
    saved = await ok(act(api, own, future, tree.commune_a1, 2090, "save", {"values": VALUES}))
    assert (saved["status"], saved["version"]) == ("draft", 1)
    submitted = await ok(act(api, own, future, tree.commune_a1, 2090, "submit", {}))
    assert (submitted["status"], submitted["version"]) == ("submitted", 2)
    assert submitted["values"] == VALUES

    for action in ("save", "submit"):
        r = await act(api, own, future, tree.commune_a2, 2090, action, {"values": VALUES})
        assert r.status_code == 403, r.text
    r = await act(api, bearer(stack, Role.VIEWER, unit=tree.commune_a1), future,
                  tree.commune_a1, 2090, "save", {"values": VALUES})
    assert r.status_code == 403, r.text
    # nor may it review its own report
    r = await act(api, own, future, tree.commune_a1, 2090, "accept")
    assert r.status_code == 403, r.text


async def test_a_district_reviewer_reviews_only_its_own_communes(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str
) -> None:
    for unit in (tree.commune_a1, tree.commune_a2, tree.commune_b1, tree.district_a):
        await ok(act(api, reporter(stack, unit), future, unit, 2090, "submit",
                     {"values": VALUES}))
    district_a = reviewer(stack, tree.district_a)
    accepted = await ok(act(api, district_a, future, tree.commune_a1, 2090, "accept"))
    assert accepted["status"] == "accepted"
    returned = await ok(act(api, district_a, future, tree.commune_a2, 2090, "return",
                            {"reason": "Số hộ thoát nghèo chưa khớp danh sách"}))
    assert returned["status"] == "returned"
    for action, body in (("accept", None), ("return", {"reason": "không thuộc huyện"})):
        r = await act(api, district_a, future, tree.commune_b1, 2090, action, body)
        assert r.status_code == 403, r.text
        # its own district's report is the board's to review
        r = await act(api, district_a, future, tree.district_a, 2090, action, body)
        assert r.status_code == 403, r.text
    # the provincial reviewer is not the level right above a commune
    r = await act(api, reviewer(stack, tree.province), future, tree.commune_b1, 2090, "accept")
    assert r.status_code == 403, r.text
    assert (await ok(act(api, board, future, tree.district_a, 2090, "accept")))[
        "status"] == "accepted"
    assert (await get_report(api, board, future, tree.commune_b1, 2090))["status"] == "submitted"


# ---------------------------------------------------------------------------------------------
# lifecycle, history, corrections


async def test_return_resubmit_accept_lock_reopen_and_history(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str
) -> None:
    unit = tree.commune_a1
    commune, district = reporter(stack, unit), reviewer(stack, tree.district_a)
    await ok(act(api, commune, future, unit, 2090, "submit", {"values": values(initiatives=1)}))
    r = await act(api, district, future, unit, 2090, "return", {})
    assert field_names(r) == ["reason"]
    reason = "Thiếu biên bản rà soát hộ nghèo"
    assert (await ok(act(api, district, future, unit, 2090, "return", {"reason": reason})))[
        "status"] == "returned"
    r = await act(api, district, future, unit, 2090, "accept")
    assert field_names(r) == ["status"]
    resubmitted = await ok(act(api, commune, future, unit, 2090, "submit", {"values": VALUES}))
    assert resubmitted["status"] == "submitted"
    assert (await ok(act(api, district, future, unit, 2090, "accept")))["status"] == "accepted"

    for action in ("save", "submit"):
        r = await act(api, commune, future, unit, 2090, action, {"values": values(newly_poor=6)})
        assert field_names(r) == ["status"], action
        assert "locked" in r.json()["errors"][0]["message"]
    r = await act(api, district, future, unit, 2090, "reopen", {"reason": "x"})
    assert r.status_code == 403, r.text  # only the board reopens
    reopened = await ok(act(api, board, future, unit, 2090, "reopen",
                            {"reason": "Thanh tra phát hiện sai lệch"}))
    assert reopened["status"] == "reopened"
    saved = await ok(act(api, commune, future, unit, 2090, "save",
                         {"values": values(newly_poor=6)}))
    assert (saved["status"], saved["values"]["newly_poor"]) == ("reopened", 6)

    history = await ok(api.get(report_path(future, unit, 2090) + "/history", headers=board))
    assert [(v["version"], v["action"], v["status"], v["actor"]) for v in history] == [
        (1, "submit", "submitted", f"reporter-{unit}"),
        (2, "return", "returned", f"reviewer-{tree.district_a}"),
        (3, "submit", "submitted", f"reporter-{unit}"),
        (4, "accept", "accepted", f"reviewer-{tree.district_a}"),
        (5, "reopen", "reopened", "board-hoa"),
        (6, "save", "reopened", f"reporter-{unit}"),
    ]
    assert history[0]["values"]["initiatives"] == 1
    assert history[1]["note"] == reason
    assert history[4]["note"] == "Thanh tra phát hiện sai lệch"
    assert history[5]["values"]["newly_poor"] == 6
    assert all(v["at"] for v in history)
    r = await api.get(report_path(future, tree.commune_b1, 2090) + "/history", headers=board)
    assert r.status_code == 404


async def test_a_correction_after_submission_replaces_the_values(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str,
    indicators_db: asyncpg.Connection,
) -> None:
    a1, a2 = tree.commune_a1, tree.commune_a2
    first = values(households_total=1000, poor_households=100, initiatives=3)
    await ok(act(api, reporter(stack, a1), future, a1, 2090, "submit", {"values": first}))
    corrected = values(households_total=1200, poor_households=90)
    del corrected["initiatives"]
    out = await ok(act(api, reporter(stack, a1), future, a1, 2090, "submit",
                       {"values": corrected}))
    assert (out["status"], out["version"], out["values"]) == ("submitted", 2, corrected)
    assert out["derived"]["poor_rate_pct"] == pytest.approx(7.5)
    assert (await get_report(api, board, future, a1, 2090))["values"] == corrected
    assert await indicators_db.fetchval(
        "SELECT count(*) FROM reports WHERE campaign_id = $1 AND unit_id = $2",
        uuid.UUID(future), a1) == 1

    other = values(households_total=800, poor_households=30)
    del other["initiatives"]
    await ok(act(api, reporter(stack, a2), future, a2, 2090, "submit", {"values": other}))
    sums = await ok(api.get(f"/v1/campaigns/{future}/aggregates", headers=board,
                            params={"year": 2090, "unit_id": str(tree.district_a)}))
    assert sums["reports"] == 2
    assert sums["values"]["households_total"] == 2000
    assert sums["values"]["poor_households"] == 120
    assert "initiatives" not in sums["values"]  # only in the replaced submission
    assert sums["derived"]["poor_rate_pct"] == pytest.approx(6.0)


async def test_rates_above_a_unit_are_a_ratio_of_sums(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str
) -> None:
    small = values(households_total=100, poor_households=50, near_poor_households=10)
    large = values(households_total=10_000, poor_households=100, near_poor_households=200)
    a1, a2, b1 = tree.commune_a1, tree.commune_a2, tree.commune_b1
    await ok(act(api, reporter(stack, a1), future, a1, 2090, "submit", {"values": small}))
    await ok(act(api, reporter(stack, a2), future, a2, 2090, "submit", {"values": large}))
    # a saved draft does not count
    await ok(act(api, reporter(stack, b1), future, b1, 2090, "save", {"values": large}))
    got = await ok(api.get(f"/v1/campaigns/{future}/aggregates", headers=board,
                           params={"year": 2090, "unit_id": str(tree.district_a)}))
    assert got["reports"] == 2
    assert got["values"]["households_total"] == 10_100
    assert got["derived"]["poor_rate_pct"] == pytest.approx(150 / 10_100 * 100)
    assert round(got["derived"]["poor_rate_pct"], 3) == 1.485  # not the 25.5 % average
    province = await ok(api.get(f"/v1/campaigns/{future}/aggregates", headers=board,
                                params={"year": 2090, "unit_id": str(tree.province)}))
    assert province["reports"] == 2 and province["values"]["poor_households"] == 150
    r = await api.get(f"/v1/campaigns/{future}/aggregates", headers=board,
                      params={"year": 2090, "unit_id": str(uuid.uuid4())})
    assert field_names(r) == ["unit_id"]


async def test_reduction_and_target_attainment_from_last_years_report(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str
) -> None:
    unit, h = tree.commune_a1, reporter(stack, tree.commune_a1)
    await ok(api.put(f"/v1/campaigns/{future}/targets/2091/{unit}", headers=board,
                     json={"reduction_pp_min": 1.8}))
    await ok(act(api, h, future, unit, 2090, "submit",
                 {"values": values(households_total=10_000, poor_households=510,
                                   near_poor_households=300)}))
    # 510 - 200 escaped + 15 newly poor + 5 fell back = 330: exactly 1.80 points down
    report = await ok(act(api, h, future, unit, 2091, "submit", {"values": values(
        households_total=10_000, poor_households=330, near_poor_households=300,
        escaped_poverty=200, newly_poor=15, fell_back_into_poverty=5)}))
    assert report["warnings"] == []
    assert report["derived"]["reduction_pp"] == pytest.approx(1.8)
    assert report["derived"]["target_attainment_pct"] == pytest.approx(100.0)
    assert report["derived"]["target_met"] is True
    short = await ok(act(api, h, future, unit, 2091, "submit", {"values": values(
        households_total=10_000, poor_households=331, near_poor_households=300,
        escaped_poverty=199, newly_poor=15, fell_back_into_poverty=5)}))
    assert short["derived"]["reduction_pp"] == pytest.approx(1.79)
    assert short["derived"]["target_met"] is False


async def test_warnings_are_returned_but_do_not_block(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, future: str
) -> None:
    unit, h = tree.commune_b1, reporter(stack, tree.commune_b1)
    await ok(act(api, h, future, unit, 2090, "submit", {"values": values()}))
    report = await ok(act(api, h, future, unit, 2091, "submit", {"values": values(
        poor_households=300, near_poor_households=100)}))
    assert report["status"] == "submitted"
    assert {(w["code"], w["field"]) for w in report["warnings"]} == {
        ("balance", "values.poor_households"), ("rate_jump", "values.poor_households"),
        ("outside_history", "values.poor_households")}


# ---------------------------------------------------------------------------------------------
# refusals write nothing


async def test_invalid_values_are_refused_naming_each_field_and_nothing_is_written(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, future: str, row_counts: RowCounts
) -> None:
    h = reporter(stack, tree.commune_a1)
    before = await row_counts()
    cases: list[tuple[Json, list[str]]] = [
        (values(poor_households=-1, newly_poor=2.5, bogus=1, poor_rate_pct=5),
         ["values.poor_households", "values.newly_poor", "values.bogus",
          "values.poor_rate_pct"]),
        (values(poor_households=1001), ["values.poor_households",
                                        "values.near_poor_households"]),
        (values(poor_households=600, near_poor_households=401),
         ["values.near_poor_households"]),
        (values(households_total="many"), ["values.households_total.int",
                                           "values.households_total.float"]),
    ]
    for action in ("save", "submit"):
        for body, expected in cases:
            r = await act(api, h, future, tree.commune_a1, 2090, action, {"values": body})
            assert sorted(field_names(r)) == sorted(expected), (action, body)
    r = await act(api, h, future, tree.commune_a1, 2090, "save", {"values": VALUES, "x": 1})
    assert field_names(r) == ["x"]
    assert await row_counts() == before
    r = await api.get(report_path(future, tree.commune_a1, 2090), headers=h)
    assert r.status_code == 404


async def test_submission_refuses_a_report_missing_a_required_indicator(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, future: str, row_counts: RowCounts
) -> None:
    h, unit = reporter(stack, tree.commune_a2), tree.commune_a2
    partial = {k: v for k, v in VALUES.items() if k not in ("escaped_poverty", "newly_poor")}
    before = await row_counts()
    r = await act(api, h, future, unit, 2090, "submit", {"values": partial})
    assert sorted(field_names(r)) == ["values.escaped_poverty", "values.newly_poor"]
    assert await row_counts() == before
    # the same values may be saved as a draft, but the draft cannot be submitted
    assert (await ok(act(api, h, future, unit, 2090, "save", {"values": partial})))[
        "status"] == "draft"
    r = await act(api, h, future, unit, 2090, "submit", {})
    assert sorted(field_names(r)) == ["values.escaped_poverty", "values.newly_poor"]
    report = await ok(api.get(report_path(future, unit, 2090), headers=h))
    assert (report["status"], report["version"]) == ("draft", 1)


async def test_a_year_outside_the_campaign_or_a_unit_not_active_then_is_refused(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, row_counts: RowCounts
) -> None:
    # units of the tree start on 2017-01-01
    campaign = str((await create_campaign(api, board, (2016, 2018)))["campaign_id"])
    h = reporter(stack, tree.commune_a1)
    before = await row_counts()
    r = await act(api, h, campaign, tree.commune_a1, 2019, "submit", {"values": VALUES})
    assert field_names(r) == ["year"]
    r = await act(api, h, campaign, tree.commune_a1, 2016, "submit", {"values": VALUES})
    assert field_names(r) == ["unit_id"]
    r = await act(api, bearer(stack, Role.ADMIN), campaign, uuid.uuid4(), 2017, "save",
                  {"values": VALUES})
    assert field_names(r) == ["unit_id"]
    assert await row_counts() == before
    r = await act(api, h, str(uuid.uuid4()), tree.commune_a1, 2017, "save", {"values": VALUES})
    assert r.status_code == 404, r.text
    # a kind that does not take part in the campaign
    r = await act(api, reporter(stack, tree.province), campaign, tree.province, 2017, "save",
                  {"values": {"initiatives": 1}})
    assert field_names(r) == ["unit_id"]


# ---------------------------------------------------------------------------------------------
# idempotency


async def test_idempotency_key_is_required_and_a_retry_has_no_second_effect(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, future: str,
    indicators_db: asyncpg.Connection,
) -> None:
    unit, h = tree.commune_b1, reporter(stack, tree.commune_b1)
    path = report_path(future, unit, 2090)
    r = await api.post(path + "/submit", headers=h, json={"values": VALUES})
    assert field_names(r) == ["header.Idempotency-Key"]
    r = await api.put(path, headers={**h, "Idempotency-Key": "short"}, json={"values": VALUES})
    assert field_names(r) == ["header.Idempotency-Key"]

    async def effects() -> tuple[int, int]:
        versions = await indicators_db.fetchval(
            "SELECT count(*) FROM report_versions v JOIN reports r USING (report_id)"
            " WHERE r.campaign_id = $1 AND r.unit_id = $2", uuid.UUID(future), unit)
        events = await indicators_db.fetchval(
            "SELECT count(*) FROM outbox WHERE key = $1 AND body->'payload'->>'campaign_id' = $2",
            str(unit), future)
        return versions, events

    same = key()
    first = await act(api, h, future, unit, 2090, "submit", {"values": VALUES}, same)
    assert first.status_code == 200, first.text
    assert "Idempotency-Replayed" not in first.headers
    assert await effects() == (1, 1)
    retry = await act(api, h, future, unit, 2090, "submit", {"values": VALUES}, same)
    assert retry.status_code == 200, retry.text
    assert retry.headers["Idempotency-Replayed"] == "true"
    assert retry.json() == first.json()
    assert await effects() == (1, 1)

    r = await act(api, h, future, unit, 2090, "submit", {"values": values(newly_poor=9)}, same)
    assert field_names(r) == ["Idempotency-Key"]
    r = await act(api, h, future, unit, 2090, "save", {"values": VALUES}, same)
    assert field_names(r) == ["Idempotency-Key"]
    assert await effects() == (1, 1)
    # the same key from someone else is their own key
    other = await act(api, bearer(stack, Role.REPORTER, unit=unit, sub="someone-else"), future,
                      unit, 2090, "submit", {"values": VALUES}, same)
    assert other.status_code == 200 and other.json()["version"] == 2
    # a refused request stores nothing: retried with the key, it runs again
    failing = key()
    r = await act(api, h, future, unit, 2090, "submit", {"values": values(bogus=1)}, failing)
    assert field_names(r) == ["values.bogus"]
    r = await act(api, h, future, unit, 2090, "submit", {"values": values(bogus=1)}, failing)
    assert field_names(r) == ["values.bogus"] and "Idempotency-Replayed" not in r.headers


# ---------------------------------------------------------------------------------------------
# deadlines: status board and overdue notices


async def status(api: httpx.AsyncClient, headers: Headers, campaign: str, year: int,
                 root: uuid.UUID) -> Json:
    board: Json = await ok(api.get(f"/v1/campaigns/{campaign}/status", headers=headers,
                                   params={"year": year, "unit_id": str(root)}))
    return board


async def test_status_board_after_the_due_date_shows_late_and_missing(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, past: str
) -> None:
    submitted = await ok(act(api, reporter(stack, tree.commune_a1), past, tree.commune_a1, 2017,
                             "submit", {"values": VALUES}))
    assert submitted["on_time"] is False
    assert datetime.fromisoformat(submitted["due_at"]) == domain.due_at(2017)
    await ok(act(api, reporter(stack, tree.commune_a2), past, tree.commune_a2, 2017, "save",
                 {"values": VALUES}))
    board_2017 = await status(api, board, past, 2017, tree.province)
    assert datetime.fromisoformat(board_2017["due_at"]) == domain.due_at(2017)
    by_unit = {u["unit_id"]: u for u in board_2017["units"]}
    assert set(by_unit) == {str(u) for u in tree.units if u != tree.province}
    assert by_unit[str(tree.commune_a1)]["punctuality"] == "late"
    assert by_unit[str(tree.commune_a1)]["status"] == "submitted"
    assert by_unit[str(tree.commune_a2)]["punctuality"] == "missing"  # a draft is not a report
    assert by_unit[str(tree.commune_a2)]["status"] == "draft"
    assert by_unit[str(tree.district_b)]["status"] is None
    assert board_2017["counts"] == {"late": 1, "missing": 4}
    district = await status(api, board, past, 2017, tree.district_a)
    assert district["counts"] == {"late": 1, "missing": 2}
    assert {u["unit_id"] for u in district["units"]} == {
        str(tree.district_a), str(tree.commune_a1), str(tree.commune_a2)}
    r = await api.get(f"/v1/campaigns/{past}/status", headers=board, params={"year": 2020})
    assert field_names(r) == ["year"]


async def test_status_board_before_the_due_date_shows_on_time_and_not_yet_due(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str
) -> None:
    submitted = await ok(act(api, reporter(stack, tree.commune_b1), future, tree.commune_b1,
                             2090, "submit", {"values": VALUES}))
    assert submitted["on_time"] is True
    got = await status(api, board, future, 2090, tree.province)
    by_unit = {u["unit_id"]: u["punctuality"] for u in got["units"]}
    assert by_unit[str(tree.commune_b1)] == "on_time"
    assert got["counts"] == {"on_time": 1, "not_yet_due": 4}


async def backdate(db: asyncpg.Connection, campaign_id: uuid.UUID,
                   created_at: datetime = datetime(2017, 1, 1, tzinfo=UTC)) -> None:
    """Make a campaign look created at ``created_at`` (as if it had run since then): the test
    is about the overdue job, not about when campaigns are set up."""
    await db.execute("UPDATE campaigns SET created_at = $2 WHERE campaign_id = $1",
                     campaign_id, created_at)


async def test_no_overdue_notice_for_a_cycle_already_past_when_the_campaign_was_created(
    indicators: Service, stack: TestStack, tree: Tree, board: Headers,
    indicators_db: asyncpg.Connection,
) -> None:
    # 2017 and 2018 were due before the campaign existed
    campaign = await create_campaign(indicators.client, board, (2017, 2018), kinds=("commune",))
    campaign_id = uuid.UUID(campaign["campaign_id"])
    await asyncio.sleep(OVERDUE_CHECK_SECONDS * 5)  # the check ran meanwhile
    assert await indicators_db.fetchval(
        "SELECT count(*) FROM overdue_notices WHERE campaign_id = $1", campaign_id) == 0
    assert await indicators_db.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = 'report.overdue'"
        " AND (body->'payload'->>'campaign_id')::uuid = $1", campaign_id) == 0
    # the status board still shows who is missing
    got = await status(indicators.client, board, campaign["campaign_id"], 2017, tree.province)
    assert got["counts"] == {"missing": 3}


async def test_report_overdue_goes_out_once_per_missing_unit_even_after_a_restart(
    indicators: Service, stack: TestStack, tree: Tree, board: Headers,
    indicators_db: asyncpg.Connection,
) -> None:
    campaign = await create_campaign(indicators.client, board, (2017, 2017), kinds=("commune",))
    campaign_id = uuid.UUID(campaign["campaign_id"])
    # a cycle already past when its campaign is created is never noticed; this campaign is
    # made to have existed since before its due date (20 November 2017)
    await backdate(indicators_db, campaign_id)
    # submitted after the due date: the unit was still missing when it passed
    await ok(act(indicators.client, reporter(stack, tree.commune_a1), campaign["campaign_id"],
                 tree.commune_a1, 2017, "submit", {"values": VALUES}))
    communes = [tree.commune_a1, tree.commune_a2, tree.commune_b1]

    async def sent() -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        events = await indicators_db.fetch(
            "SELECT (body->'payload'->>'unit_id')::uuid AS unit_id FROM outbox"
            " WHERE event_type = 'report.overdue'"
            "   AND (body->'payload'->>'campaign_id')::uuid = $1 ORDER BY 1", campaign_id)
        notices = await indicators_db.fetch(
            "SELECT unit_id FROM overdue_notices WHERE campaign_id = $1 AND year = 2017"
            " ORDER BY 1", campaign_id)
        ours = set(tree.units)
        return ([r["unit_id"] for r in events if r["unit_id"] in ours],
                [r["unit_id"] for r in notices if r["unit_id"] in ours])

    async for attempt in eventually(5):
        with attempt:
            assert await sent() == (sorted(communes), sorted(communes))
    await asyncio.sleep(OVERDUE_CHECK_SECONDS * 3)  # the check ran again meanwhile
    assert await sent() == (sorted(communes), sorted(communes))

    await indicators.restart()  # the check runs first thing after start
    await asyncio.sleep(OVERDUE_CHECK_SECONDS * 3)
    assert await sent() == (sorted(communes), sorted(communes))
    r = await indicators.client.get("/health")
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------------------------------------
# review findings


async def test_the_aggregate_reduction_compares_the_units_that_reported_both_years(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str
) -> None:
    a1, a2 = tree.commune_a1, tree.commune_a2
    await ok(act(api, reporter(stack, a1), future, a1, 2090, "submit", {"values": values(
        households_total=1000, poor_households=100)}))
    await ok(act(api, reporter(stack, a2), future, a2, 2090, "submit", {"values": values(
        households_total=1000, poor_households=300)}))
    # only A1 reports in 2091: 10 % → 9 %, one point; not 20 % (both) → 9 % (A1 alone)
    await ok(act(api, reporter(stack, a1), future, a1, 2091, "submit", {"values": values(
        households_total=1000, poor_households=90)}))
    await ok(api.put(f"/v1/campaigns/{future}/targets/2091/{tree.district_a}", headers=board,
                     json={"reduction_pp_min": 1.5}))
    got = await ok(api.get(f"/v1/campaigns/{future}/aggregates", headers=board,
                           params={"year": 2091, "unit_id": str(tree.district_a)}))
    assert (got["reports"], got["previous_reports"], got["reduction_reports"]) == (1, 2, 1)
    assert got["derived"]["poor_rate_pct"] == pytest.approx(9.0)
    assert got["derived"]["reduction_pp"] == pytest.approx(1.0)
    assert got["derived"]["target_met"] is False
    first = await ok(api.get(f"/v1/campaigns/{future}/aggregates", headers=board,
                             params={"year": 2090, "unit_id": str(tree.district_a)}))
    assert (first["reports"], first["previous_reports"], first["reduction_reports"]) == (
        2, 0, 0)
    assert first["derived"]["reduction_pp"] is None


async def test_a_target_of_zero_is_met_without_an_increase(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str
) -> None:
    unit, h = tree.commune_a2, reporter(stack, tree.commune_a2)
    await ok(api.put(f"/v1/campaigns/{future}/targets/2091/{unit}", headers=board,
                     json={"reduction_pp_min": 0}))
    await ok(act(api, h, future, unit, 2090, "submit", {"values": values()}))
    report = await ok(act(api, h, future, unit, 2091, "submit", {"values": values()}))
    assert report["derived"]["reduction_pp"] == 0
    assert report["derived"]["target_met"] is True
    assert report["derived"]["target_attainment_pct"] is None


async def test_numbers_out_of_range_are_refused_naming_the_field(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str,
    row_counts: RowCounts,
) -> None:
    unit, h = tree.commune_b1, reporter(stack, tree.commune_b1)
    before = await row_counts()
    huge = "9" * 400
    r = await api.post(report_path(future, unit, 2090) + "/submit", headers={**h, **key(),
                       "content-type": "application/json"},
                       content=('{"values": {"households_total": 1000, "poor_households": 100,'
                                f' "resources_state_budget_vnd": {huge}}}}}').encode())
    assert field_names(r) == ["values.resources_state_budget_vnd"]
    assert await row_counts() == before

    definition = ('{"code": "t_bound", "name_vi": "Thử", "name_en": "Test",'
                  ' "unit_of_measure": "count", "reported_by": ["commune"], "max_value": %s}')
    for bad in ("Infinity", "NaN", "1e300", "-Infinity"):
        r = await api.post("/v1/indicators", headers={**board, "content-type":
                                                      "application/json"},
                           content=(definition % bad).encode())
        assert field_names(r)[0].startswith("max_value"), (bad, r.text)
    r = await api.post("/v1/indicators", headers={**board, "content-type": "application/json"},
                       content=(definition % "null").replace('"max_value": null',
                                                             '"min_value": NaN').encode())
    assert field_names(r)[0].startswith("min_value"), r.text

    path = f"/v1/campaigns/{future}/targets/2090/{unit}"
    for body in ({"households_out_min": 10**12}, {"households_out_max": 2**31},
                 {"households_out_min": 10_000_001}):
        r = await api.put(path, headers=board, json=body)
        assert field_names(r) == list(body), r.text
    r = await api.put(path, headers={**board, "content-type": "application/json"},
                      content=b'{"reduction_pp_min": NaN}')
    assert field_names(r) == ["reduction_pp_min"]
    assert await row_counts() == before


async def test_earlier_years_are_read_in_the_same_campaign_only(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str
) -> None:
    unit, h = tree.commune_a1, reporter(stack, tree.commune_a1)
    other = str((await create_campaign(api, board, FUTURE))["campaign_id"])  # another standard
    await ok(act(api, h, other, unit, 2090, "submit", {"values": values()}))
    report = await ok(act(api, h, future, unit, 2091, "submit", {"values": values(
        poor_households=300, near_poor_households=100)}))
    assert report["warnings"] == []
    assert report["derived"]["reduction_pp"] is None
    await ok(api.put(f"/v1/campaigns/{future}/targets/2091/{tree.district_a}", headers=board,
                     json={"reduction_pp_min": 1.0}))
    got = await ok(api.get(f"/v1/campaigns/{future}/aggregates", headers=board,
                           params={"year": 2091, "unit_id": str(tree.district_a)}))
    assert got["previous_reports"] == 0 and got["derived"]["reduction_pp"] is None


async def test_the_seeded_catalogue_is_in_the_audit_log(
    api: httpx.AsyncClient, indicators_db: asyncpg.Connection
) -> None:
    rows = await indicators_db.fetch(
        "SELECT actor, entity_type, entity_id FROM audit_log WHERE action = 'indicator.seed'"
        " ORDER BY id")
    assert [r["entity_id"] for r in rows] == [i.code for i in domain.SEED_CATALOGUE]
    assert {(r["actor"], r["entity_type"]) for r in rows} == {("system", "indicator")}


async def test_targets_are_imported_from_a_file_like_the_2017_district_targets(
    api: httpx.AsyncClient, registration: httpx.AsyncClient, stack: TestStack, tree: Tree,
    board: Headers, past: str,
) -> None:
    admin = bearer(stack, Role.ADMIN, sub="admin")
    codes = [(await ok(registration.get(f"/v1/units/{u}", headers=admin)))["versions"][0]["code"]
             for u in (tree.district_a, tree.district_b)]
    header = ("district_code,district_name,reduction_pp_min,reduction_pp_max,"
              "households_out_min,households_out_max")
    path = f"/v1/campaigns/{past}/targets/2017/import"
    csv_type = {"content-type": "text/csv"}
    bad = "\n".join([header, "99999999,Huyện Không Có,2.0,2.2,950,1050",
                     f"{codes[0]},Huyện A,nhiều,2.2,950,1050"]) + "\n"
    r = await api.post(path, headers={**board, **csv_type}, content=bad.encode())
    assert r.status_code == 422, r.text
    assert {e["field"] for e in r.json()["errors"]} == {
        "row 2: unit code", "row 3: reduction_pp_min"}
    assert await ok(api.get(f"/v1/campaigns/{past}/targets", headers=board,
                            params={"year": 2017})) == []  # nothing written

    good = "\n".join([header, f"{codes[0]},Huyện A,6.5,7.2,840,930",
                      f"{codes[1]},Huyện B,4.5,5.0,1070,1190"]) + "\n"
    done = await ok(api.post(path, headers={**board, **csv_type}, content=good.encode(),
                             params={"source": "Báo Quảng Bình, 3/2017"}))
    assert sorted((t["unit_id"], t["reduction_pp_min"], t["households_out_max"]) for t in done) \
        == sorted([(str(tree.district_a), 6.5, 930), (str(tree.district_b), 4.5, 1190)])
    listed = await ok(api.get(f"/v1/campaigns/{past}/targets", headers=board,
                              params={"year": 2017}))
    assert {t["source"] for t in listed} == {"Báo Quảng Bình, 3/2017"} and len(listed) == 2
    r = await api.post(path, headers={**reviewer(stack, tree.province), **csv_type},
                       content=good.encode())
    assert r.status_code == 403, r.text
