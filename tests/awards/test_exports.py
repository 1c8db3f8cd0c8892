"""The nominations and awards lists as CSV and XLSX files: the nominations file lists what
``GET /v1/nominations`` lists for the same caller and filters (their subtree only, the export
audited), the public awards file needs no token; Vietnamese headers, numbers and dates as such,
a name written like a formula neutralised."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from chungtay_common.auth import Role
from tests.awards.conftest import DECISION, YEAR, Flow, Json, Tokens, World
from tests.conftest import next_code
from tests.read_tables import ReadTable, table_of
from tests.support import assert_problem, eventually, ok, register_unit

LDTT = "lao_dong_tien_tien"  # individuals; the district chairman grants it
SEARCH_AUDIT = ("SELECT actor, after FROM audit_log WHERE action = 'nomination.search'"
                " AND actor = $1 ORDER BY id")


class Districts:
    """Two districts of the test's own under the world's province, a commune each."""

    def __init__(self, c: uuid.UUID, c_commune: uuid.UUID, d: uuid.UUID,
                 d_commune: uuid.UUID) -> None:
        self.c, self.c_commune, self.d, self.d_commune = c, c_commune, d, d_commune


@pytest.fixture(scope="module")
async def districts(stack: Any, world: World, awards_registration: httpx.AsyncClient,
                    awards_db: asyncpg.Connection, tokens: Tokens) -> Districts:
    tag = uuid.uuid4().hex[:5]
    admin = tokens.admin

    async def unit(kind: str, subkind: str, name: str, parent: uuid.UUID) -> uuid.UUID:
        u = await register_unit(awards_registration, admin, kind=kind, subkind=subkind,
                                name=name, code=next_code(), parent=parent)
        return uuid.UUID(u["unit_id"])

    c = await unit("district", "huyen", f"Huyện Xuất {tag}", world.province)
    c_commune = await unit("commune", "xa", f'=HYPERLINK("http://x.example/{tag}","Xã")', c)
    d = await unit("district", "huyen", f"Huyện Khác {tag}", world.province)
    d_commune = await unit("commune", "xa", f"Xã Khác {tag}", d)
    ids = [c, c_commune, d, d_commune]
    async for attempt in eventually():
        with attempt:
            assert await awards_db.fetchval(
                "SELECT count(*) FROM units WHERE unit_id = ANY($1)", ids) == len(ids)
    return Districts(c, c_commune, d, d_commune)


def person(unit: uuid.UUID, name: str) -> Json:
    return {"kind": "person", "unit_id": str(unit), "name": name, "position": "cán bộ"}


async def nominations_json(awards: httpx.AsyncClient, headers: dict[str, str],
                           **params: Any) -> list[Json]:
    r = await awards.get("/v1/nominations", headers=headers,
                         params={**{k: str(v) for k, v in params.items()}, "limit": 500})
    page: Json = ok(r, 200)
    assert page["total"] == len(page["items"])
    items: list[Json] = page["items"]
    return items


async def nominations_file(awards: httpx.AsyncClient, headers: dict[str, str], fmt: str,
                           **params: Any) -> ReadTable:
    r = await awards.get(f"/v1/exports/nominations.{fmt}", headers=headers,
                         params={k: str(v) for k, v in params.items()})
    assert r.headers["cache-control"] == "no-store"  # personal data: no cache keeps it
    return table_of(r)


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
async def test_the_nominations_file_is_the_callers_list_and_is_audited(
        flow: Flow, tokens: Tokens, districts: Districts, awards: httpx.AsyncClient,
        awards_db: asyncpg.Connection, fmt: str) -> None:
    formula = f'=HYPERLINK("http://evil.example/{uuid.uuid4().hex[:6]}","Nguyễn Văn Bấm")'
    here = await flow.nominate(LDTT, person(districts.c_commune, formula))
    there = await flow.nominate(LDTT, person(districts.d_commune,
                                             f"Lê Thị {uuid.uuid4().hex[:6]}"))
    board = tokens(Role.BOARD, tokens.world.province, f"board-export-{fmt}")
    listed = await nominations_json(awards, board, year=YEAR, unit_id=districts.c)
    t = await nominations_file(awards, board, fmt, year=YEAR, unit_id=districts.c)
    assert t.title == "Danh sách hồ sơ đề nghị khen thưởng"
    for header in ("Năm", "Hình thức khen thưởng", "Đối tượng", "Tên đối tượng", "Đơn vị",
                   "Đơn vị đề nghị", "Trạng thái", "Tóm tắt thành tích", "Số quyết định",
                   "Ngày ký", "Người ký", "Cấp quyết định", "Mã hồ sơ"):
        assert header in t.headers, header
    assert [r["Mã hồ sơ"] for r in t.rows] == [n["nomination_id"] for n in listed]
    row = t.by("Mã hồ sơ")[here["nomination_id"]]
    assert there["nomination_id"] not in t.by("Mã hồ sơ")
    assert row["Tên đối tượng"] == "'" + formula  # shown as text, not a live link
    assert row["Đơn vị"].startswith("'=HYPERLINK(")  # the commune's name too
    assert row["Đối tượng"] == "Cá nhân" and row["Trạng thái"] == "Dự thảo"
    assert row["Hình thức khen thưởng"] == "Lao động tiên tiến"
    assert row["Năm"] == (YEAR if fmt == "xlsx" else str(YEAR))
    if fmt == "xlsx":
        assert isinstance(row["Ngày lập"], datetime) and t.formats["Năm"] == "#,##0"
    assert t.about["Số hồ sơ"] in (len(listed), str(len(listed)))
    assert t.about["Lưu ý"].startswith("Tài liệu có thông tin cá nhân")

    # a caller of the other district gets its own dossiers only, and not this district's
    other = tokens(Role.COUNCIL, districts.d, f"council-d-{fmt}")
    t = await nominations_file(awards, other, fmt, year=YEAR)
    ids = {r["Mã hồ sơ"] for r in t.rows}
    assert there["nomination_id"] in ids and here["nomination_id"] not in ids
    assert ids == {n["nomination_id"] for n in await nominations_json(awards, other,
                                                                       year=YEAR)}
    r = await awards.get(f"/v1/exports/nominations.{fmt}", headers=other,
                         params={"unit_id": str(districts.c)})
    assert_problem(r, 403)
    assert (await awards.get(f"/v1/exports/nominations.{fmt}")).status_code == 401
    # a filter's text is echoed in the title block, even one XML cannot hold as it is
    odd = await nominations_file(awards, other, fmt, form_code="x\x19y")
    assert odd.rows == [] and odd.about["Hình thức khen thưởng"] in ("x\ufffdy", "x\x19y")

    # each export is in the audit log, as the list is: who, which query, how many dossiers
    audit = await awards_db.fetch(SEARCH_AUDIT, f"council-d-{fmt}")
    assert len(audit) == 3  # the file, the JSON list, the file of another form
    assert audit[0]["after"]["year"] == YEAR and audit[0]["after"]["total"] == len(ids)
    board_audit = await awards_db.fetch(SEARCH_AUDIT, f"board-export-{fmt}")
    assert [a["after"]["unit_id"] for a in board_audit] == [str(districts.c)] * 2


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
async def test_the_public_awards_file_needs_no_token(
        flow: Flow, tokens: Tokens, districts: Districts, awards: httpx.AsyncClient,
        fmt: str) -> None:
    name = f'+Trần Văn {uuid.uuid4().hex[:6]}'
    n = await flow.nominate(LDTT, person(districts.c_commune, name))
    reporter = tokens.reporter(districts.c_commune)
    n = await flow.take(n, "submit", reporter)
    n = await flow.take(n, "review", tokens(Role.COUNCIL, districts.c, "council-c"), {
        "votes_for": 7, "votes_against": 1, "votes_abstain": 1, "members": 9,
        "comment": "Hội đồng nhất trí"})
    n = await flow.appraise(n)
    n = await flow.take(n, "approve", tokens.chairman(districts.c), DECISION)
    listed = ok(await awards.get("/v1/awards", params={"year": YEAR}), 200)
    t = table_of(await awards.get(f"/v1/exports/awards.{fmt}", params={"year": YEAR}))
    assert t.title == f"Danh sách khen thưởng năm {YEAR}"
    assert len(t.rows) == len(listed)
    assert [r["Tên"] for r in t.rows] == [
        ("'" + a["nominee_name"]) if a["nominee_name"][:1] in "=+-@" else a["nominee_name"]
        for a in listed]
    row = next(r for r in t.rows if r["Tên"] == "'" + name)
    assert row["Hình thức khen thưởng"] == "Lao động tiên tiến"
    assert row["Số quyết định"] == DECISION["number"]
    assert row["Người ký"] == DECISION["signer"]
    assert row["Cấp quyết định"] == "Chủ tịch UBND huyện"
    signed = date.fromisoformat(DECISION["signed_on"])
    if fmt == "xlsx":
        assert row["Ngày ký"] == datetime(signed.year, signed.month, signed.day)
        assert t.formats["Ngày ký"] == "dd/mm/yyyy"
    else:
        assert row["Ngày ký"] == DECISION["signed_on"]
    assert t.about["Số khen thưởng"] in (len(listed), str(len(listed)))
    r = await awards.get(f"/v1/exports/awards.{fmt}", params={"year": 1800})
    assert_problem(r, 422, "query.year")
