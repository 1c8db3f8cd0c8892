"""The indicators API through HTTP: what HTTP adds to the use cases (tokens and roles, status
codes, problem bodies, idempotency, the periodic job of the app). The app runs in this process
on the real PostgreSQL and Kafka, with units that arrived from the registration service over
Kafka. The rules themselves are tested on the use cases (``test_service.py``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from chungtay_common import poverty
from chungtay_common.auth import Role
from chungtay_common.context import Context
from services.indicators import domain, service
from services.indicators.settings import IndicatorsSettings
from tests.conftest import TestStack
from tests.indicators.conftest import RowCounts, Tree
from tests.support import assert_problem, bearer, eventually, ok

Json = dict[str, Any]
Headers = dict[str, str]

PAST = (2017, 2018)  # every cycle's due date has passed: submissions are late
FUTURE = (2090, 2091)  # no due date has passed: submissions are on time

VALUES: Json = {"households_total": 1000, "poor_households": 100,
                "near_poor_households": 80, "escaped_poverty": 20, "newly_poor": 5,
                "fell_back_into_poverty": 2, "initiatives": 3}


def values(**changes: Any) -> Json:
    return {**VALUES, **changes}


def key() -> Headers:
    return {"Idempotency-Key": uuid.uuid4().hex}


def refused(r: httpx.Response, status: int = 422) -> list[str]:
    """The fields a refusal names (its problem body checked)."""
    return [e["field"] for e in assert_problem(r, status)["errors"]]


def headers(stack: TestStack, role: Role, unit: uuid.UUID | None = None,
            sub: str = "tester") -> Headers:
    return bearer(stack.token(role, unit=unit, sub=sub))


@pytest.fixture
def board(stack: TestStack, tree: Tree) -> Headers:
    return headers(stack, Role.BOARD, tree.province, "board-hoa")


def reporter(stack: TestStack, unit: uuid.UUID) -> Headers:
    return headers(stack, Role.REPORTER, unit, f"reporter-{unit}")


def reviewer(stack: TestStack, unit: uuid.UUID) -> Headers:
    return headers(stack, Role.REVIEWER, unit, f"reviewer-{unit}")


async def create_campaign(api: httpx.AsyncClient, h: Headers, years: tuple[int, int],
                          kinds: tuple[str, ...] = ("district", "commune")) -> Json:
    campaign: Json = ok(await api.post("/v1/campaigns", headers=h, json={
        "code": f"campaign-{uuid.uuid4().hex[:12]}", "name": "Chung tay vì người nghèo",
        "first_year": years[0], "last_year": years[1], "participating_kinds": list(kinds),
        "legal_basis": [{"number": "1258/QĐ-TTg", "issued_on": "2016-07-01",
                         "title": "Phong trào thi đua Cả nước chung tay vì người nghèo"}]}),
        201)
    return campaign


@pytest.fixture
async def future(api: httpx.AsyncClient, board: Headers) -> str:
    return str((await create_campaign(api, board, FUTURE))["campaign_id"])


def report_path(campaign: str, unit: uuid.UUID, year: int) -> str:
    return f"/v1/campaigns/{campaign}/reports/{unit}/{year}"


async def act(api: httpx.AsyncClient, h: Headers, campaign: str, unit: uuid.UUID,
              year: int, action: str, body: Json | None = None,
              idempotency: Headers | None = None) -> httpx.Response:
    """Save (PUT), or submit/return/accept/reopen (POST) a report; with an Idempotency-Key
    only when ``idempotency`` gives one."""
    path = report_path(campaign, unit, year)
    h = {**h, **(idempotency or {})}
    if action == "save":
        return await api.put(path, headers=h, json=body)
    return await api.post(f"{path}/{action}", headers=h, json=body)


# ---------------------------------------------------------------------------------------------
# campaigns, catalogue, targets


async def test_create_campaign_is_for_the_board(
    api: httpx.AsyncClient, stack: TestStack
) -> None:
    board = headers(stack, Role.BOARD, uuid.uuid4())
    campaign = await create_campaign(api, board, (2016, 2020))
    assert [c["year"] for c in campaign["cycles"]] == [2016, 2017, 2018, 2019, 2020]
    due = datetime.fromisoformat(campaign["cycles"][1]["due_at"])
    assert due == datetime(2017, 11, 19, 17, 0, tzinfo=UTC)  # 20 November 00:00 in Vietnam
    assert campaign["legal_basis"][0]["number"] == "1258/QĐ-TTg"
    got = ok(await api.get(f"/v1/campaigns/{campaign['campaign_id']}", headers=board))
    assert {k: v for k, v in got.items() if k != "cycles"} == {
        k: v for k, v in campaign.items() if k != "cycles"}
    # the same instants, whatever offset they are written with
    assert [(c["year"], datetime.fromisoformat(c["due_at"])) for c in got["cycles"]] == [
        (c["year"], datetime.fromisoformat(c["due_at"])) for c in campaign["cycles"]]
    assert campaign["campaign_id"] in {
        c["campaign_id"] for c in ok(await api.get("/v1/campaigns", headers=board))}

    admin = await create_campaign(api, headers(stack, Role.ADMIN), PAST)
    assert admin["first_year"] == 2017
    for role in (Role.REPORTER, Role.REVIEWER, Role.VIEWER):
        r = await api.post("/v1/campaigns", headers=headers(stack, role, uuid.uuid4()),
                           json={"code": f"c-{uuid.uuid4().hex[:8]}", "name": "x",
                                 "first_year": 2017, "last_year": 2018})
        assert_problem(r, 403, type="forbidden")
    r = await api.post("/v1/campaigns", headers=board, json={
        "code": campaign["code"], "name": "again", "first_year": 2017, "last_year": 2018})
    assert_problem(r, 409, type="conflict")
    r = await api.post("/v1/campaigns", headers=board, json={
        "code": f"c-{uuid.uuid4().hex[:8]}", "name": "x", "first_year": 2018, "last_year": 2017})
    assert refused(r) == ["last_year"]
    r = await api.post("/v1/campaigns", json={"code": "c-none", "name": "x",
                                              "first_year": 2017, "last_year": 2018})
    assert_problem(r, 401)
    r = await api.get("/v1/campaigns/" + str(uuid.uuid4()), headers=board)
    assert_problem(r, 404, type="not_found")


async def test_catalogue_is_seeded_with_entered_and_derived_indicators(
    api: httpx.AsyncClient, stack: TestStack
) -> None:
    viewer = headers(stack, Role.VIEWER, uuid.uuid4())
    listed = {i["code"]: i for i in ok(await api.get("/v1/indicators", headers=viewer))}
    assert len(domain.SEED_CATALOGUE) == 17
    for seed in domain.SEED_CATALOGUE:
        entry = listed[seed.code]
        assert entry["derived"] is seed.derived, seed.code
        assert entry["required"] is seed.required, seed.code
    derived = {c for c, i in listed.items() if i["derived"]}
    assert derived == set(poverty.DERIVED)
    assert listed["poor_rate_pct"]["aggregation"] == "ratio_of_sums"
    assert listed["poor_rate_pct"]["formula"] == "poor_households / households_total * 100"
    assert listed["households_total"]["aggregation"] == "sum"
    assert listed["households_total"]["name_vi"] == "Tổng số hộ"


async def test_the_seeded_catalogue_is_in_the_audit_log(
    api: httpx.AsyncClient, indicators_db: asyncpg.Connection
) -> None:
    rows = await indicators_db.fetch(
        "SELECT actor, entity_type, entity_id FROM audit_log WHERE action = 'indicator.seed'"
        " ORDER BY id")
    assert [r["entity_id"] for r in rows] == [i.code for i in domain.SEED_CATALOGUE]
    assert {(r["actor"], r["entity_type"]) for r in rows} == {("system", "indicator")}


async def test_add_change_and_retire_an_indicator(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers
) -> None:
    code = f"t_{uuid.uuid4().hex[:10]}"
    body: Json = {"code": code, "name_vi": "Số hộ được vay vốn", "name_en": "Households lent",
                  "unit_of_measure": "households", "reported_by": ["commune"]}
    added = ok(await api.post("/v1/indicators", headers=board, json=body))
    assert (added["version"], added["derived"], added["retired"]) == (1, False, False)
    assert added["aggregation"] == "sum" and added["required"] is False
    changed = ok(await api.post("/v1/indicators", headers=board,
                                json={**body, "name_en": "Households given loans"}))
    assert (changed["version"], changed["name_en"]) == (2, "Households given loans")
    # a campaign is run with the catalogue as it is when the campaign is created
    future = str((await create_campaign(api, board, FUTURE))["campaign_id"])
    kept = ok(await api.get(f"/v1/campaigns/{future}/indicators", headers=board))
    assert {i["code"]: i["version"] for i in kept}[code] == 2

    commune = reporter(stack, tree.commune_a1)
    ok(await act(api, commune, future, tree.commune_a1, 2090, "save", {"values": {code: 4}}))
    # a district does not report it
    r = await act(api, reporter(stack, tree.district_a), future, tree.district_a, 2090, "save",
                  {"values": {code: 4}})
    assert refused(r) == [f"values.{code}"]

    retired = ok(await api.post(f"/v1/indicators/{code}/retire", headers=board))
    assert (retired["version"], retired["retired"]) == (3, True)
    listed = {i["code"]: i for i in ok(await api.get("/v1/indicators", headers=board))}
    assert listed[code]["retired"] is True  # retired entries stay in the catalogue
    # the campaign created before keeps it; one created afterwards refuses it
    ok(await act(api, commune, future, tree.commune_a1, 2090, "save", {"values": {code: 5}}))
    later = str((await create_campaign(api, board, FUTURE))["campaign_id"])
    r = await act(api, commune, later, tree.commune_a1, 2090, "save", {"values": {code: 5}})
    assert refused(r) == [f"values.{code}"]
    assert "retired" in r.json()["errors"][0]["message"]
    # the value saved before is kept
    kept = ok(await api.get(report_path(future, tree.commune_a1, 2090), headers=board))
    assert kept["values"] == {code: 5}
    # an indicator that derived figures read cannot be retired
    r = await api.post("/v1/indicators/households_total/retire", headers=board)
    assert "cannot be retired" in assert_problem(r, 409)["detail"]

    r = await api.post("/v1/indicators", headers=commune, json=body)
    assert_problem(r, 403)
    r = await api.post(f"/v1/indicators/{code}/retire", headers=commune)
    assert_problem(r, 403)
    r = await api.post(f"/v1/indicators/t_{uuid.uuid4().hex[:8]}/retire", headers=board)
    assert_problem(r, 404)
    r = await api.post("/v1/indicators/reduction_pp/retire", headers=board)
    assert refused(r) == ["code"]


async def test_set_targets_and_the_national_average(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers
) -> None:
    past = str((await create_campaign(api, board, PAST))["campaign_id"])
    target = {"reduction_pp_min": 1.5, "reduction_pp_max": 2.0, "households_out_min": 40,
              "source": "Nghị quyết HĐND tỉnh"}
    path = f"/v1/campaigns/{past}/targets/2017/{tree.district_a}"
    got = ok(await api.put(path, headers=board, json=target))
    assert got["reduction_pp_min"] == 1.5 and got["unit_id"] == str(tree.district_a)
    again = ok(await api.put(path, headers=board, json={**target, "reduction_pp_min": 1.8}))
    assert again["reduction_pp_min"] == 1.8
    listed = ok(await api.get(f"/v1/campaigns/{past}/targets", headers=board,
                              params={"year": 2017}))
    assert [(t["unit_id"], t["reduction_pp_min"]) for t in listed] == [
        (str(tree.district_a), 1.8)]
    assert ok(await api.get(f"/v1/campaigns/{past}/targets", headers=board,
                            params={"year": 2018})) == []

    r = await api.put(path, headers=reviewer(stack, tree.province), json=target)
    assert_problem(r, 403)
    r = await api.put(path, headers=board, json={"reduction_pp_min": 2, "reduction_pp_max": 1})
    assert refused(r) == ["reduction_pp_max"]
    # a board member of another province's tree may not set this one's targets
    r = await api.put(path, headers=headers(stack, Role.BOARD, uuid.uuid4()), json=target)
    assert_problem(r, 403)

    year = 2000 + uuid.uuid4().int % 90  # a year of its own: averages are global
    average = {"poor_rate_pct": 8.23, "source": "Quyết định 1052/QĐ-LĐTBXH (MOLISA)"}
    got = ok(await api.put(f"/v1/national-averages/{year}", headers=board, json=average))
    assert got == {**average, "year": year}
    listed = ok(await api.get("/v1/national-averages", headers=board))
    assert {**average, "year": year} in listed
    r = await api.put(f"/v1/national-averages/{year}", headers=reporter(stack, tree.province),
                      json=average)
    assert_problem(r, 403)
    r = await api.put(f"/v1/national-averages/{year}", headers=board,
                      json={"poor_rate_pct": 101, "source": "x"})
    assert refused(r) == ["poor_rate_pct"]


async def test_targets_are_imported_from_a_file_like_the_2017_district_targets(
    api: httpx.AsyncClient, registration: httpx.AsyncClient, stack: TestStack, tree: Tree,
    board: Headers,
) -> None:
    past = str((await create_campaign(api, board, PAST))["campaign_id"])
    admin = headers(stack, Role.ADMIN, sub="admin")
    codes = [ok(await registration.get(f"/v1/units/{u}", headers=admin))["versions"][0]["code"]
             for u in (tree.district_a, tree.district_b)]
    header = ("district_code,district_name,reduction_pp_min,reduction_pp_max,"
              "households_out_min,households_out_max")
    path = f"/v1/campaigns/{past}/targets/2017/import"
    csv_type = {"content-type": "text/csv"}
    bad = "\n".join([header, "99999999,Huyện Không Có,2.0,2.2,950,1050",
                     f"{codes[0]},Huyện A,nhiều,2.2,950,1050"]) + "\n"
    r = await api.post(path, headers={**board, **csv_type}, content=bad.encode())
    assert set(refused(r)) == {"row 2: unit code", "row 3: reduction_pp_min"}
    assert ok(await api.get(f"/v1/campaigns/{past}/targets", headers=board,
                            params={"year": 2017})) == []  # nothing written

    good = "\n".join([header, f'{codes[0]},Huyện A,"6,5","7,2",840,930',
                      f'{codes[1]},Huyện B,"4,5","5,0",1.070,1.190']) + "\n"
    r = await api.post(path, headers={**reviewer(stack, tree.province), **csv_type},
                       content=good.encode())
    assert_problem(r, 403)
    r = await api.post(path, headers={**board, "content-type": "application/json"},
                       content=good.encode())
    assert_problem(r, 415)
    # media types ignore case
    done = ok(await api.post(path, headers={**board, "content-type": "Text/CSV; charset=UTF-8"},
                             content=good.encode(), params={"source": "Báo Quảng Bình, 3/2017"}))
    assert sorted((t["unit_id"], t["reduction_pp_min"], t["households_out_max"]) for t in done) \
        == sorted([(str(tree.district_a), 6.5, 930), (str(tree.district_b), 4.5, 1190)])
    listed = ok(await api.get(f"/v1/campaigns/{past}/targets", headers=board,
                              params={"year": 2017}))
    assert {t["source"] for t in listed} == {"Báo Quảng Bình, 3/2017"} and len(listed) == 2


# ---------------------------------------------------------------------------------------------
# who may do what


async def test_a_commune_reporter_writes_only_its_own_communes_report(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, future: str
) -> None:
    own = reporter(stack, tree.commune_a1)
    saved = ok(await act(api, own, future, tree.commune_a1, 2090, "save", {"values": VALUES}))
    assert (saved["status"], saved["version"]) == ("draft", 1)
    submitted = ok(await act(api, own, future, tree.commune_a1, 2090, "submit", {}))
    assert (submitted["status"], submitted["version"]) == ("submitted", 2)
    assert submitted["values"] == VALUES

    for action in ("save", "submit"):
        r = await act(api, own, future, tree.commune_a2, 2090, action, {"values": VALUES})
        assert "outside the caller's unit scope" in assert_problem(r, 403)["detail"]
    r = await act(api, headers(stack, Role.VIEWER, tree.commune_a1), future,
                  tree.commune_a1, 2090, "save", {"values": VALUES})
    assert_problem(r, 403)
    # nor may it review its own report
    r = await act(api, own, future, tree.commune_a1, 2090, "accept")
    assert "reviewer" in assert_problem(r, 403)["detail"]  # the role it lacks


async def test_a_district_reviewer_reviews_only_its_own_communes(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str
) -> None:
    for unit in (tree.commune_a1, tree.commune_a2, tree.commune_b1, tree.district_a):
        ok(await act(api, reporter(stack, unit), future, unit, 2090, "submit",
                     {"values": VALUES}))
    district_a = reviewer(stack, tree.district_a)
    accepted = ok(await act(api, district_a, future, tree.commune_a1, 2090, "accept"))
    assert accepted["status"] == "accepted"
    returned = ok(await act(api, district_a, future, tree.commune_a2, 2090, "return",
                            {"reason": "Số hộ thoát nghèo chưa khớp danh sách"}))
    assert returned["status"] == "returned"
    for action, body in (("accept", None), ("return", {"reason": "không thuộc huyện"})):
        r = await act(api, district_a, future, tree.commune_b1, 2090, action, body)
        assert "level right above" in assert_problem(r, 403, type="forbidden")["detail"]
        # its own district's report is the board's to review
        r = await act(api, district_a, future, tree.district_a, 2090, action, body)
        assert_problem(r, 403)
    # the provincial reviewer is not the level right above a commune
    r = await act(api, reviewer(stack, tree.province), future, tree.commune_b1, 2090, "accept")
    assert_problem(r, 403)
    assert ok(await act(api, board, future, tree.district_a, 2090, "accept"))[
        "status"] == "accepted"
    assert ok(await api.get(report_path(future, tree.commune_b1, 2090), headers=board))[
        "status"] == "submitted"


# ---------------------------------------------------------------------------------------------
# lifecycle, history


async def test_return_resubmit_accept_lock_reopen_and_history(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str
) -> None:
    unit = tree.commune_a1
    commune, district = reporter(stack, unit), reviewer(stack, tree.district_a)
    ok(await act(api, commune, future, unit, 2090, "submit", {"values": values(initiatives=1)}))
    r = await act(api, district, future, unit, 2090, "return", {})
    assert refused(r) == ["reason"]
    reason = "Thiếu biên bản rà soát hộ nghèo"
    assert ok(await act(api, district, future, unit, 2090, "return", {"reason": reason}))[
        "status"] == "returned"
    # a refused transition is a conflict with the report's state
    r = await act(api, district, future, unit, 2090, "accept")
    assert assert_problem(r, 409, type="conflict")["detail"] == (
        "cannot accept a report that is returned")
    resubmitted = ok(await act(api, commune, future, unit, 2090, "submit", {"values": VALUES}))
    assert resubmitted["status"] == "submitted"
    assert ok(await act(api, district, future, unit, 2090, "accept"))["status"] == "accepted"

    for action in ("save", "submit"):
        r = await act(api, commune, future, unit, 2090, action, {"values": values(newly_poor=6)})
        assert "locked" in assert_problem(r, 409, type="conflict")["detail"], action
    r = await act(api, district, future, unit, 2090, "reopen", {"reason": "x"})
    assert_problem(r, 403)  # only the board reopens
    reopened = ok(await act(api, board, future, unit, 2090, "reopen",
                            {"reason": "Thanh tra phát hiện sai lệch"}))
    assert reopened["status"] == "reopened"
    saved = ok(await act(api, commune, future, unit, 2090, "save",
                         {"values": values(newly_poor=6)}))
    assert (saved["status"], saved["values"]["newly_poor"]) == ("reopened", 6)

    history = ok(await api.get(report_path(future, unit, 2090) + "/history", headers=board))
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
    assert_problem(r, 404)
    r = await act(api, district, future, tree.commune_a2, 2090, "accept")
    assert_problem(r, 404)  # no report to accept


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
            assert sorted(refused(r)) == sorted(expected), (action, body)
    r = await act(api, h, future, tree.commune_a1, 2090, "save", {"values": VALUES, "x": 1})
    assert refused(r) == ["x"]
    assert await row_counts() == before
    r = await api.get(report_path(future, tree.commune_a1, 2090), headers=h)
    assert_problem(r, 404)


async def test_numbers_out_of_range_are_refused_naming_the_field(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str,
    row_counts: RowCounts,
) -> None:
    unit, h = tree.commune_b1, reporter(stack, tree.commune_b1)
    before = await row_counts()
    huge = "9" * 400
    r = await api.post(report_path(future, unit, 2090) + "/submit",
                       headers={**h, "content-type": "application/json"},
                       content=('{"values": {"households_total": 1000, "poor_households": 100,'
                                f' "resources_state_budget_vnd": {huge}}}}}').encode())
    assert refused(r) == ["values.resources_state_budget_vnd"]
    assert await row_counts() == before

    json_type = {**board, "content-type": "application/json"}
    definition = ('{"code": "t_bound", "name_vi": "Thử", "name_en": "Test",'
                  ' "unit_of_measure": "count", "reported_by": ["commune"], "max_value": %s}')
    for bad in ("Infinity", "NaN", "1e300", "-Infinity"):
        r = await api.post("/v1/indicators", headers=json_type,
                           content=(definition % bad).encode())
        # a bound is a whole number or a finite decimal: both readings are refused
        assert refused(r) == ["max_value.constrained-int", "max_value.constrained-float"], bad
    r = await api.post("/v1/indicators", headers=json_type,
                       content=(definition % "null").replace('"max_value": null',
                                                             '"min_value": NaN').encode())
    assert refused(r) == ["min_value.constrained-int", "min_value.constrained-float"]

    path = f"/v1/campaigns/{future}/targets/2090/{unit}"
    for body in ({"households_out_min": 10**12}, {"households_out_max": 2**31},
                 {"households_out_min": 10_000_001}):
        r = await api.put(path, headers=board, json=body)
        assert refused(r) == list(body), r.text
    r = await api.put(path, headers=json_type, content=b'{"reduction_pp_min": NaN}')
    assert refused(r) == ["reduction_pp_min"]
    assert await row_counts() == before


# ---------------------------------------------------------------------------------------------
# idempotency


async def test_a_write_runs_without_an_idempotency_key_and_a_retry_with_one_has_no_second_effect(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, future: str,
    indicators_db: asyncpg.Connection,
) -> None:
    unit, h = tree.commune_b1, reporter(stack, tree.commune_b1)
    path = report_path(future, unit, 2090)

    async def effects() -> tuple[int, int]:
        versions = await indicators_db.fetchval(
            "SELECT count(*) FROM report_versions v JOIN reports r USING (report_id)"
            " WHERE r.campaign_id = $1 AND r.unit_id = $2", uuid.UUID(future), unit)
        events = await indicators_db.fetchval(
            "SELECT count(*) FROM outbox WHERE key = $1 AND body->'payload'->>'campaign_id' = $2",
            str(unit), future)
        return versions, events

    # without a key a write just runs, every time
    r = await api.put(path, headers=h, json={"values": VALUES})
    assert ok(r)["version"] == 1 and "Idempotency-Replayed" not in r.headers
    assert ok(await api.put(path, headers=h, json={"values": VALUES}))["version"] == 2
    assert await effects() == (2, 0)  # a draft sends no event
    r = await api.put(path, headers={**h, "Idempotency-Key": "short"}, json={"values": VALUES})
    assert refused(r) == ["header.Idempotency-Key"]

    same = key()
    first = await act(api, h, future, unit, 2090, "submit", {"values": VALUES}, same)
    assert ok(first)["version"] == 3
    assert "Idempotency-Replayed" not in first.headers
    assert await effects() == (3, 1)
    retry = await act(api, h, future, unit, 2090, "submit", {"values": VALUES}, same)
    assert ok(retry) == first.json()
    assert retry.headers["Idempotency-Replayed"] == "true"
    assert await effects() == (3, 1)

    r = await act(api, h, future, unit, 2090, "submit", {"values": values(newly_poor=9)}, same)
    assert refused(r) == ["Idempotency-Key"]
    r = await act(api, h, future, unit, 2090, "save", {"values": VALUES}, same)
    assert refused(r) == ["Idempotency-Key"]
    assert await effects() == (3, 1)
    # the same key from someone else is their own key
    other = await act(api, headers(stack, Role.REPORTER, unit, "someone-else"), future,
                      unit, 2090, "submit", {"values": VALUES}, same)
    assert ok(other)["version"] == 4
    # a refused request stores nothing: retried with the key, it runs again
    failing = key()
    r = await act(api, h, future, unit, 2090, "submit", {"values": values(bogus=1)}, failing)
    assert refused(r) == ["values.bogus"]
    r = await act(api, h, future, unit, 2090, "submit", {"values": values(bogus=1)}, failing)
    assert refused(r) == ["values.bogus"] and "Idempotency-Replayed" not in r.headers


# ---------------------------------------------------------------------------------------------
# the overdue job of the app


async def test_the_app_runs_the_overdue_job_and_a_unit_is_noticed_once(
    api: httpx.AsyncClient, settings: IndicatorsSettings, stack: TestStack, tree: Tree,
    board: Headers, indicators_db: asyncpg.Connection, conn: asyncpg.Connection,
) -> None:
    campaign = await create_campaign(api, board, (2017, 2017), kinds=("commune",))
    campaign_id = uuid.UUID(campaign["campaign_id"])
    # a cycle already past when its campaign is created is never noticed; this campaign is
    # made to have existed since before its due date (20 November 2017)
    await indicators_db.execute("UPDATE campaigns SET created_at = '2017-01-01T00:00:00Z'"
                                " WHERE campaign_id = $1", campaign_id)

    async def sent(db: asyncpg.Connection) -> list[uuid.UUID]:
        rows = await db.fetch(
            "SELECT (body->'payload'->>'unit_id')::uuid AS unit_id FROM outbox"
            " WHERE event_type = 'report.overdue'"
            "   AND (body->'payload'->>'campaign_id')::uuid = $1 ORDER BY 1", campaign_id)
        return [r["unit_id"] for r in rows if r["unit_id"] in tree.units]

    async for attempt in eventually(5):  # the app's periodic job
        with attempt:
            assert await sent(indicators_db) == sorted(tree.communes)
    # the job run once more (as after a restart) sends none of them again
    await service.emit_overdue(conn, Context.system(settings))
    assert await sent(conn) == sorted(tree.communes)
    got = ok(await api.get(f"/v1/campaigns/{campaign_id}/status", headers=board,
                           params={"year": 2017, "unit_id": str(tree.province)}))
    assert got["counts"] == {"missing": 3}
    r = await api.get(f"/v1/campaigns/{campaign_id}/status", headers=board,
                      params={"year": 2020})
    assert refused(r) == ["year"]


async def test_a_commune_clerk_reads_refusals_in_vietnamese(
        api: httpx.AsyncClient, stack: TestStack, tree: Tree, future: str) -> None:
    clerk = {**reporter(stack, tree.commune_a1), "Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"}
    r = await act(api, clerk, future, tree.commune_a1, FUTURE[0], "submit",
                  {"values": values(poor_households=1200)})
    body = assert_problem(r, 422, "values.poor_households")
    assert r.headers["content-language"] == "vi"
    assert body["title"] == "Dữ liệu không hợp lệ"
    assert body["errors"][0]["message"] == "số hộ nghèo (1200) vượt quá tổng số hộ (1000)"
    ok(await act(api, clerk, future, tree.commune_a1, FUTURE[0], "submit", {"values": VALUES}))
    r = await act(api, clerk, future, tree.commune_a1, FUTURE[0], "reopen", {"reason": "x"})
    assert_problem(r, 403)  # reopening is the board's
    r = await act(api, {**board_of(stack, tree), "Accept-Language": "vi"}, future,
                  tree.commune_a1, FUTURE[0], "reopen", {"reason": "kiểm tra"})
    conflict = assert_problem(r, 409)
    assert conflict["detail"] == "không thể mở lại báo cáo đang ở trạng thái đã nộp"
    english = assert_problem(await act(api, board_of(stack, tree), future, tree.commune_a1,
                                       FUTURE[0], "reopen", {"reason": "x"}), 409)
    assert english["detail"] == "cannot reopen a report that is submitted"


def board_of(stack: TestStack, tree: Tree) -> Headers:
    return headers(stack, Role.BOARD, tree.province, "board-hoa")


# ---------------------------------------------------------------------------------------------
# personal data: who acted on a report


async def test_a_reports_history_is_read_within_the_callers_subtree_and_audited(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers, future: str,
    indicators_db: asyncpg.Connection,
) -> None:
    unit = tree.commune_a1
    submitted = ok(await act(api, reporter(stack, unit), future, unit, 2090, "submit",
                             {"values": VALUES}))
    path = report_path(future, unit, 2090)
    other_district = reviewer(stack, tree.district_b)
    r = await api.get(path + "/history", headers=other_district)
    assert "outside the caller's unit scope" in assert_problem(r, 403)["detail"]
    # the figures stay open to any valid token, and name nobody
    figures = ok(await api.get(path, headers=other_district))
    assert figures["values"] == VALUES and "actor" not in figures
    for h, who in ((reviewer(stack, tree.district_a), f"reviewer-{tree.district_a}"),
                   (board, "board-hoa"), (headers(stack, Role.ADMIN, sub="admin"), "admin")):
        history = ok(await api.get(path + "/history", headers=h))
        assert [v["actor"] for v in history] == [f"reporter-{unit}"]
        read = await indicators_db.fetchrow(
            "SELECT actor, after FROM audit_log WHERE action = 'report.history_read'"
            " AND entity_id = $1 ORDER BY id DESC LIMIT 1", submitted["report_id"])
        assert read is not None and read["actor"] == who
    assert await indicators_db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'report.history_read'"
        " AND entity_id = $1", submitted["report_id"]) == 3  # the refused read is not one


# ---------------------------------------------------------------------------------------------
# data migrations


async def test_data_migrations_are_an_administrators_and_closed_once(
    api: httpx.AsyncClient, stack: TestStack, tree: Tree, board: Headers,
) -> None:
    admin = headers(stack, Role.ADMIN, sub="admin")
    body = {"reference": "CĐDL-2017/01", "reason": "nhập sổ theo dõi báo cáo năm 2017"}
    for h in (board, reporter(stack, tree.commune_a1)):
        assert_problem(await api.post("/v1/data-migrations", headers=h, json=body), 403)
        assert_problem(await api.get("/v1/data-migrations", headers=h), 403)
    assert refused(await api.post("/v1/data-migrations", headers=admin,
                                  json={"reference": "x"})) == ["reason"]
    opened = ok(await api.post("/v1/data-migrations", headers=admin, json=body), 201)
    assert (opened["reference"], opened["opened_by"], opened["open"]) == (
        "CĐDL-2017/01", "admin", True)
    path = f"/v1/data-migrations/{opened['migration_id']}/close"
    assert_problem(await api.post(path, headers=board), 403)
    closed = ok(await api.post(path, headers=admin))
    assert (closed["open"], closed["closed_by"]) == (False, "admin")
    assert_problem(await api.post(path, headers=admin), 409)
    assert_problem(await api.post(f"/v1/data-migrations/{uuid.uuid4()}/close",
                                  headers=admin), 404)
    listed = ok(await api.get("/v1/data-migrations", headers=admin))
    assert closed in listed
