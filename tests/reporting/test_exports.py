"""The summaries and lists as CSV and XLSX files: opened back, their figures are the JSON
routes' figures for the same request, under Vietnamese headers, numbers as numbers, a unit
named like a formula neutralised."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import next_code
from tests.read_tables import ReadTable, table_of
from tests.reporting.conftest import (
    Json,
    Reporting,
    Tree,
    figures,
    held_by_indicators,
    make_campaign,
    make_tree,
    report,
)
from tests.support import eventually, ok, register_unit

FORMULA = '=HYPERLINK("http://example.com/x","Xã Bấm vào")'
RATE, REDUCTION, POOR, NAME, CODE = ("Tỷ lệ hộ nghèo (%)", "Giảm (điểm %)", "Số hộ nghèo",
                                     "Đơn vị", "Mã")


async def get(w: Reporting, path: str, **params: object) -> Json:
    result: Json = ok(await w.reporting.get(path, params=_query(params), headers=w.admin))
    return result


def _query(params: dict[str, object]) -> dict[str, str]:
    return {k: str(v) for k, v in params.items()}


async def export(w: Reporting, what: str, fmt: str, params: dict[str, object],
                 sheet: str | None = None) -> ReadTable:
    r = await w.reporting.get(f"/v1/exports/{what}.{fmt}", params=_query(params),
                              headers=w.admin)
    return table_of(r, sheet)


def same(cell: Any, value: float | None, fmt: str, places: int = 2) -> bool:
    """A file's cell holds the JSON's number: in XLSX a number cell with the value (to the 15
    significant digits a spreadsheet keeps), in CSV the value at the column's precision."""
    if value is None:
        return cell is None
    if fmt == "xlsx":
        return (isinstance(cell, int | float) and not isinstance(cell, bool)
                and abs(cell - value) <= 1e-12 * max(1.0, abs(value)))
    return bool(cell == f"{value:.{places}f}")


@pytest.fixture(scope="module")
async def year(world: Reporting) -> tuple[Tree, uuid.UUID, uuid.UUID]:
    """A tree with one more district named like a formula; the communes reported 2026 and
    2027 (b1 only 2026)."""
    tree = await make_tree(world)
    evil = uuid.UUID((await register_unit(
        world.registration, world.admin, kind="district", subkind="huyen", name=FORMULA,
        code=next_code(), parent=tree.province))["unit_id"])
    evil_commune = uuid.UUID((await register_unit(
        world.registration, world.admin, kind="commune", subkind="xa",
        name=f"-Xã dấu trừ {uuid.uuid4().hex[:4]}", code=next_code(), parent=evil))["unit_id"])
    await held_by_indicators(world, [evil, evil_commune])
    campaign = await make_campaign(world, 2026, 2027)
    communes = [*tree.communes, evil_commune]
    for unit, now in zip(communes, (70, 80, 70, 95, None, 133), strict=True):
        await report(world, campaign, unit, 2026, values=figures(1000, 100))
        if now is not None:
            await report(world, campaign, unit, 2027, values=figures(1000 + now, now))
    ok(await world.indicators.put(f"/v1/campaigns/{campaign}/targets/2027/{tree.district_a}",
                                  json={"reduction_pp_min": 2.0}, headers=world.board))
    async for attempt in eventually(30):
        with attempt:
            s = await get(world, "/v1/summaries/provincial", campaign_id=campaign, year=2027,
                          province_id=tree.province)
            assert s["province"]["reports"] == 5
            a = next(d for d in s["districts"] if d["unit"]["unit_id"] == str(tree.district_a))
            assert a["target"] is not None
    return tree, campaign, evil


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
async def test_the_provincial_summary_file_holds_the_json_figures(
        world: Reporting, year: tuple[Tree, uuid.UUID, uuid.UUID], fmt: str) -> None:
    tree, campaign, evil = year
    params = {"campaign_id": campaign, "year": 2027, "province_id": tree.province}
    summary = await get(world, "/v1/summaries/provincial", **params)
    r = await world.reporting.get(f"/v1/exports/provincial-summary.{fmt}",
                                  params=_query(params), headers=world.admin)
    disposition = r.headers["content-disposition"]
    assert 'filename="Tong hop tinh 2027 ' in disposition  # the ASCII name for old clients
    assert "filename*=UTF-8''T%E1%BB%95ng%20h%E1%BB%A3p%20t%E1%BB%89nh%202027" in disposition
    assert disposition.endswith(f".{fmt}")
    t = table_of(r)
    assert t.title == "Tổng hợp kết quả giảm nghèo năm 2027"
    assert t.about["Phong trào"] == "Chung tay vì người nghèo"
    assert t.about["Năm"] in (2027, "2027")
    assert t.about["Số liệu"].startswith("Sơ bộ")  # submitted, not yet confirmed: estimates
    assert t.about["Thời điểm lập"]
    for header in ("Cấp", CODE, NAME, "Tổng số hộ", POOR, "Số hộ cận nghèo", RATE,
                   "Tỷ lệ hộ cận nghèo (%)", REDUCTION, "Mức độ hoàn thành chỉ tiêu (%)",
                   "Đạt chỉ tiêu", "Nộp đúng hạn", "Tổng nguồn lực huy động (đồng)"):
        assert header in t.headers, header
    lines = [summary["province"], *summary["districts"]]
    assert [r[CODE] for r in t.rows] == [ln["unit"]["code"] for ln in lines]
    assert [r["Cấp"] for r in t.rows] == ["Tỉnh"] + ["Huyện"] * len(summary["districts"])
    for row, ln in zip(t.rows, lines, strict=True):
        poor = ln["values"].get("poor_households")
        assert (row[POOR] == poor and type(row[POOR]) is int) if fmt == "xlsx" else (
            row[POOR] == (str(poor) if poor is not None else None))
        assert same(row[RATE], ln["poor_rate_pct"], fmt), (row[RATE], ln["poor_rate_pct"])
        assert same(row[REDUCTION], ln["reduction_pp"], fmt)
        assert same(row["Tỷ lệ hộ cận nghèo (%)"], ln["near_poor_rate_pct"], fmt)
        target = ln["target"]
        if target is not None:
            assert same(row["Mức độ hoàn thành chỉ tiêu (%)"], target["attainment_pct"], fmt)
            assert row["Đạt chỉ tiêu"] == {True: "Có", False: "Không", None: None}[
                target["met"]]
    if fmt == "xlsx":
        assert t.formats[RATE] == "0.00" and t.formats[REDUCTION] == "0.00"
        assert t.formats[POOR] == "#,##0"
    by_code = t.by(CODE)
    evil_line = next(ln for ln in lines if ln["unit"]["unit_id"] == str(evil))
    assert evil_line["unit"]["name"] == FORMULA
    assert by_code[evil_line["unit"]["code"]][NAME] == "'" + FORMULA  # shown as text
    assert by_code[evil_line["unit"]["code"]][POOR] in (133, "133")  # a number all the same


async def test_the_raw_csv_is_utf8_with_bom_and_plain_numbers(
        world: Reporting, year: tuple[Tree, uuid.UUID, uuid.UUID]) -> None:
    _, campaign, _ = year
    r = await world.reporting.get("/v1/exports/provincial-summary.csv", headers=world.admin,
                                  params=_query({"campaign_id": campaign, "year": 2027}))
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.content.startswith(b"\xef\xbb\xbf")
    text = r.content.decode("utf-8-sig")
    assert "Tỷ lệ hộ nghèo (%)" in text and "\r\n" in text
    summary = await get(world, "/v1/summaries/provincial", campaign_id=campaign, year=2027)
    rate = summary["province"]["poor_rate_pct"]
    assert f",{rate:.2f}," in text  # '.' as the decimal point, no thousands separator
    assert f",{summary['province']['values']['households_total']}," in text


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
async def test_central_summary_compliance_rankings_and_trend_files(
        world: Reporting, year: tuple[Tree, uuid.UUID, uuid.UUID], fmt: str) -> None:
    tree, campaign, _ = year
    base: dict[str, object] = {"campaign_id": campaign, "year": 2027}
    central = await get(world, "/v1/summaries/central", **base, province_id=tree.province)
    t = await export(world, "central-summary", fmt, {**base, "province_id": tree.province})
    (row,) = t.rows
    assert row[CODE] == central["province"]["code"]
    assert same(row[RATE], central["poor_rate_pct"], fmt)
    assert same(row[REDUCTION], central["reduction_pp"], fmt)
    assert row["Nộp đúng hạn"] in (central["compliance"]["on_time"],
                                   str(central["compliance"]["on_time"]))
    assert t.about["Lược đồ"] == "chungtay.central-summary.v1"
    if fmt == "xlsx":
        awards = await export(world, "central-summary", fmt,
                              {**base, "province_id": tree.province}, "Khen thưởng")
        assert awards.headers == ["Mã hình thức khen thưởng", "Cấp quyết định",
                                  "Số khen thưởng"]

    compliance = await get(world, "/v1/compliance", **base, unit_id=tree.province,
                           limit=1000)
    t = await export(world, "compliance", fmt, {**base, "unit_id": tree.province})
    assert len(t.rows) == compliance["total"]
    labels = {"on_time": "Đúng hạn", "late": "Trễ hạn", "missing": "Chưa nộp (quá hạn)",
              "not_yet_due": "Chưa nộp (chưa đến hạn)"}
    assert {r[CODE]: r["Tình trạng nộp"] for r in t.rows} == {
        i["unit"]["code"]: labels[i["punctuality"]] for i in compliance["items"]}
    assert t.about["Đúng hạn"] in (compliance["counts"]["on_time"],
                                   str(compliance["counts"]["on_time"]))
    evil_rows = [r for r in t.rows if r[CODE] and r["Đơn vị cấp trên"] == "'" + FORMULA]
    assert evil_rows and evil_rows[0][NAME].startswith("'-Xã dấu trừ")

    ranking = await get(world, "/v1/rankings", **base, unit_id=tree.province, limit=1000)
    t = await export(world, "rankings", fmt, {**base, "unit_id": tree.province})
    assert [r[CODE] for r in t.rows] == [i["unit"]["code"] for i in ranking["items"]]
    for row, item in zip(t.rows, ranking["items"], strict=True):
        assert row["Hạng"] in (item["rank"], str(item["rank"]) if item["rank"] else None)
        assert same(row[REDUCTION], item["reduction_pp"], fmt)
    assert t.about["Xếp hạng theo"] == "Mức giảm tỷ lệ hộ nghèo (điểm %)"

    trend = await get(world, f"/v1/trends/{tree.district_a}", campaign_id=campaign)
    t = await export(world, f"trends/{tree.district_a}", fmt, {"campaign_id": campaign})
    assert [int(r["Năm"]) for r in t.rows] == [p["year"] for p in trend["points"]]
    for row, point in zip(t.rows, trend["points"], strict=True):
        assert same(row[RATE], point["poor_rate_pct"], fmt)
        assert same(row[REDUCTION], point["reduction_pp"], fmt)
    assert t.about["Đạt kế hoạch"] == {True: "Có", False: "Không"}[
        trend["period"]["meets_plan"]]


async def test_exports_need_a_token_and_a_known_format(
        world: Reporting, year: tuple[Tree, uuid.UUID, uuid.UUID]) -> None:
    _, campaign, _ = year
    params = _query({"campaign_id": campaign, "year": 2027})
    r = await world.reporting.get("/v1/exports/provincial-summary.xlsx", params=params)
    assert r.status_code == 401
    r = await world.reporting.get("/v1/exports/provincial-summary.pdf", params=params,
                                  headers=world.admin)
    assert r.status_code == 422
    r = await world.reporting.get("/v1/exports/rankings.csv", headers=world.admin,
                                  params=_query({"campaign_id": uuid.uuid4(), "year": 2027}))
    assert r.status_code == 404

