"""The Word documents: the yearly report (from the views as they stand, or from the year's
latest published snapshot) and the mid-term and final reviews, each opened with python-docx
and checked against the JSON the API gives for the same figures: the layout of a Vietnamese
administrative report, the headings, the tables' figures, the embedded charts."""

from __future__ import annotations

import io
import re
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest
from docx import Document as open_docx
from docx.document import Document
from docx.table import Table
from docx.text.paragraph import Paragraph

from chungtay_common.auth import Role
from chungtay_common.clock import VN
from tests.reporting.conftest import (
    Json,
    Reporting,
    Tree,
    figures,
    make_campaign,
    make_tree,
    report,
)
from tests.support import assert_problem, bearer, eventually, ok

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PLACEHOLDER = "[Ban Thi đua – Khen thưởng bổ sung]"
YEARLY_HEADINGS = [
    "I. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU GIẢM NGHÈO", "II. TÌNH HÌNH THỰC HIỆN CHẾ ĐỘ BÁO CÁO",
    "III. NGUỒN LỰC HUY ĐỘNG", "IV. CÔNG TÁC KHEN THƯỞNG", "V. ĐIỂN HÌNH TIÊN TIẾN",
    "VI. TỒN TẠI, HẠN CHẾ VÀ NGUYÊN NHÂN"]
REVIEW_HEADINGS = [
    "I. KẾT QUẢ THỰC HIỆN MỤC TIÊU GIAI ĐOẠN", "II. XẾP HẠNG THI ĐUA CÁC ĐƠN VỊ CẤP HUYỆN",
    "III. CHẾ ĐỘ BÁO CÁO VÀ NGUỒN LỰC HUY ĐỘNG", "IV. CÔNG TÁC KHEN THƯỞNG",
    "V. ĐIỂN HÌNH TIÊN TIẾN", "VI. CÔNG TÁC CHỈ ĐẠO, TỔ CHỨC THỰC HIỆN",
    "VII. TỒN TẠI, HẠN CHẾ VÀ BÀI HỌC KINH NGHIỆM"]


def number(text: str) -> float | None:
    """A figure as the documents write it (Vietnamese: 1.234,5), or None for "–"."""
    if text == "–":
        return None
    return float(text.replace(".", "").replace(",", "."))


def close(text: str, value: float | None, places: int) -> bool:
    shown = number(text)
    if shown is None or value is None:
        return shown is None and value is None
    return abs(shown - value) <= 0.5 * 10.0 ** -places + 1e-9


def style(p: Paragraph) -> str | None:
    return p.style.name if p.style is not None else None


@dataclass(frozen=True)
class Docx:
    doc: Document
    response: httpx.Response

    @property
    def text(self) -> str:
        cells = [c.text for t in self.doc.tables for row in t.rows for c in row.cells]
        return "\n".join([p.text for p in self.doc.paragraphs] + cells)

    def headings(self, level: int = 1) -> list[str]:
        return [p.text for p in self.doc.paragraphs if style(p) == f"Heading {level}"]

    def table(self, *headers: str) -> Table:
        """The table whose header row starts with these cells."""
        for t in self.doc.tables:
            cells = [c.text for c in t.rows[0].cells]
            if cells[:len(headers)] == list(headers):
                return t
        raise AssertionError(f"no table headed {headers}")

    def rows(self, *headers: str) -> Iterator[list[str]]:
        for row in self.table(*headers).rows[1:]:
            yield [c.text for c in row.cells]


async def document(w: Reporting, path: str, params: dict[str, object],
                   headers: dict[str, str] | None = None) -> Docx:
    r = await w.reporting.get(f"/v1/documents/{path}", headers=headers or w.admin,
                              params={k: str(v) for k, v in params.items()})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == DOCX
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    return Docx(open_docx(io.BytesIO(r.content)), r)


async def get(w: Reporting, path: str, **params: object) -> Json:
    result: Json = ok(await w.reporting.get(path, params={k: str(v) for k, v in params.items()},
                                            headers=w.admin))
    return result


def assert_administrative_layout(d: Docx, province_name: str) -> None:
    """Decree 30/2020/NĐ-CP: A4 and its margins, Times New Roman, the issuing body and the
    national motto in the top table, the kind of document, recipients and the signature."""
    section = d.doc.sections[0]
    sizes = (section.page_width, section.page_height, section.left_margin,
             section.right_margin, section.top_margin, section.bottom_margin)
    assert [round(x.mm) if x is not None else None for x in sizes] == [210, 297, 30, 15, 20, 20]
    assert d.doc.styles["Normal"].font.name == "Times New Roman"
    left, right = (c.text for c in d.doc.tables[0].rows[0].cells)
    assert left.split("\n")[:2] == [f"UBND {province_name.upper()}", "BAN THI ĐUA - KHEN THƯỞNG"]
    assert "Số:" in left and "/BC-BTĐKT" in left
    assert right.split("\n")[:2] == ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
                                     "Độc lập - Tự do - Hạnh phúc"]
    place = province_name.removeprefix("Tỉnh ")
    assert re.search(rf"{re.escape(place)}, ngày +tháng +năm \d{{4}}", right), right
    assert "BÁO CÁO" in [p.text for p in d.doc.paragraphs[:3]]
    recipients, signature = (c.text for c in d.doc.tables[-1].rows[0].cells)
    assert recipients.startswith("Nơi nhận:") and "- Lưu: VT, BTĐKT." in recipients
    assert signature.split("\n")[:2] == ["TRƯỞNG BAN", "(Ký, ghi rõ họ tên)"]
    assert PLACEHOLDER in d.text and unicodedata.is_normalized("NFC", d.text)
    for kind in ("Bảng", "Biểu đồ"):  # numbered in order, whichever are left out
        captions = [p.text for p in d.doc.paragraphs
                    if style(p) == "Caption" and p.text.startswith(f"{kind} ")]
        assert [c.split(".")[0] for c in captions] == [
            f"{kind} {i}" for i in range(1, len(captions) + 1)]


def assert_charts(d: Docx, count: int) -> None:
    assert len(d.doc.inline_shapes) == count
    images = [p for p in d.doc.part.related_parts.values()
              if p.content_type == "image/png"]
    assert len(images) == count and all(p.blob.startswith(b"\x89PNG") for p in images)


@dataclass(frozen=True)
class Data:
    tree: Tree
    campaign: uuid.UUID
    province_name: str


# 2025 → 2026 poor households of 1,000 each: a0 100 → 70, a1 90 → 80, a2 80 → 60,
# b0 70 → 66, b1 60 → 40
POOR = ((100, 70), (90, 80), (80, 60), (70, 66), (60, 40))


@pytest.fixture(scope="module")
async def data(world: Reporting) -> Data:
    tree = await make_tree(world)
    campaign = await make_campaign(world, 2025, 2027)
    for unit, (before, now) in zip(tree.communes, POOR, strict=True):
        await report(world, campaign, unit, 2025, values=figures(1000, before))
        await report(world, campaign, unit, 2026, values=figures(1000, now))
    ok(await world.indicators.put(f"/v1/campaigns/{campaign}/targets/2026/{tree.district_a}",
                                  json={"reduction_pp_min": 2.0, "reduction_pp_max": 2.5},
                                  headers=world.board))
    ok(await world.indicators.put(f"/v1/campaigns/{campaign}/targets/2026/{tree.province}",
                                  json={"reduction_pp_min": 2.0}, headers=world.board))
    async for attempt in eventually(30):
        with attempt:
            p = await get(world, "/v1/summaries/provincial", campaign_id=campaign, year=2026,
                          province_id=tree.province)
            assert p["province"]["reports"] == 5 and p["province"]["target"] is not None
            assert all(ln["target"] for ln in p["districts"]
                       if ln["unit"]["unit_id"] == str(tree.district_a))
    return Data(tree, campaign, p["province"]["unit"]["name"])


async def test_the_yearly_report_from_the_views_as_they_stand(world: Reporting,
                                                              data: Data) -> None:
    params: dict[str, object] = {"campaign_id": data.campaign, "year": 2026,
                                 "province_id": data.tree.province}
    # any valid token: the figures are the summaries', open to any token
    viewer = bearer(world.stack.token(Role.VIEWER, unit=data.tree.district_b))
    d = await document(world, "yearly-report.docx", params, headers=viewer)
    summary = await get(world, "/v1/summaries/provincial", **params)
    central = await get(world, "/v1/summaries/central", **params)
    assert_administrative_layout(d, data.province_name)
    assert "thi đua “Cả nước chung tay vì người nghèo – Không để ai bị bỏ lại phía sau” năm " \
           "2026" in d.text
    assert d.headings() == [*YEARLY_HEADINGS, "VII. PHƯƠNG HƯỚNG, NHIỆM VỤ NĂM 2027"]
    assert "Số liệu tổng hợp đến" in d.text and "chưa có bản công bố" in d.text
    assert "theo bản công bố số" not in d.text
    # table 1 against the JSON: per district, then the province
    rows = list(d.rows("STT", "Đơn vị"))
    lines = [*summary["districts"], summary["province"]]
    assert [r[1] for r in rows[:len(lines)]] == [ln["unit"]["name"] for ln in lines[:-1]] + [
        "Toàn tỉnh"]
    for row, ln in zip(rows, lines, strict=False):
        assert number(row[2]) == ln["values"]["households_total"]
        assert number(row[3]) == ln["values"]["poor_households"]
        assert close(row[4], ln["poor_rate_pct"], 2), (row, ln)
        assert close(row[5], ln["reduction_pp"], 2), (row, ln)
        t = ln["target"]
        assert close(row[7], t["attainment_pct"] if t else None, 1), (row, t)
        assert row[8] == ("–" if t is None else "Đạt" if t["met"] else "Chưa đạt")
    a = next(r for r in rows if r[1] == lines[0]["unit"]["name"])
    assert a[6] == "2,00–2,50"  # district A's target: 300 → 210 of 3,000 is 3 points
    assert a[8] == "Đạt"
    # compliance and resources against the central summary
    province_compliance = list(d.rows("STT", "Đơn vị", "Phải báo cáo"))[-1]
    assert province_compliance[1] == "Toàn tỉnh"
    c = central["compliance"]
    assert [number(x) for x in province_compliance[2:]] == [
        c["expected"], c["on_time"], c["late"], c["missing"], c["not_yet_due"], c["accepted"]]
    resources = list(d.rows("STT", "Đơn vị", "Ngân sách nhà nước"))[-1]
    assert resources[1] == "Toàn tỉnh"
    assert close(resources[5], central["resources_vnd"]["total"] / 1e6, 1)
    assert_charts(d, 2)


async def publish(w: Reporting, campaign: uuid.UUID, tree: Tree, year: int) -> Json:
    board = bearer(w.stack.token(Role.BOARD, unit=tree.province, sub="ban-thi-dua"))
    result: Json = ok(await w.reporting.post("/v1/feed", json={
        "campaign_id": str(campaign), "year": year, "province_id": str(tree.province)},
        headers=board), 201)
    return result


async def test_the_yearly_report_names_the_snapshot_its_figures_come_from(
        world: Reporting) -> None:
    tree = await make_tree(world)
    campaign = await make_campaign(world, 2026, 2027)
    await report(world, campaign, tree.a[0], 2026, values=figures(1000, 100))
    await report(world, campaign, tree.b[0], 2026, values=figures(2000, 150))
    params: dict[str, object] = {"campaign_id": campaign, "year": 2026,
                                 "province_id": tree.province}
    async for attempt in eventually(20):
        with attempt:
            assert (await get(world, "/v1/summaries/central", **params))[
                "poor_households"] == 250
    snapshot = await publish(world, campaign, tree, 2026)
    d = await document(world, "yearly-report.docx", params)
    day = datetime.fromisoformat(snapshot["published_at"]).astimezone(VN).strftime("%d/%m/%Y")
    assert f"Số liệu theo bản công bố số {snapshot['seq']} ngày {day}" in d.text
    assert "đã thay đổi sau bản công bố" not in d.text
    total = next(r for r in d.rows("STT", "Đơn vị") if r[1] == "Toàn tỉnh")
    assert number(total[3]) == 250 and close(total[4], snapshot["summary"]["poor_rate_pct"], 2)
    # a correction after publication: the province's figures stay the snapshot's, and the
    # document says the figures moved since
    await report(world, campaign, tree.a[0], 2026, "return")
    await report(world, campaign, tree.a[0], 2026, values=figures(1000, 90))
    async for attempt in eventually(20):
        with attempt:
            assert (await get(world, "/v1/summaries/central", **params))[
                "poor_households"] == 240
    d = await document(world, "yearly-report.docx", params)
    assert f"Số liệu theo bản công bố số {snapshot['seq']}" in d.text
    assert f"số liệu đã thay đổi sau bản công bố số {snapshot['seq']}" in d.text
    rows = list(d.rows("STT", "Đơn vị"))
    total = next(r for r in rows if r[1] == "Toàn tỉnh")
    assert number(total[3]) == 250  # the snapshot's
    assert sum(number(r[3]) or 0 for r in rows[:2]) == 240  # the districts as they stand
    assert_charts(d, 2)


async def test_the_mid_term_and_final_reviews(world: Reporting, data: Data) -> None:
    params: dict[str, object] = {"campaign_id": data.campaign,
                                 "province_id": data.tree.province}
    mid = await document(world, "mid-term-review.docx", params)
    assert mid.response.headers["content-disposition"].endswith('"so-ket-2025-2026.docx"')
    assert_administrative_layout(mid, data.province_name)
    assert "Sơ kết 02 năm thực hiện phong trào thi đua" in mid.text
    assert "giai đoạn 2025–2026" in mid.text
    assert mid.headings() == [*REVIEW_HEADINGS, "VIII. PHƯƠNG HƯỚNG, NHIỆM VỤ NĂM 2027"]
    summaries = {y: await get(world, "/v1/summaries/provincial", year=y, **params)
                 for y in (2025, 2026)}
    # the province year by year
    by_year = {r[0]: r for r in mid.rows("Năm", "Tổng số hộ")}
    for y, s in summaries.items():
        p = s["province"]
        assert number(by_year[str(y)][2]) == p["values"]["poor_households"]
        assert close(by_year[str(y)][3], p["poor_rate_pct"], 2)
        assert close(by_year[str(y)][4], p["reduction_pp"], 2)
    # each district's rates, and its average reduction as the trend gives it
    rows = {r[1]: r for r in mid.rows("STT", "Đơn vị", "2025 (%)")}
    for ln in summaries[2026]["districts"]:
        row = rows[ln["unit"]["name"]]
        before = next(x for x in summaries[2025]["districts"]
                      if x["unit"]["unit_id"] == ln["unit"]["unit_id"])
        assert close(row[2], before["poor_rate_pct"], 2) and close(row[3], ln["poor_rate_pct"], 2)
        trend = await get(world, f"/v1/trends/{ln['unit']['unit_id']}",
                          campaign_id=data.campaign)
        assert close(row[4], trend["period"]["average_reduction_pp"], 2)
    # ranked by the average reduction: A (3 points) before B (0.8 point)
    ranking = list(mid.rows("Hạng", "Đơn vị"))
    assert [r[1] for r in ranking[:2]] == [summaries[2026]["districts"][0]["unit"]["name"],
                                           summaries[2026]["districts"][1]["unit"]["name"]]
    assert_charts(mid, 2)
    final = await document(world, "final-review.docx", params)
    assert "Tổng kết phong trào thi đua" in final.text and "giai đoạn 2025–2027" in final.text
    assert "Chưa có số liệu các năm: 2027." in final.text  # nobody reported 2027 yet
    assert final.headings()[-1] == "VIII. PHƯƠNG HƯỚNG, NHIỆM VỤ GIAI ĐOẠN TIẾP THEO"
    assert_charts(final, 2)
    # the period is a parameter
    one = await document(world, "final-review.docx",
                         {**params, "first_year": 2026, "last_year": 2026})
    assert "giai đoạn 2026–2026" in one.text


async def test_documents_refuse_what_the_summaries_refuse(world: Reporting,
                                                          data: Data) -> None:
    params = {"campaign_id": str(data.campaign), "province_id": str(data.tree.province)}
    r = await world.reporting.get("/v1/documents/yearly-report.docx",
                                  params={**params, "year": "2031"}, headers=world.admin)
    assert_problem(r, 422, "year")
    r = await world.reporting.get("/v1/documents/mid-term-review.docx",
                                  params={**params, "first_year": "2024"}, headers=world.admin)
    assert_problem(r, 422, "first_year")
    r = await world.reporting.get("/v1/documents/final-review.docx",
                                  params={**params, "first_year": "2027", "last_year": "2026"},
                                  headers=world.admin)
    assert_problem(r, 422, "last_year")
    r = await world.reporting.get("/v1/documents/final-review.docx",
                                  params={"campaign_id": str(uuid.uuid4())}, headers=world.admin)
    assert_problem(r, 404)
    r = await world.reporting.get("/v1/documents/yearly-report.docx",
                                  params={**params, "year": "2026"})
    assert_problem(r, 401)
