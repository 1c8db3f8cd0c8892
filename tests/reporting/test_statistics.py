"""The statutory statistical forms 0601 and 0603 as XLSX, fed the real way (reports through the
indicators service, awards as the awards service publishes them), read back with openpyxl and
checked against the provincial summary of the same year or period."""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter
from datetime import date
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import BaseModel

from chungtay_common.contracts.awards import (
    AuthorityLevel,
    Decision,
    NominationApproved,
    NominationSubmitted,
    Nominee,
    NomineeKind,
)
from chungtay_common.events import Actor, new_envelope
from chungtay_common.topics import topic_name
from services.reporting.service import statistics
from tests.reporting.conftest import (
    Json,
    Reporting,
    Tree,
    figures,
    make_campaign,
    make_tree,
    report,
)
from tests.support import assert_problem, eventually, ok

YEARS = (2025, 2026)
BKT = ("bang_khen_chu_tich_tinh", AuthorityLevel.PROVINCIAL_CHAIRMAN)
GKH = ("giay_khen_chu_tich_huyen", AuthorityLevel.DISTRICT_CHAIRMAN)


async def publish(w: Reporting, payloads: list[BaseModel]) -> None:
    """Events on the awards topic of the run, exactly as the awards service sends them."""
    producer = AIOKafkaProducer(bootstrap_servers=w.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for p in payloads:
            env = new_envelope(payload=p, producer="awards", subject_id="test",
                               actor=Actor(subject="awards-test", roles=["board"]))
            body = json.dumps(env.model_dump(mode="json", serialize_as_any=True)).encode()
            await producer.send_and_wait(topic_name("awards", w.namespace), body, key=b"test")
    finally:
        await producer.stop()


def approved(unit: uuid.UUID, proposing: uuid.UUID, year: int, form: tuple[str, AuthorityLevel]
             ) -> NominationApproved:
    return NominationApproved(
        nomination_id=uuid.uuid4(), form_code=form[0], year=year,
        nominee=Nominee(kind=NomineeKind.UNIT, nominee_id=str(unit), unit_id=unit,
                        name="Xã thử"), proposing_unit_id=proposing,
        decision=Decision(number="1/QĐ-UBND", signed_on=date(year + 1, 1, 20),
                          signer="Nguyễn Văn A", authority_level=form[1]))


def submitted(unit: uuid.UUID, year: int) -> NominationSubmitted:
    return NominationSubmitted(
        nomination_id=uuid.uuid4(), form_code=GKH[0], year=year,
        nominee=Nominee(kind=NomineeKind.UNIT, nominee_id=str(unit), unit_id=unit,
                        name="Xã thử"), proposing_unit_id=unit, enrolled=True)


@pytest.fixture(scope="module")
async def filed(world: Reporting) -> tuple[Tree, uuid.UUID]:
    """Three years of reports of every commune, awards of two forms and levels, and two
    nominations still on their way."""
    tree = await make_tree(world)
    campaign = await make_campaign(world, YEARS[0] - 1, YEARS[1])
    for year in (YEARS[0] - 1, *YEARS):
        for i, unit in enumerate(tree.communes):
            await report(world, campaign, unit, year, values=figures(1000, 100 - 5 * i))
    a, b = tree.a, tree.b
    await publish(world, [
        approved(a[0], a[0], 2025, BKT), approved(a[1], a[1], 2025, GKH),
        approved(a[2], a[2], 2025, GKH), approved(b[0], b[0], 2025, BKT),
        approved(b[1], b[1], 2026, GKH), submitted(a[0], 2026), submitted(b[0], 2025)])
    async for attempt in eventually(30):
        with attempt:
            s = await summary(world, campaign, 2025)
            assert sum(x["awards"] for x in s["province"]["awards"]) == 4
            assert sum(s["province"]["nominations"].values()) == 5
            s = await summary(world, campaign, 2026)
            assert sum(s["province"]["nominations"].values()) == 2
    return tree, campaign


async def summary(w: Reporting, campaign: uuid.UUID, year: int) -> Json:
    result: Json = ok(await w.reporting.get("/v1/summaries/provincial", params={
        "campaign_id": str(campaign), "year": year}, headers=w.admin))
    return result


async def sheet(w: Reporting, form: str, **params: Any) -> Worksheet:
    r = await w.reporting.get(f"/v1/statistics/{form}.xlsx", params=params, headers=w.admin)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert isinstance(ws, Worksheet)
    return ws


def numbered(ws: Worksheet) -> int:
    """The numbering row (A, B, 1, 2...)."""
    for row in ws.iter_rows(min_row=1, max_row=20):
        if row[0].value == "A" and row[1].value == "B":
            return int(row[0].row)
    raise AssertionError("no numbering row")


def lines(ws: Worksheet) -> dict[str, list[Any]]:
    """The figures of each unit line below the numbering row, by the unit's name."""
    out = {}
    for row in ws.iter_rows(min_row=numbered(ws) + 1, values_only=True):
        if isinstance(row[1], str) and row[2] is not None:
            out[row[1]] = list(row[2:])
        if row[0] is None and row[1] is None:
            break
    return out


def texts(ws: Worksheet) -> str:
    return " ".join(str(c.value) for row in ws.iter_rows() for c in row if c.value is not None)


async def test_0603_is_the_summarys_awards_by_form_and_level(
    world: Reporting, filed: tuple[Tree, uuid.UUID]
) -> None:
    _, campaign = filed
    for year in YEARS:
        s = await summary(world, campaign, year)
        ws = await sheet(world, "0603", campaign_id=str(campaign), year=year)
        assert "Biểu số: 0603.N/BNV-TĐKT" in texts(ws)
        assert "Thông tư số 02/2023/TT-BNV" in texts(ws) and f"Năm {year}" in texts(ws)
        assert f"Đơn vị báo cáo: UBND {s['province']['unit']['name']}" in texts(ws)
        head = numbered(ws)
        # two header rows: the levels merged over their forms, then the forms' names
        assert any(str(m).startswith("A") and m.min_row == head - 2 and m.max_row == head - 1
                   for m in ws.merged_cells.ranges)
        names = [ws.cell(row=head - 1, column=c).value for c in range(4, ws.max_column + 1)]
        got = lines(ws)
        for line in [s["province"], *s["districts"]]:
            label = "Tổng số (toàn tỉnh)" if line is s["province"] else line["unit"]["name"]
            want = {a["form_code"]: a["awards"] for a in line["awards"]}
            row = got[label]
            assert row[0] == sum(want.values())
            assert all(isinstance(v, int) for v in row if v is not None)
            shown = {n: v for n, v in zip(names, row[1:], strict=False) if n and v}
            expected = {("Bằng khen của Chủ tịch UBND tỉnh" if code == BKT[0] else
                         "Giấy khen của Chủ tịch UBND cấp huyện"): n for code, n in want.items()}
            assert shown == expected, (year, label)
    # the levels in the header, from the highest
    ws = await sheet(world, "0603", campaign_id=str(campaign), year=2025)
    header = [ws.cell(row=numbered(ws) - 2, column=c).value for c in range(1, ws.max_column + 1)]
    assert [h for h in header if h and "khen thưởng" in h] == [
        "Chủ tịch UBND tỉnh khen thưởng", "Chủ tịch UBND cấp huyện khen thưởng"]


async def test_0601_and_a_period_sum_the_summarys_years(
    world: Reporting, filed: tuple[Tree, uuid.UUID]
) -> None:
    tree, campaign = filed
    per_year = [await summary(world, campaign, y) for y in YEARS]
    ws = await sheet(world, "0601", campaign_id=str(campaign), from_year=YEARS[0],
                     to_year=YEARS[1])
    assert f"Từ năm {YEARS[0]} đến năm {YEARS[1]}" in texts(ws)
    assert "Biểu số: 0601.N/BNV-TĐKT" in texts(ws)
    got = lines(ws)
    for i, label in enumerate(["Tổng số (toàn tỉnh)",
                               *(d["unit"]["name"] for d in per_year[0]["districts"])]):
        lines_ = [s["province"] if i == 0 else s["districts"][i - 1] for s in per_year]
        counts: Counter[str] = Counter()
        for ln in lines_:
            counts.update({"reports": ln["reports"], "on_time": ln["compliance"]["on_time"],
                           "late": ln["compliance"]["late"],
                           "missing": ln["compliance"]["missing"],
                           "nominations": sum(ln["nominations"].values()),
                           "awards": sum(a["awards"] for a in ln["awards"])})
        assert got[label] == [1, 0, 1, counts["reports"], counts["on_time"], counts["late"],
                              counts["missing"], counts["nominations"], counts["awards"]]
    assert got["Tổng số (toàn tỉnh)"][3] == 2 * len(tree.communes)
    assert got["Tổng số (toàn tỉnh)"][8] == 5


async def test_a_year_before_2023_files_the_2018_form_and_the_period_is_checked(
    world: Reporting, filed: tuple[Tree, uuid.UUID]
) -> None:
    _, campaign = filed
    base = {"campaign_id": str(campaign)}
    url = "/v1/statistics/0601.xlsx"
    for params, field in (({}, "year"), ({"year": 2025, "from_year": 2025}, "year"),
                          ({"from_year": 2026, "to_year": 2025}, "to_year"),
                          ({"from_year": 2025}, "year")):
        assert_problem(await world.reporting.get(url, params={**base, **params},
                                                 headers=world.admin), 422, field)
    assert (await world.reporting.get(url, params={**base, "year": 2025})).status_code == 401
    old = await make_campaign(world, 2020, 2021)
    r = await world.reporting.get(url, params={"campaign_id": str(old), "year": 2021},
                                  headers=world.admin)
    assert r.status_code == 404  # no figures of that year yet
    ws = await sheet(world, "0603", campaign_id=str(campaign), year=2025)
    assert ws.cell(row=1, column=1).value == "Biểu số: 0603.N/BNV-TĐKT"
    assert "Thông tư số 02/2023/TT-BNV" in texts(ws)
    assert statistics.Period(2021, 2022).circular()[0] == "Thông tư số 03/2018/TT-BNV"
    assert statistics.Period(2022, 2023).circular()[0] == "Thông tư số 02/2023/TT-BNV"
