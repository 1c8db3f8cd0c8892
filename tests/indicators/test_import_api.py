"""Bulk import of yearly reports through HTTP (the app in this process, real PostgreSQL and
Kafka). Units are put straight into the service's own copy of the hierarchy."""

from __future__ import annotations

import io
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import IO, Any

import asyncpg
import httpx
import pytest
from openpyxl import Workbook, load_workbook

from chungtay_common.auth import Role
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.http import CSV_TYPE, XLSX_TYPE
from services.indicators import imports
from tests.conftest import TestStack, next_code
from tests.indicators.conftest import IMPORT_MAX_BYTES, count_rows, hold_unit
from tests.indicators.test_imports import _with_part, xlsx
from tests.support import assert_problem, bearer, ok

REQUIRED = {"households_total": 2000, "poor_households": 150, "near_poor_households": 120,
            "escaped_poverty": 30, "newly_poor": 5, "fell_back_into_poverty": 2}
Counts = Callable[[], Awaitable[dict[str, int]]]


@pytest.fixture
def counts(indicators_db: asyncpg.Connection) -> Counts:
    return lambda: count_rows(indicators_db)


def refused(r: httpx.Response) -> list[str]:
    """The fields a 422 refusal names (its problem body checked)."""
    return [e["field"] for e in assert_problem(r, 422)["errors"]]


def auth(stack: TestStack, *roles: Role, unit: uuid.UUID | None = None) -> dict[str, str]:
    return bearer(stack.token(*roles, unit=unit, sub="importer"))


@pytest.fixture
async def tree(indicators_db: asyncpg.Connection) -> dict[str, Any]:
    """A province, a district and three communes with fresh codes, valid from 2015."""
    codes = {k: next_code() for k in ("district", "commune0", "commune1", "commune2")}
    since = date(2015, 1, 1)
    province = await hold_unit(indicators_db, UnitKind.PROVINCE, "Tỉnh thử", None, since)
    ids = {"district": await hold_unit(indicators_db, UnitKind.DISTRICT, "Huyện thử",
                                       province, since, codes["district"])}
    for k in ("commune0", "commune1", "commune2"):
        ids[k] = await hold_unit(indicators_db, UnitKind.COMMUNE, "Xã thử", ids["district"],
                                 since, codes[k])
    return {"ids": ids, "codes": codes}


@pytest.fixture
async def campaign(api: httpx.AsyncClient, stack: TestStack) -> str:
    r = await api.post("/v1/campaigns", headers=auth(stack, Role.ADMIN), json={
        "code": f"thu-{uuid.uuid4().hex[:10]}", "name": "Chiến dịch thử",
        "first_year": 2016, "last_year": 2020})
    campaign_id: str = ok(r, 201)["campaign_id"]
    return campaign_id


def csv_file(rows: list[tuple[Any, ...]], extra: str = "") -> bytes:
    head = "Năm,Mã đơn vị,Mã chỉ tiêu,Giá trị" + (f",{extra}" if extra else "")
    return "\n".join([head, *(",".join(str(c) for c in r) for r in rows)]).encode() + b"\n"


def full(year: int, code: str, values: dict[str, Any] = REQUIRED, *extra: Any
         ) -> list[tuple[Any, ...]]:
    return [(year, code, k, v, *extra) for k, v in values.items()]


async def post(api: httpx.AsyncClient, campaign: str, body: bytes, headers: dict[str, str],
               media: str = CSV_TYPE, key: str | None = None, **params: str
               ) -> httpx.Response:
    """Import ``body``, with an Idempotency-Key only when ``key`` is given."""
    return await api.post(f"/v1/campaigns/{campaign}/reports/import", content=body,
                          params=params, headers={**headers, "content-type": media,
                                                  **({"idempotency-key": key} if key else {})})


async def test_good_file_creates_reports_and_retry_changes_nothing(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Counts) -> None:
    c = tree["codes"]
    body = csv_file(full(2016, c["commune0"]) + full(2016, c["commune1"])
                    + full(2017, c["commune0"]))
    before = await counts()
    r = await post(api, campaign, body, auth(stack, Role.ADMIN), key="import-good-1",
                   submit="true")
    assert ok(r) | {"campaign_id": None} == {
        "campaign_id": None, "submitted": True, "reports": 3, "values": 18, "units": 2,
        "years": [2016, 2017], "reports_with_warnings": 1, "backfilled_submissions": 0}
    after = await counts()
    assert after["reports"] - before["reports"] == 3
    assert after["report_versions"] - before["report_versions"] == 3
    assert after["outbox"] - before["outbox"] == 3  # report.submitted each

    again = await post(api, campaign, body, auth(stack, Role.ADMIN), key="import-good-1",
                       submit="true")
    assert ok(again) == r.json() and again.headers["idempotency-replayed"] == "true"
    assert await counts() == after

    report = ok(await api.get(f"/v1/campaigns/{campaign}/reports/{tree['ids']['commune0']}/2017",
                              headers=auth(stack, Role.ADMIN)))
    assert report["status"] == "submitted" and report["values"]["poor_households"] == 150
    assert [w["code"] for w in report["warnings"]] == ["balance"]  # 150 - 30 + 5 + 2 != 150


async def test_bad_file_changes_nothing(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Counts) -> None:
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
    problem = assert_problem(r, 422)
    errors = {e["field"]: e["message"] for e in problem["errors"]}
    assert set(errors) == {"sheet csv row 3: Giá trị", "sheet csv row 4: Giá trị",
                           "sheet csv row 14: Mã đơn vị",
                           "sheet csv row 15: Mã chỉ tiêu", "sheet csv row 16: Giá trị",
                           "sheet csv row 17: Mã chỉ tiêu"}, errors
    assert errors["sheet csv row 14: Mã đơn vị"] == "no unit has code 99999999 in 2018"
    assert "nothing was imported" in problem["detail"]
    assert await counts() == before


async def test_missing_required_on_submit_names_the_report(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Counts) -> None:
    c = tree["codes"]
    before = await counts()
    r = await post(api, campaign, csv_file([(2019, c["commune0"], "poor_households", 3)]),
                   auth(stack, Role.ADMIN), submit="true")
    fields = [e["field"] for e in assert_problem(r, 422)["errors"]]
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
    assert (ok(r)["reports"], r.json()["submitted"]) == (2, False)
    report = ok(await api.get(f"/v1/campaigns/{campaign}/reports/{tree['ids']['commune2']}/2017",
                              headers=auth(stack, Role.ADMIN)))
    assert report["status"] == "draft" and report["values"] == {"poor_households": 11}


async def test_reporter_of_another_unit_is_refused(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Counts) -> None:
    c = tree["codes"]
    before = await counts()
    reporter = auth(stack, Role.REPORTER, unit=tree["ids"]["commune0"])
    r = await post(api, campaign, csv_file(full(2016, c["commune0"]) + full(2016, c["commune1"])),
                   reporter)
    assert [e["field"] for e in assert_problem(r, 403)["errors"]] == [
        "sheet csv row 8: Mã đơn vị"]
    assert await counts() == before
    ok(await post(api, campaign, csv_file(full(2016, c["commune0"])), reporter))


async def test_historical_submission_time_is_admin_only_and_recorded(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        indicators_db: asyncpg.Connection) -> None:
    c = tree["codes"]
    body = csv_file(full(2016, c["commune0"], REQUIRED, "2016-11-25")
                    + full(2016, c["commune1"], REQUIRED, "2016-11-10"), extra="Ngày nộp")
    reporter = auth(stack, Role.REPORTER, unit=tree["ids"]["district"])
    r = await post(api, campaign, body, reporter, submit="true")
    assert "historical submission times" in assert_problem(r, 403)["detail"]
    # only within an open data migration, named by the import
    admin = auth(stack, Role.ADMIN)
    r = await post(api, campaign, body, admin, submit="true", note="dữ liệu lịch sử")
    assert refused(r) == ["migration_id"]
    migration = ok(await api.post("/v1/data-migrations", headers=admin, json={
        "reference": "CĐDL-2016", "reason": "sổ theo dõi báo cáo năm 2016"}), 201)
    r = await post(api, campaign, body, admin, submit="true", note="dữ liệu lịch sử",
                   migration_id=migration["migration_id"])
    assert ok(r)["backfilled_submissions"] == 2
    board = ok(await api.get(f"/v1/campaigns/{campaign}/status",
                             params={"year": 2016, "unit_id": str(tree["ids"]["district"])},
                             headers=auth(stack, Role.ADMIN)))
    punctuality = {u["code"]: u["punctuality"] for u in board["units"]}
    assert punctuality == {c["district"]: "missing", c["commune0"]: "late",
                           c["commune1"]: "on_time", c["commune2"]: "missing"}
    history = ok(await api.get(
        f"/v1/campaigns/{campaign}/reports/{tree['ids']['commune0']}/2016/history",
        headers=auth(stack, Role.ADMIN)))
    assert history[-1]["note"].startswith("dữ liệu lịch sử; back-filled historical record: "
                                          "submitted at 2016-11-25T09:00:00+07:00")
    report_id = await indicators_db.fetchval(
        "SELECT report_id FROM reports WHERE unit_id = $1", tree["ids"]["commune0"])
    audit = await indicators_db.fetchrow(
        "SELECT after FROM audit_log WHERE entity_id = $1 AND action = 'report.submit'"
        " ORDER BY id DESC LIMIT 1", str(report_id))
    assert audit is not None and "back-filled" in audit["after"]["reason"]
    assert history[-1]["note"].endswith(
        f"within data migration CĐDL-2016 ({migration['migration_id']})")
    assert audit["after"]["data_migration"]["migration_id"] == migration["migration_id"]
    # without submit=true the column is refused
    again = await post(api, campaign, body, auth(stack, Role.ADMIN))
    assert set(refused(again)) == {f"sheet csv row {n}: Ngày nộp" for n in range(2, 14)} | {
        "sheet csv row 2: Mã đơn vị", "sheet csv row 8: Mã đơn vị"}  # each report's too


async def test_templates(api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any],
                         campaign: str) -> None:
    params: dict[str, str | int] = {"year": 2019, "unit_id": str(tree["ids"]["district"])}
    r = await api.get(f"/v1/campaigns/{campaign}/reports/template.csv", params=params,
                      headers=auth(stack, Role.VIEWER, unit=tree["ids"]["district"]))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="chungtay-bao-cao-2019.csv"'
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Năm,Mã đơn vị,Tên đơn vị,Mã chỉ tiêu,Tên chỉ tiêu,Giá trị"
    assert len(lines) == 1 + 4 * 13  # district + 3 communes, 13 entered indicators each
    assert lines[1].startswith(f"2019,{tree['codes']['district']},")
    assert lines[1].endswith(",")
    x = await api.get(f"/v1/campaigns/{campaign}/reports/template.xlsx", params=params,
                      headers=auth(stack, Role.ADMIN))
    assert x.status_code == 200, x.text
    assert x.headers["content-type"] == XLSX_TYPE
    book = load_workbook(io.BytesIO(x.content), read_only=True)
    assert book.sheetnames == ["2019"]
    assert sum(1 for _ in book["2019"].iter_rows()) == len(lines)


async def test_refused_files(api: httpx.AsyncClient, stack: TestStack, campaign: str,
                             counts: Counts) -> None:
    before = await counts()
    admin = auth(stack, Role.ADMIN)
    r = await post(api, campaign, b"{}", admin, media="application/json")
    assert_problem(r, 415, type="unsupported_media_type")
    big = csv_file([(2016, "1", "poor_households", 1)] * 10_000)
    r = await post(api, campaign, big, admin)
    assert f"{IMPORT_MAX_BYTES} bytes" in assert_problem(r, 413)["detail"]
    r = await post(api, campaign, b"x", admin)
    assert refused(r) == ["sheet csv row 1: x", "sheet csv row 1: Năm",
                          "sheet csv row 1: Mã đơn vị", "sheet csv row 1: Mã chỉ tiêu",
                          "sheet csv row 1: Giá trị"]  # an unknown column, the missing ones
    assert await counts() == before


async def test_an_import_runs_without_an_idempotency_key_and_media_types_ignore_case(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Counts) -> None:
    before = await counts()
    body = csv_file(full(2016, tree["codes"]["commune2"]))
    for version in (1, 2):  # without a key, each request runs
        assert ok(await post(api, campaign, body, auth(stack, Role.ADMIN),
                             media="Text/CSV; charset=UTF-8"))["reports"] == 1
        report = ok(await api.get(
            f"/v1/campaigns/{campaign}/reports/{tree['ids']['commune2']}/2016",
            headers=auth(stack, Role.ADMIN)))
        assert report["version"] == version
    assert (await counts())["report_versions"] == before["report_versions"] + 2


async def test_an_import_lists_a_locked_report_with_the_other_problems(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Counts) -> None:
    c, admin = tree["codes"], auth(stack, Role.ADMIN)
    ok(await post(api, campaign, csv_file(full(2017, c["commune0"])), admin, submit="true"))
    path = f"/v1/campaigns/{campaign}/reports/{tree['ids']['commune0']}/2017"
    # another administrator: whoever submitted a report does not also accept it
    ok(await api.post(path + "/accept", headers=bearer(stack.token(Role.ADMIN, sub="checker"))))
    before = await counts()
    rows = [*full(2017, c["commune0"]), (2017, c["commune1"], "poor_households", -1)]
    problem = assert_problem(await post(api, campaign, csv_file(rows), admin), 422)
    assert {e["field"]: e["message"] for e in problem["errors"]} == {
        "sheet csv row 2: Mã đơn vị": "status: the report is accepted and locked; the board "
                                      f"can reopen it (unit {c['commune0']}, 2017)",
        "sheet csv row 8: Giá trị": "must not be negative"}
    assert await counts() == before


async def test_bad_values_and_fields_are_refused_naming_where(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Counts) -> None:
    c = tree["codes"]
    admin = auth(stack, Role.ADMIN)
    before = await counts()
    huge = [*full(2016, c["commune0"]), (2016, c["commune0"], "initiatives", "9" * 400)]
    r = await post(api, campaign, csv_file(huge), admin, submit="true")
    assert refused(r) == ["sheet csv row 8: Giá trị"]
    assert "must be between" in r.json()["errors"][0]["message"]

    ancient = csv_file(full(2016, c["commune0"], REQUIRED, "0001-01-01"), extra="Ngày nộp")
    r = await post(api, campaign, ancient, admin, submit="true")
    assert set(refused(r)) == {f"sheet csv row {n}: Ngày nộp" for n in range(2, 8)}

    wide = csv_file([(2016, c["commune0"], "initiatives", "1" + "0" * 140_000)])
    r = await post(api, campaign, wide, admin)
    assert refused(r) == ["body"]
    assert await counts() == before


async def test_numbers_are_read_as_vietnamese_write_them_unless_the_file_says_otherwise(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Counts) -> None:
    c, admin = tree["codes"], auth(stack, Role.ADMIN)
    vi = {**REQUIRED, "households_total": '"2.000"'}  # one thousand is written 1.000
    ok(await post(api, campaign, csv_file(full(2019, c["commune0"], vi)), admin))
    en = {**REQUIRED, "households_total": '"2,000"'}
    ok(await post(api, campaign, csv_file(full(2019, c["commune1"], en)), admin,
                  number_format="en"))
    for code in ("commune0", "commune1"):
        report = ok(await api.get(
            f"/v1/campaigns/{campaign}/reports/{tree['ids'][code]}/2019", headers=admin))
        assert report["values"]["households_total"] == 2000
    # a cell that does not fit the convention exactly is refused, naming it; nothing written
    before = await counts()
    bad = {**REQUIRED, "households_total": '"2.00"', "poor_households": '"150,000"'}
    r = await post(api, campaign, csv_file(full(2019, c["commune2"], bad)), admin)
    assert refused(r) == ["sheet csv row 2: Giá trị", "sheet csv row 3: Giá trị"]
    assert await counts() == before
    # the same refusal as a commune clerk reads it
    r = await post(api, campaign, csv_file(full(2019, c["commune2"], bad)),
                   {**admin, "Accept-Language": "vi"})
    body = assert_problem(r, 422)
    assert body["detail"] == "tệp có 2 lỗi"
    assert [e["message"] for e in body["errors"]] == [
        "'2.00' không phải là số viết theo kiểu 'vi' (ví dụ 1.234.567,5: '.' giữa các nhóm "
        "ba chữ số, ',' trước phần thập phân)",
        "'150,000' không rõ nghĩa: là 150 theo kiểu 'vi' nhưng là 150000 theo kiểu 'en'; "
        "hãy viết 150,0000 cho 150, hoặc 150.000 cho 150000"]
    r = await post(api, campaign, csv_file(full(2019, c["commune2"])), admin,
                   number_format="fr")
    assert_problem(r, 422)


@pytest.mark.parametrize("roles", [(Role.VIEWER,), (Role.REVIEWER, Role.COUNCIL)])
async def test_a_caller_who_may_write_no_report_is_refused_before_the_file_is_parsed(
        api: httpx.AsyncClient, stack: TestStack, tree: dict[str, Any], campaign: str,
        counts: Counts, monkeypatch: pytest.MonkeyPatch, roles: tuple[Role, ...]) -> None:
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the file was parsed before the caller's role was checked")

    monkeypatch.setattr(imports, "parse", never)
    book = Workbook()
    assert book.active is not None
    book.active.title = "2016"
    book.active.append(["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"])
    book.active.append([tree["codes"]["commune0"], "poor_households", 3])
    out = io.BytesIO()
    book.save(out)
    before = await counts()
    r = await post(api, campaign, out.getvalue(),
                   auth(stack, *roles, unit=tree["ids"]["commune0"]), media=XLSX_TYPE)
    assert "reporter" in assert_problem(r, 403)["detail"]
    assert await counts() == before


async def test_a_workbook_inflating_to_fifty_megabytes_is_refused_413_naming_its_part(
        api: httpx.AsyncClient, stack: TestStack, campaign: str, counts: Counts) -> None:
    def bomb(part: IO[bytes]) -> None:
        for _ in range(50):
            part.write(b"A" * (1024 * 1024))

    body = _with_part(xlsx({"2019": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"]]}),
                      "xl/worksheets/sheet1.xml", bomb)
    assert len(body) < IMPORT_MAX_BYTES
    before = await counts()
    r = await post(api, campaign, body, auth(stack, Role.ADMIN), media=XLSX_TYPE)
    assert "'xl/worksheets/sheet1.xml'" in assert_problem(r, 413)["detail"]
    assert await counts() == before
