"""Use cases of services/registration/service.py on the real PostgreSQL, each test inside a
transaction rolled back at its end. No Kafka: an event stops in the outbox, in the same
transaction as the change."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from chungtay_common import clock, hierarchy
from chungtay_common.auth import Role
from chungtay_common.context import Context
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.errors import Forbidden, InvalidInput
from chungtay_common.refusals import RuleBroken, StateConflict
from services.registration import schemas, service
from services.registration.imports import IMPORT_COLUMNS
from tests.conftest import next_code
from tests.support import context

Conn = asyncpg.Connection
SUBKINDS = {"province": "tinh", "district": "huyen", "commune": "xa", "village": "thon"}


def tag() -> str:
    """A suffix that makes a name unique to one test (letters only, so it folds to itself)."""
    return "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:8])


def day(iso: str) -> date:
    return date.fromisoformat(iso)


@pytest.fixture
def admin() -> Context:
    return context(Role.ADMIN, sub="admin")


async def add(conn: Conn, ctx: Context, kind: str, name: str, parent: schemas.UnitOut | None = None,
              **fields: Any) -> schemas.UnitOut:
    """Register a unit from 2017-01-01 with a fresh code (none for a village)."""
    body: dict[str, Any] = {
        "kind": kind, "subkind": SUBKINDS[kind], "name": name, "valid_from": "2017-01-01",
        "code": None if kind == "village" else next_code(),
        "parent_id": parent.unit_id if parent else None, **fields}
    return await service.register(conn, ctx, schemas.NewUnit(**body))


def new_commune(name: str, parent: schemas.UnitOut, **fields: Any) -> schemas.NewSuccessor:
    return schemas.NewSuccessor(**{"kind": "commune", "subkind": "xa", "code": next_code(),
                           "name": name, "parent_id": parent.unit_id, **fields})


@dataclass
class Tree:
    province: schemas.UnitOut
    district: schemas.UnitOut
    commune: schemas.UnitOut
    village: schemas.UnitOut
    tag: str


@pytest.fixture(scope="module")
async def tree(registration_db: asyncpg.Connection) -> Tree:
    """Province → district → commune → village, all from 2017-01-01, with unique names:
    registered once for the module, so that what a test changes in it is rolled back with the
    test."""
    conn, admin = registration_db, context(Role.ADMIN, sub="admin")
    t = tag()
    province = await add(conn, admin, "province", f"Tỉnh Thử {t}")
    district = await add(conn, admin, "district", f"Thành phố Đồng Hới {t}", province,
                         subkind="thanh_pho")
    commune = await add(conn, admin, "commune", f"Phường Hải Thành {t}", district,
                        subkind="phuong")
    village = await add(conn, admin, "village", f"Tổ dân phố 1 {t}", commune,
                        subkind="to_dan_pho")
    return Tree(province, district, commune, village, t)


async def search(conn: Conn, as_of: str | None, limit: int = 500, offset: int = 0,
                 **query: Any) -> schemas.UnitPage:
    args: dict[str, Any] = {"code": None, "q": None, "kind": None, "parent_id": None, **query}
    on = day(as_of) if as_of is not None else None
    return await service.search(conn, on, limit=limit, offset=offset, **args)


async def found(conn: Conn, as_of: str, **query: Any) -> set[uuid.UUID]:
    """The ids of the units a search finds (every test's result fits one page)."""
    page = await search(conn, as_of, **query)
    assert page.total == len(page.items)
    return {item.unit_id for item in page.items}


async def subtree(conn: Conn, root: schemas.UnitOut, as_of: str) -> dict[uuid.UUID, Any]:
    return {n.unit_id: n for n in (await service.subtree(conn, root.unit_id, day(as_of))).nodes}


async def events(conn: Conn, subject: schemas.UnitOut | uuid.UUID) -> list[str]:
    key = subject.unit_id if isinstance(subject, schemas.UnitOut) else subject
    rows = await conn.fetch("SELECT event_type FROM outbox WHERE key = $1 ORDER BY id", str(key))
    return [r["event_type"] for r in rows]


# ---------------------------------------------------------------------------------------------
# register and read


async def test_register_the_four_levels(conn: Conn, tree: Tree) -> None:
    assert tree.province.kind == "province" and tree.province.versions[0].parent_id is None
    for child, parent in [(tree.district, tree.province), (tree.commune, tree.district),
                          (tree.village, tree.commune)]:
        assert child.revision == 1
        [v] = child.versions
        assert v.parent_id == parent.unit_id
        assert v.valid_from == day("2017-01-01") and v.valid_to is None
    assert tree.village.versions[0].code is None
    unit = await service.get_unit(conn, tree.commune.unit_id)
    assert unit == tree.commune
    assert unit.versions[0].name == f"Phường Hải Thành {tree.tag}"
    assert unit.versions[0].subkind == "phuong"
    assert unit.predecessors == [] and unit.successors == []
    assert await events(conn, tree.commune) == ["unit.registered"]
    [entry] = await service.history(conn, context(Role.ADMIN), tree.commune.unit_id)
    assert (entry.action, entry.actor, entry.before) == ("unit.register", "admin", None)


async def test_a_unit_needs_the_parent_its_kind_sits_under(conn: Conn, admin: Context,
                                                          tree: Tree) -> None:
    with pytest.raises(RuleBroken) as info:
        await add(conn, admin, "commune", "Xã Mồ Côi")
    assert info.value.field == "parent_id" and "needs a parent" in info.value.message
    nowhere = uuid.uuid4()
    with pytest.raises(RuleBroken) as info:
        await add(conn, admin, "commune", "Xã Lạc", parent_id=nowhere)
    assert info.value.field == "parent_id" and str(nowhere) in info.value.message
    with pytest.raises(RuleBroken) as info:
        await add(conn, admin, "commune", "Xã Dưới Thôn", tree.village)
    assert info.value.field == "parent_id"
    assert "cannot sit under a village" in info.value.message
    with pytest.raises(RuleBroken) as info:  # a province has no parent
        await add(conn, admin, "province", "Tỉnh Con", tree.district)
    assert info.value.field == "parent_id"


@pytest.mark.parametrize("valid_to", ["2017-01-01", "2016-06-01"])
async def test_inverted_dates(conn: Conn, admin: Context, tree: Tree, valid_to: str) -> None:
    with pytest.raises(RuleBroken) as info:
        await add(conn, admin, "commune", "Xã Ngược", tree.district, valid_to=valid_to)
    assert info.value.field == "valid_to"


async def test_a_child_lives_within_its_parents_lifetime(conn: Conn, admin: Context) -> None:
    province = await add(conn, admin, "province", "Tỉnh Ngắn", valid_to="2020-01-01")
    for dates in ({"valid_from": "2016-06-01"},  # starts before the parent
                  {"valid_from": "2018-01-01"},  # outlives the parent (open end)
                  {"valid_from": "2018-01-01", "valid_to": "2021-01-01"}):
        with pytest.raises(RuleBroken) as info:
            await add(conn, admin, "district", "Huyện Ngoài", province, **dates)
        assert info.value.field == "parent_id" and "does not cover" in info.value.message
    await add(conn, admin, "district", "Huyện Trong", province, valid_from="2018-01-01",
              valid_to="2020-01-01")


async def test_a_code_is_held_by_one_unit_at_a_time(conn: Conn, admin: Context,
                                                    tree: Tree) -> None:
    code = next_code()
    old = await add(conn, admin, "commune", "Xã Cũ", tree.district, code=code,
                    valid_to="2021-01-01")
    with pytest.raises(StateConflict) as info:
        await add(conn, admin, "commune", "Xã Trùng", tree.district, code=code,
                  valid_from="2020-12-31")
    assert code in info.value.message and str(old.unit_id) in info.value.message
    new = await add(conn, admin, "commune", "Xã Mới", tree.district, code=code,
                    valid_from="2021-01-01")
    assert await found(conn, "2020-12-31", code=code) == {old.unit_id}
    assert await found(conn, "2021-01-01", code=code) == {new.unit_id}


async def test_search_by_code_name_kind_and_parent(conn: Conn, tree: Tree) -> None:
    t = tree.tag
    assert await found(conn, "2020-01-01", code=tree.district.versions[0].code) == {
        tree.district.unit_id}
    for q in (f"Dong Hoi {t}", f"đồng hới {t}", f"THÀNH PHỐ ĐỒNG HỚI {t}"):
        assert await found(conn, "2020-01-01", q=q) == {tree.district.unit_id}, q
    # part of a name, without diacritics, finds every unit whose name holds it
    assert await found(conn, "2020-01-01", q=t) == {
        tree.province.unit_id, tree.district.unit_id, tree.commune.unit_id,
        tree.village.unit_id}
    assert await found(conn, "2020-01-01", q=t, kind=UnitKind.COMMUNE) == {tree.commune.unit_id}
    assert await found(conn, "2020-01-01", parent_id=tree.district.unit_id) == {
        tree.commune.unit_id}
    assert await found(conn, "2020-01-01", q=f"Hai Thanh {t}") == {tree.commune.unit_id}
    # the wildcards of LIKE are plain characters in a query
    assert await found(conn, "2020-01-01", q=f"%{t}") == set()


async def test_search_before_valid_from_finds_nothing(conn: Conn, tree: Tree) -> None:
    assert await found(conn, "2016-12-31", q=tree.tag) == set()
    assert len(await found(conn, "2017-01-01", q=tree.tag)) == 4
    assert await found(conn, "2016-12-31", code=tree.province.versions[0].code) == set()


async def test_search_pages_and_defaults_to_today(conn: Conn, admin: Context) -> None:
    t = tag()
    for i in range(3):
        await add(conn, admin, "province", f"Tỉnh Trang {i} {t}")
    page = await search(conn, "2018-01-01", q=t, limit=2, offset=2)
    assert (page.total, len(page.items), page.offset) == (3, 1, 2)
    with clock.frozen(datetime(2016, 12, 31, 17, 30, tzinfo=UTC)):  # 2017-01-01 in Vietnam
        page = await search(conn, None, q=t, limit=2)
    assert (page.as_of, page.total, len(page.items)) == (day("2017-01-01"), 3, 2)


async def test_subtree_as_of(conn: Conn, admin: Context, tree: Tree) -> None:
    later = await add(conn, admin, "commune", f"Xã Mới Lập {tree.tag}", tree.district,
                      valid_from="2019-01-01")
    nodes = await subtree(conn, tree.province, "2018-06-01")
    assert [nodes[u.unit_id].depth for u in
            (tree.province, tree.district, tree.commune, tree.village)] == [0, 1, 2, 3]
    assert set(nodes) == {tree.province.unit_id, tree.district.unit_id, tree.commune.unit_id,
                          tree.village.unit_id}
    nodes = await subtree(conn, tree.district, "2019-01-01")
    assert later.unit_id in nodes and tree.province.unit_id not in nodes
    assert nodes[later.unit_id].depth == 1


# ---------------------------------------------------------------------------------------------
# changes


async def test_rename_from_a_date(conn: Conn, admin: Context, tree: Tree) -> None:
    unit_id, t = tree.commune.unit_id, tree.tag
    new_name = f"Phường Hải Thành Mới {t}"
    unit = await service.rename(conn, admin, unit_id,
                                schemas.Rename(name=new_name, effective_date=day("2019-07-01")))
    assert unit.revision == 2
    assert [(str(v.valid_from), v.valid_to and str(v.valid_to), v.name) for v in unit.versions
            ] == [("2017-01-01", "2019-07-01", f"Phường Hải Thành {t}"),
                  ("2019-07-01", None, new_name)]
    assert await service.get_unit(conn, unit_id) == unit
    code = unit.versions[0].code
    for as_of, name in (("2019-06-30", f"Phường Hải Thành {t}"), ("2019-07-01", new_name)):
        assert [i.name for i in (await search(conn, as_of, code=code)).items] == [name]
    assert await found(conn, "2019-06-30", q=f"hai thanh moi {t}") == set()
    assert await events(conn, unit_id) == ["unit.registered", "unit.renamed"]


async def test_a_registrar_acts_in_the_subtree_of_its_unit(conn: Conn, tree: Tree) -> None:
    registrar = context(Role.REGISTRAR, unit=tree.district.unit_id, sub="lan")
    await service.rename(conn, registrar, tree.village.unit_id,
                         schemas.Rename(name=f"Tổ dân phố 2 {tree.tag}",
                                        effective_date=day("2018-01-01")))
    with pytest.raises(Forbidden):  # the province is above it
        await service.rename(conn, registrar, tree.province.unit_id,
                             schemas.Rename(name="Tỉnh Đổi Tên", effective_date=day("2018-01-01")))
    viewer = context(Role.VIEWER, unit=tree.district.unit_id)
    with pytest.raises(Forbidden):
        await add(conn, viewer, "commune", "Xã Khách", tree.district)


async def test_a_unit_abolished_since_holds_no_authority(
    conn: Conn, admin: Context, tree: Tree,
) -> None:
    """Its registrar's token outlives the district: judged on the day of the action, it may
    change nothing, not even in the years the district existed."""
    gone = await add(conn, admin, "district", "Huyện Cũ", tree.province, valid_to="2025-07-01")
    commune = await add(conn, admin, "commune", "Xã Cũ", gone, valid_to="2025-07-01")
    registrar = context(Role.REGISTRAR, unit=gone.unit_id)
    with pytest.raises(Forbidden, match="does not exist on"):
        await add(conn, registrar, "village", "Thôn Cũ", commune, valid_to="2020-01-01")
    with pytest.raises(Forbidden, match="does not exist on"):
        await service.rename(conn, registrar, commune.unit_id,
                             schemas.Rename(name="Xã Đổi", effective_date=day("2018-01-01")))


async def test_a_units_history_is_read_in_scope_and_the_read_is_audited(
    conn: Conn, admin: Context, tree: Tree,
) -> None:
    """The history names the officials who made each change: the caller's subtree only."""
    other = await add(conn, admin, "district", "Huyện Khác", tree.province)
    with pytest.raises(Forbidden):
        await service.history(conn, context(Role.VIEWER, unit=other.unit_id),
                              tree.commune.unit_id)
    reader = context(Role.VIEWER, unit=tree.district.unit_id, sub="reader")
    [entry] = await service.history(conn, reader, tree.commune.unit_id)
    assert entry.action == "unit.register"
    read = await conn.fetchrow("SELECT action, entity_type, entity_id, actor_unit_id"
                               " FROM audit_log WHERE actor = 'reader'")
    assert read is not None and dict(read) == {
        "action": "unit.history_read", "entity_type": "unit_history",
        "entity_id": str(tree.commune.unit_id), "actor_unit_id": tree.district.unit_id}
    # the read is filed apart: the unit's history still lists its changes only
    assert len(await service.history(conn, admin, tree.commune.unit_id)) == 1


async def test_a_backdated_change_cannot_reach_a_time_the_unit_was_in_another_subtree(
    conn: Conn, admin: Context, tree: Tree,
) -> None:
    a = tree.district
    b = await add(conn, admin, "district", "Huyện B", tree.province)
    commune = await add(conn, admin, "commune", "Xã Chuyển", a)
    village = await add(conn, admin, "village", "Thôn Một", commune)
    await service.move(conn, admin, commune.unit_id,
                       schemas.Move(parent_id=b.unit_id, effective_date=day("2020-01-01")))
    a_registrar = context(Role.REGISTRAR, unit=a.unit_id)
    # the village is in A's subtree until 2019 only: a rename from then on would reach 2020+
    for when in ("2024-01-01", "2019-12-31", "2018-06-01"):
        with pytest.raises(Forbidden):
            await service.rename(conn, a_registrar, village.unit_id,
                                 schemas.Rename(name="Thôn Đổi", effective_date=day(when)))
    with pytest.raises(Forbidden):
        await add(conn, a_registrar, "village", "Thôn Mới", commune, valid_from="2019-12-31")
    # within its own years it may: a village that existed only in 2017-2019
    await add(conn, a_registrar, "village", "Thôn Cũ", commune, valid_to="2020-01-01")
    # and B's registrar may rename the village from 2020 on
    b_registrar = context(Role.REGISTRAR, unit=b.unit_id)
    await service.rename(conn, b_registrar, village.unit_id,
                         schemas.Rename(name="Thôn Đổi", effective_date=day("2021-01-01")))


async def test_the_scope_check_refuses_more_ancestries_than_it_may_check(
    conn: Conn, admin: Context, tree: Tree,
) -> None:
    """Past its limit the check refuses: a partial list would leave the later versions of the
    hierarchy unchecked (the limit is 1,000; lowered here)."""
    a = tree.district
    b = await add(conn, admin, "district", "Huyện B", tree.province)
    commune = await add(conn, admin, "commune", "Xã Đi Về", a)
    for parent, when in ((b, "2020-01-01"), (a, "2021-01-01")):
        await service.move(conn, admin, commune.unit_id,
                           schemas.Move(parent_id=parent.unit_id, effective_date=day(when)))
    chains = await hierarchy.ancestries(conn, commune.unit_id, day("2018-01-01"), None, limit=3)
    assert [chain[1] for chain in chains] == [a.unit_id, b.unit_id, a.unit_id]
    assert len(await hierarchy.ancestries(conn, commune.unit_id, day("2018-01-01"),
                                          day("2020-06-01"), limit=2)) == 2
    with pytest.raises(StateConflict) as info:
        await hierarchy.ancestries(conn, commune.unit_id, day("2018-01-01"), None, limit=2)
    assert info.value.message == ("the change reaches too many versions of the hierarchy to "
                                  "check its scope (more than 2)")
    assert len(await hierarchy.ancestries(conn, commune.unit_id, day("2018-01-01"), None)) == 3


async def test_move_from_a_date(conn: Conn, admin: Context, tree: Tree) -> None:
    other = await add(conn, admin, "commune", f"Xã Bên Cạnh {tree.tag}", tree.district)
    village_id = tree.village.unit_id
    unit = await service.move(conn, admin, village_id, schemas.Move(
        parent_id=other.unit_id, effective_date=day("2020-01-01")))
    assert [(str(v.valid_from), v.parent_id) for v in unit.versions] == [
        ("2017-01-01", tree.commune.unit_id), ("2020-01-01", other.unit_id)]
    assert village_id in await subtree(conn, tree.commune, "2019-12-31")
    assert village_id not in await subtree(conn, tree.commune, "2020-01-01")
    assert await found(conn, "2020-01-01", parent_id=other.unit_id) == {village_id}
    assert await events(conn, village_id) == ["unit.registered", "unit.moved"]
    with pytest.raises(RuleBroken) as info:  # a village cannot sit under a district
        await service.move(conn, admin, village_id, schemas.Move(parent_id=tree.district.unit_id,
                                                         effective_date=day("2021-01-01")))
    assert info.value.field == "parent_id"


async def test_close_is_refused_while_children_remain(conn: Conn, admin: Context,
                                                      tree: Tree) -> None:
    commune_id, village_id = tree.commune.unit_id, tree.village.unit_id
    close = schemas.Close(effective_date=day("2020-01-01"), reason="giải thể")
    with pytest.raises(StateConflict) as info:
        await service.close(conn, admin, commune_id, close)
    assert "child" in info.value.message
    assert (await service.get_unit(conn, commune_id)).revision == 1
    await service.close(conn, admin, village_id, close)
    unit = await service.close(conn, admin, commune_id, close)
    assert unit.versions[-1].valid_to == day("2020-01-01")
    assert await found(conn, "2019-12-31", q=tree.tag) >= {commune_id, village_id}
    assert await found(conn, "2020-01-01", q=tree.tag) == {tree.province.unit_id,
                                                          tree.district.unit_id}
    assert await events(conn, commune_id) == ["unit.registered", "unit.closed"]
    with pytest.raises(StateConflict):
        await service.close(conn, admin, commune_id,
                            schemas.Close(effective_date=day("2021-01-01"), reason="again"))


# ---------------------------------------------------------------------------------------------
# merges and splits


async def test_merge_two_communes_into_a_new_one(conn: Conn, admin: Context, tree: Tree) -> None:
    t = tree.tag
    a, va = tree.commune, tree.village
    b = await add(conn, admin, "commune", f"Xã Bảo Ninh {t}", tree.district)
    vb = await add(conn, admin, "village", f"Thôn Cừa {t}", b)
    result = await service.merge(conn, admin, schemas.Merge(
        predecessor_ids=[a.unit_id, b.unit_id], effective_date=day("2025-07-01"),
        # the district level is gone from 2025-07-01: the new commune sits under the province
        successor=new_commune(f"Phường Đồng Hới Mới {t}", tree.province, subkind="phuong")))
    changed = {u.unit_id: u for u in result.units}
    [c_id] = set(changed) - {a.unit_id, b.unit_id, va.unit_id, vb.unit_id}
    assert set(changed) == {a.unit_id, b.unit_id, va.unit_id, vb.unit_id, c_id}

    before = await subtree(conn, tree.province, "2025-06-30")
    after = await subtree(conn, tree.province, "2025-07-01")
    assert {a.unit_id, b.unit_id} <= set(before) and c_id not in before
    assert c_id in after and not {a.unit_id, b.unit_id} & set(after)
    assert before[va.unit_id].parent_id == a.unit_id
    assert before[vb.unit_id].parent_id == b.unit_id
    assert after[va.unit_id].parent_id == c_id and after[vb.unit_id].parent_id == c_id
    assert after[c_id].depth == 1 and after[va.unit_id].depth == 2
    assert await found(conn, "2025-06-30", q=t, kind=UnitKind.COMMUNE) == {a.unit_id, b.unit_id}
    assert await found(conn, "2025-07-01", q=t, kind=UnitKind.COMMUNE) == {c_id}

    for pred in (a, b):
        unit = await service.get_unit(conn, pred.unit_id)
        assert unit.versions[-1].valid_to == day("2025-07-01")
        assert [(s.change, s.effective_date, s.unit_id) for s in unit.successors] == [
            ("merge", day("2025-07-01"), c_id)]
    successor = await service.get_unit(conn, c_id)
    assert successor.versions[0].valid_from == day("2025-07-01")
    assert {p.unit_id for p in successor.predecessors} == {a.unit_id, b.unit_id}
    village = await service.get_unit(conn, va.unit_id)
    assert [(v.valid_to, v.parent_id) for v in village.versions] == [
        (day("2025-07-01"), a.unit_id), (None, c_id)]
    assert await events(conn, c_id) == ["unit.merged"]


async def test_merge_into_a_new_unit_that_reuses_a_predecessors_code(
    conn: Conn, admin: Context, tree: Tree,
) -> None:
    """In 2025 merged communes usually kept the code of one of them (see DOMAIN.md)."""
    a = tree.commune
    b = await add(conn, admin, "commune", f"Xã Lộc Ninh {tree.tag}", tree.district)
    code = a.versions[0].code
    await service.merge(conn, admin, schemas.Merge(
        predecessor_ids=[a.unit_id, b.unit_id], effective_date=day("2025-07-01"),
        successor=new_commune(f"Phường Đồng Hới {tree.tag}", tree.province, code=code)))
    assert await found(conn, "2025-06-30", code=code) == {a.unit_id}
    [new] = await found(conn, "2025-07-01", code=code)
    assert new != a.unit_id
    assert (await service.get_unit(conn, new)).versions[0].name == f"Phường Đồng Hới {tree.tag}"


async def test_merge_into_an_existing_unit(conn: Conn, admin: Context, tree: Tree) -> None:
    a, va = tree.commune, tree.village
    b = await add(conn, admin, "commune", f"Xã Nghĩa Ninh {tree.tag}", tree.district)
    result = await service.merge(conn, admin, schemas.Merge(
        predecessor_ids=[a.unit_id], effective_date=day("2020-01-01"),
        successor=schemas.ExistingUnit(unit_id=b.unit_id)))
    assert {u.unit_id for u in result.units} == {a.unit_id, b.unit_id, va.unit_id}
    kept = await service.get_unit(conn, b.unit_id)
    assert kept.versions == b.versions  # the successor itself is unchanged
    assert [(p.change, p.unit_id) for p in kept.predecessors] == [("merge", a.unit_id)]
    gone = await service.get_unit(conn, a.unit_id)
    assert gone.versions[-1].valid_to == day("2020-01-01")
    assert gone.successors[0].unit_id == b.unit_id
    assert await found(conn, "2020-01-01", parent_id=b.unit_id) == {va.unit_id}
    assert await found(conn, "2019-12-31", parent_id=a.unit_id) == {va.unit_id}


async def test_merge_refusals_name_the_field(conn: Conn, admin: Context, tree: Tree) -> None:
    b = await add(conn, admin, "commune", "Xã Đóng", tree.district, valid_to="2030-01-01")
    cases: list[tuple[schemas.Merge, str]] = [
        (schemas.Merge(predecessor_ids=[tree.commune.unit_id], effective_date=day("2020-01-01"),
               successor=schemas.ExistingUnit(unit_id=b.unit_id)), "successor.unit_id"),
        (schemas.Merge(predecessor_ids=[tree.commune.unit_id, uuid.uuid4()],
               effective_date=day("2020-01-01"),
               successor=schemas.ExistingUnit(unit_id=b.unit_id)), "predecessor_ids"),
        (schemas.Merge(predecessor_ids=[tree.commune.unit_id, b.unit_id],
               effective_date=day("2020-01-01"),
               successor=new_commune(" Xã Ghép", tree.district)),
         "successor.name"),
    ]
    for change, field in cases:
        with pytest.raises(RuleBroken) as info:
            await service.merge(conn, admin, change)
        assert info.value.field == field


async def test_split_with_children_mapping(conn: Conn, admin: Context, tree: Tree) -> None:
    t = tree.tag
    commune_id, v1 = tree.commune.unit_id, tree.village.unit_id
    await add(conn, admin, "village", f"Thôn Hai {t}", tree.commune)  # left without a successor
    successors: list[schemas.Successor] = [
        new_commune(f"Xã Bắc {t}", tree.district), new_commune(f"Xã Nam {t}", tree.district)]
    with pytest.raises(RuleBroken) as info:  # every child must go somewhere when it closes
        await service.split(conn, admin, commune_id, schemas.Split(
            effective_date=day("2021-01-01"), successors=successors,
            children=[schemas.ChildMove(unit_id=v1, successor=0)]))
    assert info.value.field == "children"


async def test_split_moves_children_to_their_successors(conn: Conn, admin: Context,
                                                        tree: Tree) -> None:
    t = tree.tag
    commune_id, v1 = tree.commune.unit_id, tree.village.unit_id
    v2 = (await add(conn, admin, "village", f"Thôn Hai {t}", tree.commune)).unit_id
    await service.split(conn, admin, commune_id, schemas.Split(
        effective_date=day("2021-01-01"),
        successors=[new_commune(f"Xã Bắc {t}", tree.district),
                    new_commune(f"Xã Nam {t}", tree.district)],
        children=[schemas.ChildMove(unit_id=v1, successor=0),
                  schemas.ChildMove(unit_id=v2, successor=1)]))
    [north] = await found(conn, "2021-01-01", q=f"xa bac {t}")
    [south] = await found(conn, "2021-01-01", q=f"xa nam {t}")
    after = await subtree(conn, tree.district, "2021-01-01")
    assert commune_id not in after
    assert after[v1].parent_id == north and after[v2].parent_id == south
    before = await subtree(conn, tree.district, "2020-12-31")
    assert before[v1].parent_id == commune_id and before[v2].parent_id == commune_id
    assert north not in before and south not in before
    pred = await service.get_unit(conn, commune_id)
    assert pred.versions[-1].valid_to == day("2021-01-01")
    assert {(s.change, s.unit_id) for s in pred.successors} == {("split", north),
                                                                 ("split", south)}
    assert [(p.change, p.effective_date, p.unit_id)
            for p in (await service.get_unit(conn, north)).predecessors] == [
        ("split", day("2021-01-01"), commune_id)]
    assert await events(conn, commune_id) == ["unit.registered", "unit.split"]


async def test_split_where_one_successor_keeps_the_code(conn: Conn, admin: Context,
                                                        tree: Tree) -> None:
    commune_id, code = tree.commune.unit_id, tree.commune.versions[0].code
    await service.split(conn, admin, commune_id, schemas.Split(
        effective_date=day("2021-01-01"),
        successors=[new_commune(f"Phường Hải Thành {tree.tag}", tree.district, code=code),
                    new_commune(f"Xã Tách Ra {tree.tag}", tree.district)],
        children=[schemas.ChildMove(unit_id=tree.village.unit_id, successor=1)]))
    assert await found(conn, "2020-12-31", code=code) == {commune_id}
    [new] = await found(conn, "2021-01-01", code=code)
    assert new != commune_id


async def test_split_refusals_name_the_successor(conn: Conn, admin: Context,
                                                 tree: Tree) -> None:
    other = await add(conn, admin, "commune", "Xã Khác", tree.district)
    existing = [schemas.ExistingUnit(unit_id=u.unit_id)
                for u in (tree.commune, other, tree.district)]
    cases: list[tuple[list[schemas.Successor], str]] = [
        ([existing[0]], "successors.0.unit_id"),
        ([existing[1], existing[2]], "successors.1.kind"),
        ([new_commune("Xã  Lạ", tree.district)], "successors.0.name"),
        ([existing[1], existing[1]], "successors"),
    ]
    for successors, field in cases:
        with pytest.raises(RuleBroken) as info:
            await service.split(conn, admin, tree.commune.unit_id, schemas.Split(
                effective_date=day("2021-01-01"), successors=successors,
                close_predecessor=False))
        assert info.value.field == field


# ---------------------------------------------------------------------------------------------
# bulk import


def national_list(t: str, codes: list[str]) -> str:
    p, d1, d2, c1, c2, c3 = codes
    rows = [
        f"{p},Tỉnh Nhập {t},{d1},Thành phố Nhập {t},{c1},Phường Một {t},phuong",
        f"{p},Tỉnh Nhập {t},{d1},Thành phố Nhập {t},{c2},Xã Hai {t},xa",
        f"{p},Tỉnh Nhập {t},{d2},Huyện Nhập {t},{c3},Thị trấn Ba {t},thi_tran",
    ]
    return "\n".join([",".join(IMPORT_COLUMNS), *rows]) + "\n"


async def test_import_creates_units_once(conn: Conn, admin: Context) -> None:
    t, codes = tag(), [next_code() for _ in range(6)]
    p, d1, d2, c1, c2, c3 = codes
    result = await service.import_units(conn, admin, national_list(t, codes),
                                        day("2020-01-01"), max_rows=10)
    assert (result.created, result.unchanged) == (6, 0)
    by_code = result.unit_ids_by_code
    assert set(by_code) == set(codes)
    nodes = await service.subtree(conn, by_code[p], day("2020-01-01"))
    by_id = {n.unit_id: n for n in nodes.nodes}
    assert set(by_id) == set(by_code.values())
    assert by_id[by_code[c3]].parent_id == by_code[d2]
    assert [by_id[by_code[c]].subkind for c in (p, d1, d2, c1, c2, c3)] == [
        "tinh", "thanh_pho", "huyen", "phuong", "xa", "thi_tran"]
    assert by_id[by_code[c1]].name == f"Phường Một {t}"
    assert await found(conn, "2019-12-31", q=t) == set()
    assert await events(conn, by_code[c1]) == ["unit.registered"]

    again = await service.import_units(conn, admin, national_list(t, codes),
                                       day("2020-01-01"), max_rows=10)
    assert (again.created, again.unchanged) == (0, 6)
    assert again.unit_ids_by_code == by_code
    assert len(await found(conn, "2020-01-01", q=t)) == 6


async def test_import_refuses_a_code_registered_for_another_unit(
    conn: Conn, admin: Context,
) -> None:
    t, codes = tag(), [next_code() for _ in range(6)]
    await add(conn, admin, "province", f"Tỉnh Khác {t}", code=codes[0])
    with pytest.raises(InvalidInput) as info:
        await service.import_units(conn, admin, national_list(t, codes), day("2020-01-01"),
                                   max_rows=10)
    [error] = info.value.errors
    assert error.field == "row 2: province_code" and "Tỉnh Khác" in error.message


async def test_import_names_the_row_of_a_unit_that_breaks_a_rule(
    conn: Conn, admin: Context,
) -> None:
    t, codes = tag(), [next_code() for _ in range(6)]
    # the province ends before the import's date: its districts cannot sit under it
    await add(conn, admin, "province", f"Tỉnh Nhập {t}", code=codes[0], valid_to="2020-06-01")
    with pytest.raises(RuleBroken) as info:
        await service.import_units(conn, admin, national_list(t, codes), day("2020-01-01"),
                                   max_rows=10)
    assert info.value.field == "row 2: parent_id" and "does not cover" in info.value.message


async def test_a_name_typed_decomposed_is_renamed_to_in_nfc(conn: Conn, admin: Context,
                                                             tree: Tree) -> None:
    nfd = unicodedata.normalize("NFD", "Xã Đồng Trạch")
    renamed = await service.rename(conn, admin, tree.commune.unit_id,
                                   schemas.Rename(name=nfd, effective_date=day("2020-01-01")))
    assert renamed.versions[-1].name == "Xã Đồng Trạch"
    found = await service.search(conn, day("2020-06-01"), code=None, q="dong trach", kind=None,
                                 parent_id=None, limit=10, offset=0)
    assert tree.commune.unit_id in [u.unit_id for u in found.items]
