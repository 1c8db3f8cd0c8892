"""The Board's papers over HTTP on the real stack: the proposal and the draft decision list
exactly the nominations appraised as eligible for a level and year, the annex is grouped as
collectives, individuals and households, the certificates are one PDF page per awardee of an
approved decision, the wording is a template the board edits, scope and audit."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import asyncpg
import httpx
from docx import Document

from chungtay_common.auth import Role
from tests.awards.conftest import YEAR, Flow, Json, Tokens, World
from tests.support import assert_problem, ok

LDTT = "lao_dong_tien_tien"  # individuals; district chairman; judged by the council
THON = "thon_van_hoa"  # villages (a collective); district chairman; judged by the council
GKH = "giay_khen_chu_tich_huyen"  # collectives; district chairman; needs reported figures
LEVEL = "district_chairman"
PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def docx_text(content: bytes) -> tuple[list[str], list[list[list[str]]]]:
    """The paragraphs and the tables (rows of cell texts) of a Word document."""
    doc = Document(io.BytesIO(content))
    tables = [[[c.text for c in row.cells] for row in t.rows] for t in doc.tables]
    return [p.text for p in doc.paragraphs], tables


def listed(table: list[list[str]]) -> dict[str, list[str]]:
    """The names of a list table by group heading (a merged row: every cell the same)."""
    groups: dict[str, list[str]] = {}
    current = ""
    for row in table[1:]:
        if len(set(row)) == 1:
            current = row[0]
            groups[current] = []
        else:
            groups.setdefault(current, []).append(row[1])
    return groups


async def expected(db: asyncpg.Connection, year: int, level: str) -> set[str]:
    """Every nomination's nominee appraised as eligible for a form of ``level`` in ``year``."""
    rows = await db.fetch(
        "SELECT n.nominee_name FROM nominations n JOIN award_forms f ON f.code = n.form_code"
        " WHERE n.year = $1 AND f.authority_level = $2 AND n.status = 'appraised'"
        "   AND (n.appraisal->>'eligible')::boolean AND NOT n.needs_reappraisal", year, level)
    return {r["nominee_name"] for r in rows}


async def household_form(awards: httpx.AsyncClient, tokens: Tokens) -> str:
    code = f"thu_ho_{uuid.uuid4().hex[:8]}"
    ok(await awards.post("/v1/forms", headers=tokens.board, json={
        "code": code, "name_vi": "Giấy khen hộ gia đình (thử)", "category": "commendation",
        "for_whom": "household", "authority_level": LEVEL,
        "rule": {"type": "judged_by_council"}}), 201)
    return code


async def nominees(flow: Flow, world: World, awards: httpx.AsyncClient, tokens: Tokens
                   ) -> dict[str, Json]:
    """Appraised-eligible: a person, the village, a household (district level); and beside
    them an ineligible collective, one only reviewed, and one of another level."""
    tag = uuid.uuid4().hex[:6]
    person = {**flow.person(), "name": f"Trần Thị Giấy {tag}"}
    household = {"kind": "household", "unit_id": str(world.village),
                 "name": f"Hộ ông Lê Văn {tag}"}
    out = {
        "person": await flow.to(await flow.nominate(LDTT, person, world.commune), "appraised"),
        "village": await flow.to(await flow.nominate(THON, flow.unit(world.village),
                                                     world.commune), "appraised"),
        "household": await flow.to(await flow.nominate(
            await household_form(awards, tokens), household, world.commune), "appraised"),
        # no reported figures: appraised, not eligible
        "ineligible": await flow.to(await flow.nominate(GKH, flow.unit(world.short)),
                                    "appraised"),
        "reviewed": await flow.to(await flow.nominate(
            LDTT, {**flow.person(), "name": f"Phan Văn Chưa {tag}"}, world.commune),
            "reviewed"),
    }
    assert out["ineligible"]["appraisal"]["eligible"] is False
    return out


async def test_proposal_and_decision_list_the_appraised_eligible_of_the_level(
    awards: httpx.AsyncClient, tokens: Tokens, flow: Flow, world: World,
    awards_db: asyncpg.Connection,
) -> None:
    n = await nominees(flow, world, awards, tokens)
    params: dict[str, str | int] = {"year": YEAR, "authority_level": LEVEL}
    r = await awards.get("/v1/papers/proposal.docx", params=params, headers=tokens.board)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert r.headers["content-disposition"].startswith("attachment;")
    paragraphs, tables = docx_text(r.content)
    want = await expected(awards_db, YEAR, LEVEL)
    mine = {n[k]["nominee"]["name"] for k in ("person", "village", "household")}
    assert mine <= want
    assert not {n[k]["nominee"]["name"] for k in ("ineligible", "reviewed")} & want
    # Decree 30's blocks: issuing body and motto, number, title, recipient, signature
    heading = " ".join(c for row in tables[0] for c in row)
    assert "BAN THI ĐUA – KHEN THƯỞNG" in heading and "Số: ……/TTr-BTĐKT" in heading
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in heading
    assert "Độc lập - Tự do - Hạnh phúc" in heading
    assert "TỜ TRÌNH" in paragraphs and "Kính gửi: Chủ tịch UBND huyện." in paragraphs
    assert "Nơi nhận:" in tables[-1][0][0]
    names = {name for group in listed(tables[1]).values() for name in group}
    assert {name.removeprefix("cán bộ ") for name in names} == want

    r = await awards.get("/v1/papers/decision.docx", params=params, headers=tokens.board)
    assert r.status_code == 200, r.text
    paragraphs, tables = docx_text(r.content)
    assert "QUYẾT ĐỊNH" in paragraphs and "QUYẾT ĐỊNH:" in paragraphs and "DANH SÁCH" in \
        paragraphs
    assert any(p.startswith("Điều 1. Tặng") for p in paragraphs)
    annex = listed(tables[-1])
    assert [g.split(". ", 1)[1] for g in annex][:1] == ["TẬP THỂ"]
    by_group = {g.split(". ", 1)[1]: set(v) for g, v in annex.items()}
    assert n["village"]["nominee"]["name"] in by_group["TẬP THỂ"]
    assert f"cán bộ {n['person']['nominee']['name']}" in by_group["CÁ NHÂN"]
    assert n["household"]["nominee"]["name"] in by_group["HỘ GIA ĐÌNH"]
    assert list(by_group) == [g for g in ("TẬP THỂ", "CÁ NHÂN", "HỘ GIA ĐÌNH") if g in by_group]

    # one form of the level only
    r = await awards.get("/v1/papers/proposal.docx", headers=tokens.board,
                         params={**params, "form_code": THON})
    names = {name for group in listed(docx_text(r.content)[1][1]).values() for name in group}
    assert n["village"]["nominee"]["name"] in names
    assert n["person"]["nominee"]["name"] not in names

    # each generation is in the audit log with the dossiers it listed
    audit = await awards_db.fetch(
        "SELECT actor, action, after FROM audit_log WHERE action LIKE 'papers.%'"
        " AND actor = 'board' ORDER BY id DESC LIMIT 3")
    assert [a["action"] for a in audit] == ["papers.proposal", "papers.decision",
                                            "papers.proposal"]
    assert n["person"]["nomination_id"] in audit[1]["after"]["nominations"]


async def test_papers_are_the_boards_in_its_province(
    awards: httpx.AsyncClient, tokens: Tokens, world: World, awards_db: asyncpg.Connection,
) -> None:
    params: dict[str, str | int] = {"year": YEAR, "authority_level": LEVEL}
    of_commune = {r["nominee_name"] for r in await awards_db.fetch(
        "SELECT nominee_name FROM nominations WHERE proposing_unit_id = $1", world.commune)}
    for paper in ("proposal.docx", "decision.docx"):
        url = f"/v1/papers/{paper}"
        assert (await awards.get(url, params=params)).status_code == 401
        for who in (tokens.council, tokens.reporter(world.commune),
                    tokens.chairman(world.province)):
            assert_problem(await awards.get(url, params=params, headers=who), 403)
        assert_problem(await awards.get(url, params={**params, "authority_level": "king"},
                                        headers=tokens.board), 422)
        # a board over another subtree lists none of the commune's dossiers
        other = tokens(Role.BOARD, world.district_b, "board-b")
        r = await awards.get(url, params=params, headers=other)
        assert r.status_code == 200, r.text
        _, tables = docx_text(r.content)
        table = tables[-1] if paper.startswith("decision") else tables[1]
        names = {x.removeprefix("cán bộ ") for g in listed(table).values() for x in g}
        assert not names & of_commune


async def test_certificates_one_page_per_awardee_of_an_approved_decision(
    awards: httpx.AsyncClient, tokens: Tokens, flow: Flow, world: World,
    awards_db: asyncpg.Connection,
) -> None:
    tag = uuid.uuid4().hex[:6]
    decision = {"number": f"{tag}/QĐ-UBND", "signed_on": "2025-01-20",
                "signer": "Nguyễn Văn Ký"}
    people = []
    for i in range(3):
        person = {**flow.person(), "name": f"Đặng Thị Bằng {i} {tag}"}
        n = await flow.to(await flow.nominate(LDTT, person, world.commune), "appraised")
        people.append(await flow.take(n, "approve", tokens.chairman(world.district_a),
                                      decision))
    # one revoked: no certificate
    await flow.take(people[2], "revoke", tokens.chairman(world.district_a),
                    {"reason": "Khai man", "decision": {**decision, "number": f"{tag}/R"}})
    params = {"decision_number": decision["number"], "signed_on": decision["signed_on"]}
    r = await awards.get("/v1/papers/certificates.pdf", params=params,
                         headers=tokens.chairman(world.district_a))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF")
    assert len(PAGE.findall(r.content)) == 2
    assert (await awards.get("/v1/papers/certificates.pdf", params=params,
                             headers=tokens.board)).status_code == 200
    # out of scope: another district's chairman finds none; a reporter may not ask
    assert_problem(await awards.get("/v1/papers/certificates.pdf", params=params,
                                    headers=tokens.chairman(world.district_b)), 404)
    assert_problem(await awards.get("/v1/papers/certificates.pdf", params=params,
                                    headers=tokens.reporter(world.commune)), 403)
    assert_problem(await awards.get("/v1/papers/certificates.pdf", headers=tokens.board,
                                    params={**params, "decision_number": f"{tag}/none"}), 404)
    audit = await awards_db.fetch(
        "SELECT actor, after FROM audit_log WHERE action = 'papers.certificates'"
        " AND entity_id = $1 ORDER BY id", decision["number"])
    assert [a["actor"] for a in audit] == [f"chairman-{world.district_a}", "board"]
    assert sorted(audit[0]["after"]["nominations"]) == sorted(
        p["nomination_id"] for p in people[:2])


async def test_a_template_edit_changes_the_next_paper(
    awards: httpx.AsyncClient, tokens: Tokens, flow: Flow, world: World,
    awards_db: asyncpg.Connection,
) -> None:
    before: dict[str, Any] = {t["kind"]: t for t in ok(await awards.get(
        "/v1/papers/templates", headers=tokens.board))}
    assert set(before) == {"proposal", "decision", "certificate"}
    assert "form_name" in before["proposal"]["placeholders"]
    url = "/v1/papers/templates/proposal"
    tag = uuid.uuid4().hex[:6]
    text = f"Mẫu {tag}: năm ${{year}}, ${{form_name}}, ${{count}} hồ sơ, giá $$5."
    r = await awards.put(url, headers=tokens.council, json={"text": text})
    assert_problem(r, 403)
    r = await awards.put(url, headers=tokens.board, json={"text": text + " ${chairman}"})
    assert "${chairman}" in assert_problem(r, 422, field="text")["detail"]
    assert_problem(await awards.put(url, headers=tokens.board, json={"text": "giá $ 5"}),
                   422, field="text")
    assert_problem(await awards.put("/v1/papers/templates/letter", headers=tokens.board,
                                    json={"text": "x"}), 422)
    edited = ok(await awards.put(url, headers=tokens.board, json={"text": text, "note": "thử"}))
    assert edited["version"] == before["proposal"]["version"] + 1
    assert edited["changed_by"] == "board"
    try:
        r = await awards.get("/v1/papers/proposal.docx", headers=tokens.board,
                             params={"year": YEAR, "authority_level": LEVEL})
        paragraphs, _ = docx_text(r.content)
        assert any(p.startswith(f"Mẫu {tag}: năm {YEAR}, ") and p.endswith("giá $5.")
                   for p in paragraphs), paragraphs
        audit = await awards_db.fetchrow(
            "SELECT actor, before, after FROM audit_log WHERE action = 'paper_template.edit'"
            " ORDER BY id DESC LIMIT 1")
        assert audit is not None and audit["actor"] == "board"
        assert audit["after"]["text"] == text and audit["after"]["note"] == "thử"
        assert audit["before"]["version"] == before["proposal"]["version"]
    finally:
        ok(await awards.put(url, headers=tokens.board,
                            json={"text": before["proposal"]["text"]}))
