"""The registration API through HTTP (the app in this process, the real PostgreSQL and Kafka):
what HTTP adds to the use cases of test_service.py. Tokens and roles, status codes, problem
bodies, idempotency, the file upload, the service's topic."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from chungtay_common.auth import Role
from services.registration.imports import IMPORT_COLUMNS
from tests.conftest import TestStack
from tests.registration.conftest import Json, Register
from tests.support import assert_problem, bearer, ok

Counts = Callable[[], Awaitable[dict[str, int]]]


def tag() -> str:
    """A suffix that makes a name unique to one test (letters only, so it folds to itself)."""
    return "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:8])


@dataclass
class Tree:
    province: Json
    district: Json
    commune: Json
    village: Json
    tag: str


@pytest.fixture
async def tree(register: Register) -> Tree:
    """Province → district → commune → village, all from 2017-01-01, with unique names."""
    t = tag()
    province = await register(name=f"Tỉnh Thử {t}")
    district = await register(kind="district", subkind="thanh_pho",
                              name=f"Thành phố Đồng Hới {t}", parent_id=province["unit_id"])
    commune = await register(kind="commune", subkind="phuong", name=f"Phường Hải Thành {t}",
                             parent_id=district["unit_id"])
    village = await register(kind="village", subkind="to_dan_pho", code=None,
                             name=f"Tổ dân phố 1 {t}", parent_id=commune["unit_id"])
    return Tree(province, district, commune, village, t)


async def get(client: httpx.AsyncClient, headers: dict[str, str], path: str,
              **params: Any) -> Any:
    return ok(await client.get(path, params=params, headers=headers), 200)


# ---------------------------------------------------------------------------------------------
# register and read


async def test_register_answers_201_with_the_unit_and_writes_to_the_service_topic(
    tree: Tree, registration: httpx.AsyncClient, admin_headers: dict[str, str],
    registration_db: asyncpg.Connection,
) -> None:
    assert [v["parent_id"] for v in tree.commune["versions"]] == [tree.district["unit_id"]]
    unit = await get(registration, admin_headers, f"/v1/units/{tree.commune['unit_id']}")
    assert unit == tree.commune
    rows = await registration_db.fetch(
        "SELECT event_type, topic, body FROM outbox WHERE key = $1", unit["unit_id"])
    assert [r["event_type"] for r in rows] == ["unit.registered"]
    assert rows[0]["topic"].endswith(".registration.v1")


async def test_get_unknown_unit_is_404(
    registration: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for path in ("", "/subtree", "/audit"):
        r = await registration.get(f"/v1/units/{uuid.uuid4()}{path}", headers=admin_headers)
        assert_problem(r, 404, type="not_found")


async def test_search_and_subtree_take_their_query(
    tree: Tree, register: Register, registration: httpx.AsyncClient,
    admin_headers: dict[str, str],
) -> None:
    h, t = admin_headers, tree.tag
    for i in range(2):
        await register(kind="commune", subkind="xa", name=f"Xã Trang {i} {t}",
                       parent_id=tree.district["unit_id"])
    page = await get(registration, h, "/v1/units", q="xa trang", kind="commune",
                     parent_id=tree.district["unit_id"], as_of="2018-01-01", limit=1, offset=1)
    assert (page["as_of"], page["total"], page["limit"], page["offset"]) == (
        "2018-01-01", 2, 1, 1)
    assert [i["name"] for i in page["items"]] == [f"Xã Trang 1 {t}"]
    code = tree.commune["versions"][0]["code"]
    page = await get(registration, h, "/v1/units", code=code, as_of="2016-12-31")
    assert page["items"] == []
    [found] = (await get(registration, h, "/v1/units", code=code, as_of="2017-01-01"))["items"]
    assert found == {**tree.commune["versions"][0], "unit_id": tree.commune["unit_id"],
                     "kind": "commune"}
    nodes = (await get(registration, h, f"/v1/units/{tree.province['unit_id']}/subtree",
                       as_of="2017-01-01"))["nodes"]
    depths = {n["unit_id"]: n["depth"] for n in nodes}
    assert len(nodes) == 6  # with the two communes registered above
    assert [depths[u["unit_id"]] for u in (tree.province, tree.district, tree.commune,
                                           tree.village)] == [0, 1, 2, 3]
    r = await registration.get(f"/v1/units/{tree.province['unit_id']}/subtree",
                               params={"as_of": "2016-01-01"}, headers=h)
    assert_problem(r, 404, type="not_found")
    r = await registration.get("/v1/units", params={"limit": 0}, headers=h)
    assert_problem(r, 422, field="query.limit")


# ---------------------------------------------------------------------------------------------
# changes


async def test_a_broken_rule_is_422_naming_the_field_and_a_refused_change_409(
    tree: Tree, registration: httpx.AsyncClient, admin_headers: dict[str, str],
    row_counts: Counts,
) -> None:
    path = f"/v1/units/{tree.village['unit_id']}"
    ok(await registration.post(f"{path}/rename", headers=admin_headers, json={
        "name": f"Thôn Hai {tree.tag}", "effective_date": "2019-01-01"}), 200)
    before = await row_counts()
    r = await registration.post(f"{path}/rename", headers=admin_headers, json={
        "name": f"Thôn Ba {tree.tag}", "effective_date": "2018-01-01"})
    assert_problem(r, 422, field="effective_date", type="validation_error")
    assert await row_counts() == before
    ok(await registration.post(f"{path}/close", headers=admin_headers,
                               json={"effective_date": "2020-01-01", "reason": "sáp nhập"}), 200)
    before = await row_counts()
    r = await registration.post(f"{path}/rename", headers=admin_headers, json={
        "name": f"Thôn Ba {tree.tag}", "effective_date": "2020-06-01"})
    assert_problem(r, 409, type="conflict")
    r = await registration.post(f"/v1/units/{tree.commune['unit_id']}/close",
                                headers=admin_headers,
                                json={"effective_date": "2019-01-01", "reason": "giải thể"})
    assert "child" in assert_problem(r, 409, type="conflict")["detail"]
    assert await row_counts() == before


async def test_move_merge_and_split_through_http(
    tree: Tree, register: Register, registration: httpx.AsyncClient,
    admin_headers: dict[str, str], unique_code: Callable[[], str], row_counts: Counts,
) -> None:
    h, t = admin_headers, tree.tag
    other = await register(kind="commune", subkind="xa", name=f"Xã Bên Cạnh {t}",
                           parent_id=tree.district["unit_id"])
    moved = ok(await registration.post(
        f"/v1/units/{tree.village['unit_id']}/move", headers=h,
        json={"parent_id": other["unit_id"], "effective_date": "2019-01-01"}), 200)
    assert [v["parent_id"] for v in moved["versions"]] == [tree.commune["unit_id"],
                                                           other["unit_id"]]
    merged = ok(await registration.post("/v1/units/merge", headers=h, json={
        "predecessor_ids": [tree.commune["unit_id"]], "effective_date": "2020-01-01",
        "successor": {"unit_id": other["unit_id"]}}), 200)
    assert {u["unit_id"] for u in merged["units"]} == {tree.commune["unit_id"],
                                                       other["unit_id"]}
    successors = [{"kind": "commune", "subkind": "xa", "code": unique_code(),
                   "name": f"Xã {side} {t}", "parent_id": tree.district["unit_id"]}
                  for side in ("Bắc", "Nam")]
    split_path = f"/v1/units/{other['unit_id']}/split"
    before = await row_counts()
    r = await registration.post(split_path, headers=h, json={
        "effective_date": "2021-01-01", "successors": successors})
    assert_problem(r, 422, field="children")  # the village must go somewhere
    assert await row_counts() == before
    split = ok(await registration.post(split_path, headers=h, json={
        "effective_date": "2021-01-01", "successors": successors,
        "children": [{"unit_id": tree.village["unit_id"], "successor": 1}]}), 200)
    assert len(split["units"]) == 4  # two new communes, the village moved, the one split


async def test_a_replayed_rename_returns_the_first_response_and_changes_nothing(
    tree: Tree, registration: httpx.AsyncClient, admin_headers: dict[str, str],
    row_counts: Counts,
) -> None:
    path = f"/v1/units/{tree.village['unit_id']}/rename"
    body = {"name": f"Tổ dân phố Mới {tree.tag}", "effective_date": "2019-01-01"}
    keyed = {**admin_headers, "Idempotency-Key": f"rename-{uuid.uuid4()}"}
    start = await row_counts()
    first = await registration.post(path, json=body, headers=keyed)
    unit = ok(first, 200)
    assert unit["revision"] == 2 and "idempotency-replayed" not in first.headers
    before = await row_counts()
    assert before["idempotency_keys"] == start["idempotency_keys"] + 1  # the response kept
    again = await registration.post(path, json=body, headers=keyed)
    assert ok(again, 200) == unit
    assert again.headers["idempotency-replayed"] == "true"
    assert await row_counts() == before
    assert (await get(registration, admin_headers, f"/v1/units/{tree.village['unit_id']}")
            )["revision"] == 2
    # the same key for another request is refused; without a key, the retry runs again
    r = await registration.post(path, json={**body, "name": "Thôn Khác"}, headers=keyed)
    assert_problem(r, 422, field="Idempotency-Key")
    r = await registration.post(path, json=body, headers=admin_headers)
    assert "changes nothing" in assert_problem(r, 422, field="effective_date")["detail"]
    assert await row_counts() == before


# ---------------------------------------------------------------------------------------------
# bulk import

HEADER = ",".join(IMPORT_COLUMNS)


@dataclass
class ImportFile:
    text: str
    codes: list[str]
    tag: str


@pytest.fixture
def import_file(unique_code: Callable[[], str]) -> ImportFile:
    """A small file in the format of data/quang_binh_units_2020.csv, with fake codes."""
    t = tag()
    p, d1, d2, c1, c2, c3 = (unique_code() for _ in range(6))
    rows = [
        f"{p},Tỉnh Nhập {t},{d1},Thành phố Nhập {t},{c1},Phường Một {t},phuong",
        f"{p},Tỉnh Nhập {t},{d1},Thành phố Nhập {t},{c2},Xã Hai {t},xa",
        f"{p},Tỉnh Nhập {t},{d2},Huyện Nhập {t},{c3},Thị trấn Ba {t},thi_tran",
    ]
    return ImportFile("\n".join([HEADER, *rows]) + "\n", [p, d1, d2, c1, c2, c3], t)


async def post_csv(client: httpx.AsyncClient, headers: dict[str, str], text: str,
                   media_type: str = "text/csv") -> httpx.Response:
    return await client.post("/v1/units/import", params={"valid_from": "2020-01-01"},
                             content=text.encode(),
                             headers={**headers, "content-type": media_type})


async def test_import_takes_a_csv_body_whatever_the_case_of_its_media_type(
    import_file: ImportFile, registration: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    result = ok(await post_csv(registration, admin_headers, import_file.text,
                               "Text/CSV; charset=UTF-8"), 200)
    assert (result["valid_from"], result["created"], result["unchanged"]) == ("2020-01-01", 6, 0)
    assert set(result["unit_ids_by_code"]) == set(import_file.codes)
    again = ok(await post_csv(registration, admin_headers, import_file.text), 200)
    assert (again["created"], again["unchanged"]) == (0, 6)


async def test_import_of_a_file_with_bad_rows_lists_them_and_writes_nothing(
    import_file: ImportFile, registration: httpx.AsyncClient, admin_headers: dict[str, str],
    unique_code: Callable[[], str], row_counts: Counts,
) -> None:
    t = import_file.tag
    p, d1 = import_file.codes[:2]
    reversed_name = f"Xã \u202eĐồng Trạch {t}"  # shown reversed in the public list
    bad_rows = [
        f"{p},Tỉnh Nhập {t},{d1},Thành phố Nhập {t},12a4,Xã Mã Hỏng {t},xa",
        f"{p},Tỉnh Nhập {t},{d1},Thành phố Nhập {t},{unique_code()},{reversed_name},xa",
        f"{p},Tỉnh Nhập {t},{d1},Thành phố Nhập {t},{unique_code()},Xã Lạ {t},lang",
    ]
    text = import_file.text + "\n".join(bad_rows) + "\n"
    counts = await row_counts()
    body = assert_problem(await post_csv(registration, admin_headers, text), 422,
                          type="validation_error")
    assert [e["field"] for e in body["errors"]] == [
        "row 5: commune_code", "row 6: commune_name", "row 7: commune_kind"]
    assert "numeric" in body["errors"][0]["message"]
    assert "bidirectional" in body["errors"][1]["message"]
    assert "lang" in body["errors"][2]["message"]
    assert "3 problem" in body["detail"]
    assert await row_counts() == counts


async def test_import_refuses_a_wrong_header_a_wrong_media_type_and_bad_utf8(
    import_file: ImportFile, registration: httpx.AsyncClient, admin_headers: dict[str, str],
    row_counts: Counts,
) -> None:
    counts = await row_counts()
    r = await post_csv(registration, admin_headers,
                       import_file.text.replace("commune_kind", "loai"))
    assert_problem(r, 422, field="header")
    r = await registration.post("/v1/units/import", params={"valid_from": "2020-01-01"},
                                json={"rows": []}, headers=admin_headers)
    assert_problem(r, 415, type="unsupported_media_type")
    r = await registration.post("/v1/units/import", params={"valid_from": "2020-01-01"},
                                json={"rows": []})
    assert_problem(r, 401)  # who asks is checked first
    r = await registration.post("/v1/units/import", params={"valid_from": "2020-01-01"},
                                content=import_file.text.encode("utf-16"),
                                headers={**admin_headers, "content-type": "text/csv"})
    assert_problem(r, 422, field="body")
    assert await row_counts() == counts


# ---------------------------------------------------------------------------------------------
# audit


async def test_audit_shows_who_what_before_and_after(
    tree: Tree, stack: TestStack, registration: httpx.AsyncClient,
    admin_headers: dict[str, str],
) -> None:
    unit_id = tree.village["unit_id"]
    # a registrar of an ancestor may change the unit
    registrar = bearer(stack.token(Role.REGISTRAR, unit=uuid.UUID(tree.district["unit_id"]),
                                   sub="can-bo-huyen"))
    ok(await registration.post(f"/v1/units/{unit_id}/rename", headers=registrar,
                               json={"name": f"Tổ dân phố 9 {tree.tag}",
                                     "effective_date": "2019-01-01"}), 200)
    ok(await registration.post(f"/v1/units/{unit_id}/close", headers=admin_headers,
                               json={"effective_date": "2020-01-01", "reason": "sáp nhập"}), 200)

    entries = await get(registration, admin_headers, f"/v1/units/{unit_id}/audit")
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("unit.register", "admin"), ("unit.rename", "can-bo-huyen"), ("unit.close", "admin")]
    assert entries[1]["actor_roles"] == ["registrar"]
    register_, rename, close = entries
    assert register_["before"] is None
    assert register_["after"]["versions"] == tree.village["versions"]
    assert rename["before"] == register_["after"]
    assert [v["name"] for v in rename["after"]["versions"]] == [
        f"Tổ dân phố 1 {tree.tag}", f"Tổ dân phố 9 {tree.tag}"]
    assert close["before"] == rename["after"]
    assert close["after"]["versions"][-1]["valid_to"] == "2020-01-01"
    assert close["after"]["revision"] == 3
