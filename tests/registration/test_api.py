"""The registration API through HTTP: the app in this process, the real PostgreSQL and Kafka."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from chungtay_common.auth import Role
from tests.conftest import TestStack
from tests.registration.conftest import bearer

Json = dict[str, Any]
Register = Callable[..., Awaitable[Json]]


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


async def search(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> Json:
    r = await client.get("/v1/units", params={k: str(v) for k, v in params.items()},
                         headers=headers)
    assert r.status_code == 200, r.text
    page: Json = r.json()
    assert page["total"] == len(page["items"])  # every test's result fits a page
    return page


def ids(page: Json) -> set[str]:
    return {item["unit_id"] for item in page["items"]}


async def subtree(client: httpx.AsyncClient, headers: dict[str, str], root: str,
                  as_of: str) -> dict[str, Json]:
    r = await client.get(f"/v1/units/{root}/subtree", params={"as_of": as_of}, headers=headers)
    assert r.status_code == 200, r.text
    return {n["unit_id"]: n for n in r.json()["nodes"]}


async def get(client: httpx.AsyncClient, headers: dict[str, str], unit_id: str) -> Json:
    r = await client.get(f"/v1/units/{unit_id}", headers=headers)
    assert r.status_code == 200, r.text
    unit: Json = r.json()
    return unit


# ---------------------------------------------------------------------------------------------
# register and read


async def test_register_the_four_levels(
    tree: Tree, registration: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    assert tree.province["kind"] == "province"
    assert tree.province["versions"][0]["parent_id"] is None
    for child, parent in [(tree.district, tree.province), (tree.commune, tree.district),
                          (tree.village, tree.commune)]:
        assert child["revision"] == 1
        [v] = child["versions"]
        assert v["parent_id"] == parent["unit_id"]
        assert v["valid_from"] == "2017-01-01" and v["valid_to"] is None
    assert tree.village["versions"][0]["code"] is None
    unit = await get(registration, admin_headers, tree.commune["unit_id"])
    assert unit == tree.commune
    assert unit["versions"][0]["name"] == f"Phường Hải Thành {tree.tag}"
    assert unit["versions"][0]["subkind"] == "phuong"
    assert unit["predecessors"] == [] and unit["successors"] == []


async def test_register_writes_an_event_to_the_outbox(
    register: Register, registration_db: asyncpg.Connection
) -> None:
    unit = await register()
    rows = await registration_db.fetch(
        "SELECT event_type, topic, body FROM outbox WHERE key = $1", unit["unit_id"])
    assert [r["event_type"] for r in rows] == ["unit.registered"]
    assert rows[0]["topic"].endswith(".registration.v1")


async def test_get_unknown_unit_is_404(
    registration: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    r = await registration.get(f"/v1/units/{uuid.uuid4()}", headers=admin_headers)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "not_found"


async def test_search_by_code_name_kind_and_parent(
    tree: Tree, registration: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    h = admin_headers
    page = await search(registration, h, code=tree.district["versions"][0]["code"],
                        as_of="2020-01-01")
    assert ids(page) == {tree.district["unit_id"]}
    assert page["items"][0]["name"] == f"Thành phố Đồng Hới {tree.tag}"
    for q in (f"Dong Hoi {tree.tag}", f"đồng hới {tree.tag}", f"THÀNH PHỐ ĐỒNG HỚI {tree.tag}"):
        assert ids(await search(registration, h, q=q, as_of="2020-01-01")) == {
            tree.district["unit_id"]}, q
    # part of a name, without diacritics, finds every unit whose name holds it
    assert ids(await search(registration, h, q=tree.tag, as_of="2020-01-01")) == {
        tree.province["unit_id"], tree.district["unit_id"], tree.commune["unit_id"],
        tree.village["unit_id"]}
    assert ids(await search(registration, h, q=tree.tag, kind="commune",
                            as_of="2020-01-01")) == {tree.commune["unit_id"]}
    assert ids(await search(registration, h, parent_id=tree.district["unit_id"],
                            as_of="2020-01-01")) == {tree.commune["unit_id"]}
    assert ids(await search(registration, h, q=f"Hai Thanh {tree.tag}", as_of="2020-01-01")
               ) == {tree.commune["unit_id"]}


async def test_search_before_valid_from_finds_nothing(
    tree: Tree, registration: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    for as_of in ("2016-12-31", "2017-01-01"):
        page = await search(registration, admin_headers, q=tree.tag, as_of=as_of)
        assert page["as_of"] == as_of
        assert len(page["items"]) == (0 if as_of == "2016-12-31" else 4)
    page = await search(registration, admin_headers, code=tree.province["versions"][0]["code"],
                        as_of="2016-12-31")
    assert page["items"] == []


async def test_search_pages(
    register: Register, registration: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    t = tag()
    for i in range(3):
        await register(name=f"Tỉnh Trang {i} {t}")
    r = await registration.get("/v1/units", headers=admin_headers,
                               params={"q": t, "limit": 2, "offset": 2, "as_of": "2018-01-01"})
    assert r.status_code == 200, r.text
    page = r.json()
    assert (page["total"], len(page["items"]), page["offset"]) == (3, 1, 2)


async def test_subtree_as_of(
    tree: Tree, register: Register, registration: httpx.AsyncClient,
    admin_headers: dict[str, str],
) -> None:
    later = await register(kind="commune", subkind="xa", name=f"Xã Mới Lập {tree.tag}",
                           parent_id=tree.district["unit_id"], valid_from="2019-01-01")
    nodes = await subtree(registration, admin_headers, tree.province["unit_id"], "2018-06-01")
    assert set(nodes) == {tree.province["unit_id"], tree.district["unit_id"],
                          tree.commune["unit_id"], tree.village["unit_id"]}
    assert [nodes[u["unit_id"]]["depth"] for u in
            (tree.province, tree.district, tree.commune, tree.village)] == [0, 1, 2, 3]
    nodes = await subtree(registration, admin_headers, tree.district["unit_id"], "2019-01-01")
    assert later["unit_id"] in nodes and tree.province["unit_id"] not in nodes
    assert nodes[later["unit_id"]]["depth"] == 1
    r = await registration.get(f"/v1/units/{tree.province['unit_id']}/subtree",
                               params={"as_of": "2016-01-01"}, headers=admin_headers)
    assert r.status_code == 404


# ---------------------------------------------------------------------------------------------
# changes


async def test_rename_from_a_date(
    tree: Tree, registration: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    unit_id = tree.commune["unit_id"]
    new_name = f"Phường Hải Thành Mới {tree.tag}"
    r = await registration.post(f"/v1/units/{unit_id}/rename", headers=admin_headers,
                                json={"name": new_name, "effective_date": "2019-07-01"})
    assert r.status_code == 200, r.text
    unit = r.json()
    assert unit["revision"] == 2
    assert [(v["valid_from"], v["valid_to"], v["name"]) for v in unit["versions"]] == [
        ("2017-01-01", "2019-07-01", f"Phường Hải Thành {tree.tag}"),
        ("2019-07-01", None, new_name),
    ]
    assert await get(registration, admin_headers, unit_id) == unit
    before = await search(registration, admin_headers, code=unit["versions"][0]["code"],
                          as_of="2019-06-30")
    after = await search(registration, admin_headers, code=unit["versions"][0]["code"],
                         as_of="2019-07-01")
    assert [i["name"] for i in before["items"]] == [f"Phường Hải Thành {tree.tag}"]
    assert [i["name"] for i in after["items"]] == [new_name]
    assert ids(await search(registration, admin_headers, q=f"hai thanh moi {tree.tag}",
                            as_of="2019-06-30")) == set()
    assert ids(await search(registration, admin_headers, q=f"hai thanh moi {tree.tag}",
                            as_of="2019-07-01")) == {unit_id}


async def test_rename_by_a_registrar_of_an_ancestor(
    tree: Tree, stack: TestStack, registration: httpx.AsyncClient
) -> None:
    registrar = bearer(stack.token(Role.REGISTRAR, unit=uuid.UUID(tree.district["unit_id"]),
                                   sub="lan"))
    r = await registration.post(f"/v1/units/{tree.village['unit_id']}/rename", headers=registrar,
                                json={"name": f"Tổ dân phố 2 {tree.tag}",
                                      "effective_date": "2018-01-01"})
    assert r.status_code == 200, r.text


async def test_rename_before_the_latest_version_is_422_and_after_close_409(
    tree: Tree, registration: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    unit_id = tree.village["unit_id"]
    r = await registration.post(f"/v1/units/{unit_id}/rename", headers=admin_headers,
                                json={"name": f"Thôn Hai {tree.tag}",
                                      "effective_date": "2019-01-01"})
    assert r.status_code == 200, r.text
    r = await registration.post(f"/v1/units/{unit_id}/rename", headers=admin_headers,
                                json={"name": f"Thôn Ba {tree.tag}",
                                      "effective_date": "2018-01-01"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "effective_date"
    r = await registration.post(f"/v1/units/{unit_id}/close", headers=admin_headers,
                                json={"effective_date": "2020-01-01", "reason": "sáp nhập"})
    assert r.status_code == 200, r.text
    r = await registration.post(f"/v1/units/{unit_id}/rename", headers=admin_headers,
                                json={"name": f"Thôn Ba {tree.tag}",
                                      "effective_date": "2020-06-01"})
    assert r.status_code == 409, r.text


async def test_move_from_a_date(
    tree: Tree, register: Register, registration: httpx.AsyncClient,
    admin_headers: dict[str, str],
) -> None:
    other = await register(kind="commune", subkind="xa", name=f"Xã Bên Cạnh {tree.tag}",
                           parent_id=tree.district["unit_id"])
    village_id = tree.village["unit_id"]
    r = await registration.post(f"/v1/units/{village_id}/move", headers=admin_headers,
                                json={"parent_id": other["unit_id"],
                                      "effective_date": "2020-01-01"})
    assert r.status_code == 200, r.text
    assert [(v["valid_from"], v["parent_id"]) for v in r.json()["versions"]] == [
        ("2017-01-01", tree.commune["unit_id"]), ("2020-01-01", other["unit_id"])]
    old = await subtree(registration, admin_headers, tree.commune["unit_id"], "2019-12-31")
    new = await subtree(registration, admin_headers, tree.commune["unit_id"], "2020-01-01")
    assert village_id in old and village_id not in new
    assert ids(await search(registration, admin_headers, parent_id=other["unit_id"],
                            as_of="2020-01-01")) == {village_id}
    # a village cannot sit under a district
    r = await registration.post(f"/v1/units/{village_id}/move", headers=admin_headers,
                                json={"parent_id": tree.district["unit_id"],
                                      "effective_date": "2021-01-01"})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "parent_id"


async def test_close_is_refused_while_children_remain(
    tree: Tree, registration: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    commune_id, village_id = tree.commune["unit_id"], tree.village["unit_id"]
    body = {"effective_date": "2020-01-01", "reason": "giải thể"}
    r = await registration.post(f"/v1/units/{commune_id}/close", headers=admin_headers,
                                json=body)
    assert r.status_code == 409, r.text
    assert "child" in r.json()["detail"]
    assert (await get(registration, admin_headers, commune_id))["revision"] == 1
    r = await registration.post(f"/v1/units/{village_id}/close", headers=admin_headers,
                                json=body)
    assert r.status_code == 200, r.text
    r = await registration.post(f"/v1/units/{commune_id}/close", headers=admin_headers,
                                json=body)
    assert r.status_code == 200, r.text
    assert r.json()["versions"][-1]["valid_to"] == "2020-01-01"
    assert ids(await search(registration, admin_headers, q=tree.tag, as_of="2019-12-31")) >= {
        commune_id, village_id}
    assert ids(await search(registration, admin_headers, q=tree.tag, as_of="2020-01-01")) == {
        tree.province["unit_id"], tree.district["unit_id"]}
    r = await registration.post(f"/v1/units/{commune_id}/close", headers=admin_headers,
                                json={"effective_date": "2021-01-01", "reason": "again"})
    assert r.status_code == 409, r.text


# ---------------------------------------------------------------------------------------------
# merges and splits


async def test_merge_two_communes_into_a_new_one(
    tree: Tree, register: Register, registration: httpx.AsyncClient,
    admin_headers: dict[str, str], unique_code: Callable[[], str],
) -> None:
    h, t = admin_headers, tree.tag
    a, va = tree.commune, tree.village
    b = await register(kind="commune", subkind="xa", name=f"Xã Bảo Ninh {t}",
                       parent_id=tree.district["unit_id"])
    vb = await register(kind="village", subkind="thon", code=None, name=f"Thôn Cừa {t}",
                        parent_id=b["unit_id"])
    new_name = f"Phường Đồng Hới Mới {t}"
    r = await registration.post("/v1/units/merge", headers=h, json={
        "predecessor_ids": [a["unit_id"], b["unit_id"]], "effective_date": "2025-07-01",
        # the district level is gone from 2025-07-01: the new commune sits under the province
        "successor": {"kind": "commune", "subkind": "phuong", "code": unique_code(),
                      "name": new_name, "parent_id": tree.province["unit_id"]},
    })
    assert r.status_code == 200, r.text
    changed = {u["unit_id"]: u for u in r.json()["units"]}
    [c_id] = set(changed) - {a["unit_id"], b["unit_id"], va["unit_id"], vb["unit_id"]}
    assert set(changed) == {a["unit_id"], b["unit_id"], va["unit_id"], vb["unit_id"], c_id}

    before = await subtree(registration, h, tree.province["unit_id"], "2025-06-30")
    after = await subtree(registration, h, tree.province["unit_id"], "2025-07-01")
    assert {a["unit_id"], b["unit_id"]} <= set(before) and c_id not in before
    assert c_id in after and not {a["unit_id"], b["unit_id"]} & set(after)
    assert before[va["unit_id"]]["parent_id"] == a["unit_id"]
    assert before[vb["unit_id"]]["parent_id"] == b["unit_id"]
    assert after[va["unit_id"]]["parent_id"] == c_id
    assert after[vb["unit_id"]]["parent_id"] == c_id
    assert after[c_id]["depth"] == 1 and after[va["unit_id"]]["depth"] == 2

    communes_before = await search(registration, h, q=t, kind="commune", as_of="2025-06-30")
    communes_after = await search(registration, h, q=t, kind="commune", as_of="2025-07-01")
    assert ids(communes_before) == {a["unit_id"], b["unit_id"]}
    assert ids(communes_after) == {c_id}
    assert ids(await search(registration, h, parent_id=c_id, as_of="2025-07-01")) == {
        va["unit_id"], vb["unit_id"]}

    for pred in (a, b):
        unit = await get(registration, h, pred["unit_id"])
        assert unit["versions"][-1]["valid_to"] == "2025-07-01"
        assert unit["successors"] == [
            {"change": "merge", "effective_date": "2025-07-01", "unit_id": c_id}]
    successor = await get(registration, h, c_id)
    assert successor["versions"][0]["valid_from"] == "2025-07-01"
    assert {p["unit_id"] for p in successor["predecessors"]} == {a["unit_id"], b["unit_id"]}
    village = await get(registration, h, va["unit_id"])
    assert [(v["valid_to"], v["parent_id"]) for v in village["versions"]] == [
        ("2025-07-01", a["unit_id"]), (None, c_id)]


async def test_merge_into_a_new_unit_that_reuses_a_predecessors_code(
    tree: Tree, register: Register, registration: httpx.AsyncClient,
    admin_headers: dict[str, str],
) -> None:
    """In 2025 merged communes usually kept the code of one of them (see DOMAIN.md)."""
    a = tree.commune
    b = await register(kind="commune", subkind="xa", name=f"Xã Lộc Ninh {tree.tag}",
                       parent_id=tree.district["unit_id"])
    code = a["versions"][0]["code"]
    r = await registration.post("/v1/units/merge", headers=admin_headers, json={
        "predecessor_ids": [a["unit_id"], b["unit_id"]], "effective_date": "2025-07-01",
        "successor": {"kind": "commune", "subkind": "phuong", "code": code,
                      "name": f"Phường Đồng Hới {tree.tag}",
                      "parent_id": tree.province["unit_id"]},
    })
    assert r.status_code == 200, r.text
    old = await search(registration, admin_headers, code=code, as_of="2025-06-30")
    new = await search(registration, admin_headers, code=code, as_of="2025-07-01")
    assert ids(old) == {a["unit_id"]}
    assert [i["name"] for i in new["items"]] == [f"Phường Đồng Hới {tree.tag}"]
    assert ids(new) != ids(old)


async def test_merge_into_an_existing_unit(
    tree: Tree, register: Register, registration: httpx.AsyncClient,
    admin_headers: dict[str, str],
) -> None:
    a, va = tree.commune, tree.village
    b = await register(kind="commune", subkind="xa", name=f"Xã Nghĩa Ninh {tree.tag}",
                       parent_id=tree.district["unit_id"])
    r = await registration.post("/v1/units/merge", headers=admin_headers, json={
        "predecessor_ids": [a["unit_id"]], "effective_date": "2020-01-01",
        "successor": {"unit_id": b["unit_id"]},
    })
    assert r.status_code == 200, r.text
    assert {u["unit_id"] for u in r.json()["units"]} == {a["unit_id"], b["unit_id"],
                                                        va["unit_id"]}
    kept = await get(registration, admin_headers, b["unit_id"])
    assert kept["versions"] == b["versions"]  # the successor itself is unchanged
    assert kept["predecessors"] == [
        {"change": "merge", "effective_date": "2020-01-01", "unit_id": a["unit_id"]}]
    gone = await get(registration, admin_headers, a["unit_id"])
    assert gone["versions"][-1]["valid_to"] == "2020-01-01"
    assert gone["successors"][0]["unit_id"] == b["unit_id"]
    assert ids(await search(registration, admin_headers, parent_id=b["unit_id"],
                            as_of="2020-01-01")) == {va["unit_id"]}
    assert ids(await search(registration, admin_headers, parent_id=a["unit_id"],
                            as_of="2019-12-31")) == {va["unit_id"]}


async def test_split_with_children_mapping(
    tree: Tree, register: Register, registration: httpx.AsyncClient,
    admin_headers: dict[str, str], unique_code: Callable[[], str],
) -> None:
    h, t = admin_headers, tree.tag
    commune_id, v1 = tree.commune["unit_id"], tree.village["unit_id"]
    v2 = (await register(kind="village", subkind="thon", code=None, name=f"Thôn Hai {t}",
                         parent_id=commune_id))["unit_id"]
    successors = [
        {"kind": "commune", "subkind": "xa", "code": unique_code(), "name": f"Xã Bắc {t}",
         "parent_id": tree.district["unit_id"]},
        {"kind": "commune", "subkind": "xa", "code": unique_code(), "name": f"Xã Nam {t}",
         "parent_id": tree.district["unit_id"]},
    ]
    # every child must go somewhere when the unit closes
    r = await registration.post(f"/v1/units/{commune_id}/split", headers=h, json={
        "effective_date": "2021-01-01", "successors": successors,
        "children": [{"unit_id": v1, "successor": 0}]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "children"
    assert ids(await search(registration, h, q=f"xa bac {t}", as_of="2021-01-01")) == set()

    r = await registration.post(f"/v1/units/{commune_id}/split", headers=h, json={
        "effective_date": "2021-01-01", "successors": successors,
        "children": [{"unit_id": v1, "successor": 0}, {"unit_id": v2, "successor": 1}]})
    assert r.status_code == 200, r.text
    [north] = ids(await search(registration, h, q=f"xa bac {t}", as_of="2021-01-01"))
    [south] = ids(await search(registration, h, q=f"xa nam {t}", as_of="2021-01-01"))
    after = await subtree(registration, h, tree.district["unit_id"], "2021-01-01")
    assert commune_id not in after
    assert after[v1]["parent_id"] == north and after[v2]["parent_id"] == south
    before = await subtree(registration, h, tree.district["unit_id"], "2020-12-31")
    assert before[v1]["parent_id"] == commune_id and before[v2]["parent_id"] == commune_id
    assert north not in before and south not in before
    pred = await get(registration, h, commune_id)
    assert pred["versions"][-1]["valid_to"] == "2021-01-01"
    assert {(s["change"], s["unit_id"]) for s in pred["successors"]} == {
        ("split", north), ("split", south)}
    assert (await get(registration, h, north))["predecessors"] == [
        {"change": "split", "effective_date": "2021-01-01", "unit_id": commune_id}]


async def test_split_where_one_successor_keeps_the_code(
    tree: Tree, registration: httpx.AsyncClient, admin_headers: dict[str, str],
    unique_code: Callable[[], str],
) -> None:
    commune_id, code = tree.commune["unit_id"], tree.commune["versions"][0]["code"]
    r = await registration.post(f"/v1/units/{commune_id}/split", headers=admin_headers, json={
        "effective_date": "2021-01-01",
        "successors": [
            {"kind": "commune", "subkind": "phuong", "code": code,
             "name": f"Phường Hải Thành {tree.tag}", "parent_id": tree.district["unit_id"]},
            {"kind": "commune", "subkind": "xa", "code": unique_code(),
             "name": f"Xã Tách Ra {tree.tag}", "parent_id": tree.district["unit_id"]}],
        "children": [{"unit_id": tree.village["unit_id"], "successor": 1}]})
    assert r.status_code == 200, r.text
    old = await search(registration, admin_headers, code=code, as_of="2020-12-31")
    new = await search(registration, admin_headers, code=code, as_of="2021-01-01")
    assert ids(old) == {commune_id}
    assert len(new["items"]) == 1 and ids(new) != {commune_id}


# ---------------------------------------------------------------------------------------------
# bulk import

HEADER = ("province_code,province_name,district_code,district_name,commune_code,commune_name,"
          "commune_kind")


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
                   valid_from: str = "2020-01-01") -> httpx.Response:
    return await client.post("/v1/units/import", params={"valid_from": valid_from},
                             content=text.encode(),
                             headers={**headers, "content-type": "text/csv"})


async def test_import_creates_units_once(
    import_file: ImportFile, registration: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    h = admin_headers
    p, d1, d2, c1, c2, c3 = import_file.codes
    r = await post_csv(registration, h, import_file.text)
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["created"], result["unchanged"]) == (6, 0)
    assert set(result["unit_ids_by_code"]) == set(import_file.codes)
    by_code = result["unit_ids_by_code"]

    nodes = await subtree(registration, h, by_code[p], "2020-01-01")
    assert set(nodes) == set(by_code.values())
    assert nodes[by_code[c3]]["parent_id"] == by_code[d2]
    assert [nodes[by_code[c]]["subkind"] for c in (p, d1, d2, c1, c2, c3)] == [
        "tinh", "thanh_pho", "huyen", "phuong", "xa", "thi_tran"]
    assert nodes[by_code[c1]]["name"] == f"Phường Một {import_file.tag}"
    assert ids(await search(registration, h, q=import_file.tag, as_of="2019-12-31")) == set()

    again = await post_csv(registration, h, import_file.text)
    assert again.status_code == 200, again.text
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 6)
    assert again.json()["unit_ids_by_code"] == by_code
    assert len((await search(registration, h, q=import_file.tag, as_of="2020-01-01"))["items"]
               ) == 6


async def test_import_of_a_file_with_bad_rows_lists_them_and_writes_nothing(
    import_file: ImportFile, registration: httpx.AsyncClient, admin_headers: dict[str, str],
    unique_code: Callable[[], str], row_counts: Callable[[], Awaitable[dict[str, int]]],
) -> None:
    import unicodedata

    t = import_file.tag
    p, d1 = import_file.codes[:2]
    nfd = unicodedata.normalize("NFD", f"Xã Đồng Trạch {t}")
    bad_rows = [
        f"{p},Tỉnh Nhập {t},{d1},Thành phố Nhập {t},12a4,Xã Mã Hỏng {t},xa",
        f"{p},Tỉnh Nhập {t},{d1},Thành phố Nhập {t},{unique_code()},{nfd},xa",
        f"{p},Tỉnh Nhập {t},{d1},Thành phố Nhập {t},{unique_code()},Xã Lạ {t},lang",
    ]
    text = import_file.text + "\n".join(bad_rows) + "\n"
    counts = await row_counts()
    r = await post_csv(registration, admin_headers, text)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert [e["field"] for e in body["errors"]] == [
        "row 5: commune_code", "row 6: commune_name", "row 7: commune_kind"]
    assert "numeric" in body["errors"][0]["message"]
    assert "NFC" in body["errors"][1]["message"]
    assert "lang" in body["errors"][2]["message"]
    assert "3 problem" in body["detail"]
    assert await row_counts() == counts
    for code in import_file.codes:
        assert (await search(registration, admin_headers, code=code, as_of="2020-06-01")
                )["items"] == []


async def test_import_refuses_a_wrong_header_and_media_type(
    import_file: ImportFile, registration: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    r = await post_csv(registration, admin_headers,
                       import_file.text.replace("commune_kind", "loai"))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "header"
    r = await registration.post("/v1/units/import", params={"valid_from": "2020-01-01"},
                                json={"rows": []}, headers=admin_headers)
    assert r.status_code == 415, r.text


# ---------------------------------------------------------------------------------------------
# audit


async def test_audit_shows_who_what_before_and_after(
    tree: Tree, stack: TestStack, registration: httpx.AsyncClient,
    admin_headers: dict[str, str],
) -> None:
    unit_id = tree.village["unit_id"]
    registrar = bearer(stack.token(Role.REGISTRAR, unit=uuid.UUID(tree.commune["unit_id"]),
                                   sub="can-bo-xa"))
    r = await registration.post(f"/v1/units/{unit_id}/rename", headers=registrar,
                                json={"name": f"Tổ dân phố 9 {tree.tag}",
                                      "effective_date": "2019-01-01"})
    assert r.status_code == 200, r.text
    r = await registration.post(f"/v1/units/{unit_id}/close", headers=admin_headers,
                                json={"effective_date": "2020-01-01", "reason": "sáp nhập"})
    assert r.status_code == 200, r.text

    r = await registration.get(f"/v1/units/{unit_id}/audit", headers=admin_headers)
    assert r.status_code == 200, r.text
    entries = r.json()
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("unit.register", "admin"), ("unit.rename", "can-bo-xa"), ("unit.close", "admin")]
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

    r = await registration.get(f"/v1/units/{uuid.uuid4()}/audit", headers=admin_headers)
    assert r.status_code == 404
