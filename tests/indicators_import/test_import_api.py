"""Bulk import of yearly reports through HTTP (the app in this process, real PostgreSQL and
Kafka). Units are put straight into the service's own copy of the hierarchy."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest
from openpyxl import Workbook, load_workbook

from chungtay_common import hierarchy
from chungtay_common.auth import Role
from chungtay_common.contracts.registration import UnitKind, UnitSnapshot, UnitVersion
from services.indicators.api import build_app
from services.indicators.imports import CSV_TYPE, XLSX_TYPE
from services.indicators.settings import IndicatorsSettings
from tests.conftest import TestStack
from tests.harness import in_process

TABLES = ("reports", "report_versions", "outbox", "audit_log", "idempotency_keys")
REQUIRED = {"households_total": 2000, "poor_households": 150, "near_poor_households": 120,
            "escaped_poverty": 30, "newly_poor": 5, "fell_back_into_poverty": 2}


@pytest.fixture(scope="module")
def settings(stack: TestStack) -> IndicatorsSettings:
    s = stack.settings(IndicatorsSettings, "indicators")
    assert isinstance(s, IndicatorsSettings)
    return s.model_copy(update={"import_max_bytes": 200_000})


@pytest.fixture(scope="module")
async def api(settings: IndicatorsSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(build_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
async def db(settings: IndicatorsSettings, api: httpx.AsyncClient
             ) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(settings.dsn())
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def counts(db: asyncpg.Connection) -> Callable[[], Awaitable[dict[str, int]]]:
    # report.overdue rows come from the periodic job of any indicators app sharing the test
    # database, whatever the import does: they are not counted
    where = {"outbox": " WHERE event_type <> 'report.overdue'",
             "audit_log": " WHERE action <> 'report.overdue'"}

    async def count() -> dict[str, int]:
        return {t: await db.fetchval(f"SELECT count(*) FROM {t}{where.get(t, '')}")
                for t in TABLES}

    return count


def auth(stack: TestStack, *roles: Role, unit: uuid.UUID | None = None) -> dict[str, str]:
    return {"authorization": f"Bearer {stack.token(*roles, unit=unit, sub='importer')}"}


@pytest.fixture
async def tree(db: asyncpg.Connection, unique_code: Callable[[], str]) -> dict[str, Any]:
    """A province, a district and three communes with fresh codes, valid from 2015."""
    ids: dict[str, uuid.UUID] = {}

    async def add(key: str, kind: UnitKind, subkind: str, parent: str | None) -> None:
        unit_id = uuid.uuid4()
        ids[key] = unit_id
        code = unique_code()
        codes[key] = code
        await hierarchy.apply_snapshot(db, UnitSnapshot(
            unit_id=unit_id, kind=kind, revision=1, versions=[UnitVersion(
                valid_from=date(2015, 1, 1), code=code, name=f"Đơn vị thử {code}",
                subkind=subkind, parent_id=ids[parent] if parent else None)]))

    codes: dict[str, str] = {}
    await add("province", UnitKind.PROVINCE, "tinh", None)
    await add("district", UnitKind.DISTRICT, "huyen", "province")
    for i in range(3):
        await add(f"commune{i}", UnitKind.COMMUNE, "xa", "district")
    return {"ids": ids, "codes": codes}


@pytest.fixture
async def campaign(api: httpx.AsyncClient, stack: TestStack) -> str:
    r = await api.post("/v1/campaigns", headers=auth(stack, Role.ADMIN), json={
        "code": f"thu-{uuid.uuid4().hex[:10]}", "name": "Chiến dịch thử",
        "first_year": 2016, "last_year": 2020})
    assert r.status_code == 201, r.text
    campaign_id: str = r.json()["campaign_id"]
    return campaign_id


def csv_file(rows: list[tuple[Any, ...]], extra: str = "") -> bytes:
    head = "Năm,Mã đơn vị,Mã chỉ tiêu,Giá trị" + (f",{extra}" if extra else "")
    return "\n".join([head, *(",".join(str(c) for c in r) for r in rows)]).encode() + b"\n"


def full(year: int, code: str, values: dict[str, int] = REQUIRED, *extra: Any
         ) -> list[tuple[Any, ...]]:
    return [(year, code, k, v, *extra) for k, v in values.items()]


async def post(api: httpx.AsyncClient, campaign: str, body: bytes, headers: dict[str, str],
               media: str = CSV_TYPE, key: str | None = None, **params: str
               ) -> httpx.Response:
    return await api.post(f"/v1/campaigns/{campaign}/reports/import", content=body,
                          params=params, headers={**headers, "content-type": media,
                                                  "idempotency-key": key or uuid.uuid4().hex})


async def test_good_file_creates_reports_and_retry_changes_nothing(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Callable[[], Awaitable[dict[str, int]]]) -> None:
    c = tree["codes"]
    body = csv_file(full(2016, c["commune0"]) + full(2016, c["commune1"])
                    + full(2017, c["commune0"]))
    before = await counts()
    r = await post(api, campaign, body, auth(stack, Role.ADMIN), key="import-good-1",
                   submit="true")
    assert r.status_code == 200, r.text
    assert r.json() | {"campaign_id": None} == {
        "campaign_id": None, "submitted": True, "reports": 3, "values": 18, "units": 2,
        "years": [2016, 2017], "reports_with_warnings": 1, "backfilled_submissions": 0}
    after = await counts()
    assert after["reports"] - before["reports"] == 3
    assert after["report_versions"] - before["report_versions"] == 3
    assert after["outbox"] - before["outbox"] == 3  # report.submitted each

    again = await post(api, campaign, body, auth(stack, Role.ADMIN), key="import-good-1",
                       submit="true")
    assert again.status_code == 200 and again.headers["idempotency-replayed"] == "true"
    assert again.json() == r.json()
    assert await counts() == after

    report = (await api.get(f"/v1/campaigns/{campaign}/reports/{tree['ids']['commune0']}/2017",
                            headers=auth(stack, Role.ADMIN))).json()
    assert report["status"] == "submitted" and report["values"]["poor_households"] == 150
    assert [w["code"] for w in report["warnings"]] == ["balance"]  # 150 - 30 + 5 + 2 != 150


async def test_bad_file_changes_nothing(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Callable[[], Awaitable[dict[str, int]]]) -> None:
    c = tree["codes"]
    rows = full(2018, c["commune0"]) + full(2018, c["commune1"]) + [
        (2018, "99999999", "poor_households", 1),  # row 14: unknown unit
        (2018, c["commune2"], "no_such_indicator", 1),  # row 15
        (2018, c["commune2"], "poor_households", -3),  # row 16
        (2018, c["district"], "poor_rate_pct", 3),  # row 17: derived
    ]
    # row 3: more than the households; row 4: near-poor on top of them too
    rows[1] = (2018, c["commune0"], "poor_households", 5000)
    before = await counts()
    r = await post(api, campaign, csv_file(rows), auth(stack, Role.ADMIN))
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert set(errors) == {"sheet csv row 3: Giá trị", "sheet csv row 4: Giá trị",
                           "sheet csv row 14: Mã đơn vị",
                           "sheet csv row 15: Mã chỉ tiêu", "sheet csv row 16: Giá trị",
                           "sheet csv row 17: Mã chỉ tiêu"}, errors
    assert errors["sheet csv row 14: Mã đơn vị"] == "no unit has code 99999999 in 2018"
    assert "nothing was imported" in r.json()["detail"]
    assert await counts() == before


async def test_missing_required_on_submit_names_the_report(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Callable[[], Awaitable[dict[str, int]]]) -> None:
    c = tree["codes"]
    before = await counts()
    r = await post(api, campaign, csv_file([(2019, c["commune0"], "poor_households", 3)]),
                   auth(stack, Role.ADMIN), submit="true")
    assert r.status_code == 422
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == ["sheet csv row 2: Mã chỉ tiêu"] * 5
    assert await counts() == before


async def test_xlsx_sheet_per_year_saved_as_drafts(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str) -> None:
    c = tree["codes"]
    book = Workbook()
    book.remove(book.active)
    for year in (2016, 2017):
        ws = book.create_sheet(str(year))
        ws.append(["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"])
        ws.append([int(c["commune2"]), "poor_households", 10 + year - 2016])
    out = io.BytesIO()
    book.save(out)
    r = await post(api, campaign, out.getvalue(), auth(stack, Role.ADMIN), media=XLSX_TYPE)
    assert r.status_code == 200, r.text
    assert r.json()["reports"] == 2 and r.json()["submitted"] is False
    report = (await api.get(f"/v1/campaigns/{campaign}/reports/{tree['ids']['commune2']}/2017",
                            headers=auth(stack, Role.ADMIN))).json()
    assert report["status"] == "draft" and report["values"] == {"poor_households": 11}


async def test_reporter_of_another_unit_is_refused(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Callable[[], Awaitable[dict[str, int]]]) -> None:
    c = tree["codes"]
    before = await counts()
    reporter = auth(stack, Role.REPORTER, unit=tree["ids"]["commune0"])
    r = await post(api, campaign, csv_file(full(2016, c["commune0"]) + full(2016, c["commune1"])),
                   reporter)
    assert r.status_code == 403
    assert [e["field"] for e in r.json()["errors"]] == ["sheet csv row 8: Mã đơn vị"]
    assert await counts() == before
    ok = await post(api, campaign, csv_file(full(2016, c["commune0"])), reporter)
    assert ok.status_code == 200, ok.text


async def test_historical_submission_time_is_admin_only_and_recorded(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        db: asyncpg.Connection) -> None:
    c = tree["codes"]
    body = csv_file(full(2016, c["commune0"], REQUIRED, "2016-11-25")
                    + full(2016, c["commune1"], REQUIRED, "2016-11-10"), extra="Ngày nộp")
    reporter = auth(stack, Role.REPORTER, unit=tree["ids"]["district"])
    assert (await post(api, campaign, body, reporter, submit="true")).status_code == 403
    r = await post(api, campaign, body, auth(stack, Role.ADMIN), submit="true",
                   note="dữ liệu lịch sử")
    assert r.status_code == 200, r.text
    assert r.json()["backfilled_submissions"] == 2
    board = (await api.get(f"/v1/campaigns/{campaign}/status",
                           params={"year": 2016, "unit_id": str(tree["ids"]["district"])},
                           headers=auth(stack, Role.ADMIN))).json()
    punctuality = {u["code"]: u["punctuality"] for u in board["units"]}
    assert punctuality == {c["district"]: "missing", c["commune0"]: "late",
                           c["commune1"]: "on_time", c["commune2"]: "missing"}
    history = (await api.get(
        f"/v1/campaigns/{campaign}/reports/{tree['ids']['commune0']}/2016/history",
        headers=auth(stack, Role.ADMIN))).json()
    assert history[-1]["note"].startswith("dữ liệu lịch sử; back-filled historical record: "
                                          "submitted at 2016-11-25T09:00:00+07:00")
    report_id = await db.fetchval("SELECT report_id FROM reports WHERE unit_id = $1",
                                  tree["ids"]["commune0"])
    audit = await db.fetchrow("SELECT after FROM audit_log WHERE entity_id = $1 "
                              "ORDER BY id DESC LIMIT 1", str(report_id))
    assert "back-filled" in json.loads(audit["after"])["reason"]
    # without submit=true the column is refused
    again = await post(api, campaign, body, auth(stack, Role.ADMIN))
    assert again.status_code == 422


async def test_templates(api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any],
                         campaign: str) -> None:
    params = {"year": 2019, "unit_id": str(tree["ids"]["district"])}
    r = await api.get(f"/v1/campaigns/{campaign}/reports/template.csv", params=params,
                      headers=auth(stack, Role.VIEWER, unit=tree["ids"]["district"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Năm,Mã đơn vị,Tên đơn vị,Mã chỉ tiêu,Tên chỉ tiêu,Giá trị"
    assert len(lines) == 1 + 4 * 13  # district + 3 communes, 13 entered indicators each
    assert lines[1].startswith(f"2019,{tree['codes']['district']},")
    assert lines[1].endswith(",")
    x = await api.get(f"/v1/campaigns/{campaign}/reports/template.xlsx", params=params,
                      headers=auth(stack, Role.ADMIN))
    assert x.status_code == 200 and x.headers["content-type"] == XLSX_TYPE
    book = load_workbook(io.BytesIO(x.content), read_only=True)
    assert book.sheetnames == ["2019"]
    assert sum(1 for _ in book["2019"].iter_rows()) == len(lines)


async def test_refused_files(api: httpx.AsyncClient, stack: TestStack, campaign: str,
                             counts: Callable[[], Awaitable[dict[str, int]]]) -> None:
    before = await counts()
    admin = auth(stack, Role.ADMIN)
    r = await post(api, campaign, b"{}", admin, media="application/json")
    assert r.status_code == 415
    big = csv_file([(2016, "1", "poor_households", 1)] * 10_000)
    r = await post(api, campaign, big, admin)
    assert r.status_code == 413 and "200000 bytes" in r.json()["detail"]
    r = await api.post(f"/v1/campaigns/{campaign}/reports/import", content=b"x",
                       headers={**admin, "content-type": CSV_TYPE})
    assert r.status_code == 422  # no Idempotency-Key
    assert await counts() == before


async def test_bad_values_and_fields_are_refused_naming_where(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Callable[[], Awaitable[dict[str, int]]]) -> None:
    c = tree["codes"]
    admin = auth(stack, Role.ADMIN)
    before = await counts()
    huge = [*full(2016, c["commune0"]), (2016, c["commune0"], "initiatives", "9" * 400)]
    r = await post(api, campaign, csv_file(huge), admin, submit="true")
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["sheet csv row 8: Giá trị"]
    assert "must be between" in r.json()["errors"][0]["message"]

    ancient = csv_file(full(2016, c["commune0"], REQUIRED, "0001-01-01"), extra="Ngày nộp")
    r = await post(api, campaign, ancient, admin, submit="true")
    assert r.status_code == 422, r.text
    assert {e["field"] for e in r.json()["errors"]} == {
        f"sheet csv row {n}: Ngày nộp" for n in range(2, 8)}

    wide = csv_file([(2016, c["commune0"], "initiatives", "1" + "0" * 140_000)])
    r = await post(api, campaign, wide, admin)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["body"]
    assert await counts() == before
