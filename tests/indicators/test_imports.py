"""Parsing of bulk report files (CSV and XLSX): pure, no database."""

from __future__ import annotations

import csv
import io
import re
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any

import pytest
from openpyxl import Workbook, load_workbook

from chungtay_common import cells, clock
from chungtay_common.clock import VN
from chungtay_common.errors import InvalidInput, PayloadTooLarge
from chungtay_common.http import CSV_TYPE, XLSX_TYPE
from services.indicators import import_service, imports
from services.indicators.imports import NumberFormat, parse

HEADER = "Năm,Mã đơn vị,Mã chỉ tiêu,Giá trị\n"


def csv_body(*lines: str, header: str = HEADER, bom: bool = False) -> bytes:
    return (("\ufeff" if bom else "") + header + "".join(line + "\n" for line in lines)).encode()


def xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def fields(exc: pytest.ExceptionInfo[InvalidInput]) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


def test_good_csv_with_bom() -> None:
    rows = parse(csv_body("2019,18853,poor_households,12",
                          '2019,18853,households_total,"3000,0"', bom=True),
                 CSV_TYPE, max_bytes=10_000, max_rows=10)
    assert [(r.year, r.unit_code, r.indicator_code, r.value, r.row_number) for r in rows] == [
        (2019, "18853", "poor_households", 12, 2), (2019, "18853", "households_total", 3000, 3)]
    assert all(r.sheet == "csv" and r.submitted_at is None for r in rows)


def test_good_xlsx_with_year_column_and_numeric_codes() -> None:
    body = xlsx({"Báo cáo": [["Năm", "Mã đơn vị", "Tên đơn vị", "Mã chỉ tiêu", "Giá trị"],
                             [2018, 18853, "Phường Hải Thành", "poor_households", 7],
                             [2018, "18856", "Phường Đồng Phú", "poor_households", 3.5]]})
    rows = parse(body, XLSX_TYPE, max_bytes=1_000_000, max_rows=10)
    assert [(r.year, r.unit_code, r.value, r.sheet, r.row_number) for r in rows] == [
        (2018, "18853", 7, "Báo cáo", 2), (2018, "18856", 3.5, "Báo cáo", 3)]


def test_one_sheet_per_year() -> None:
    head = ["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"]
    body = xlsx({"2017": [head, ["18853", "poor_households", 9]],
                 "2018": [head, ["18853", "poor_households", 8]]})
    rows = parse(body, XLSX_TYPE, max_bytes=1_000_000, max_rows=10)
    assert [(r.year, r.value, r.sheet) for r in rows] == [(2017, 9, "2017"), (2018, 8, "2018")]


def test_sheet_without_year_refused() -> None:
    body = xlsx({"Sheet": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"], ["1", "x", 1]]})
    with pytest.raises(InvalidInput) as exc:
        parse(body, XLSX_TYPE, max_bytes=1_000_000, max_rows=10)
    assert "sheet Sheet row 1: Năm" in fields(exc)


def test_xlsx_formula_refused() -> None:
    body = xlsx({"2019": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"],
                          ["18853", "poor_households", "=1+1"],
                          ["18853", "households_total", 10]]})
    with pytest.raises(InvalidInput) as exc:
        parse(body, XLSX_TYPE, max_bytes=1_000_000, max_rows=10)
    assert fields(exc) == {"sheet 2019 row 2: Giá trị":
                           "formulas are not accepted: enter the value itself"}


def test_csv_formula_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse(csv_body("2019,18853,poor_households,=A1*2"), CSV_TYPE, max_bytes=10_000,
              max_rows=10)
    assert "sheet csv row 2: Giá trị" in fields(exc)


def test_wrong_header_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse(csv_body("2019,18853,poor_households,1", header="Năm,Mã ĐV,Mã chỉ tiêu,Giá trị\n"),
              CSV_TYPE, max_bytes=10_000, max_rows=10)
    errors = fields(exc)
    assert "unknown column" in errors["sheet csv row 1: Mã ĐV"]
    assert errors["sheet csv row 1: Mã đơn vị"] == "column missing"


def test_csv_needs_year_column() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse(csv_body("18853,poor_households,1", header="Mã đơn vị,Mã chỉ tiêu,Giá trị\n"),
              CSV_TYPE, max_bytes=10_000, max_rows=10)
    assert fields(exc) == {"sheet csv row 1: Năm": "column missing"}


def test_every_bad_row_listed() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse(csv_body("2019,18853,poor_households,abc", "19,18853,newly_poor,1",
                       "2019,,escaped_poverty,1", "2019,18853,households_total,1.00"),
              CSV_TYPE, max_bytes=10_000, max_rows=10)
    assert set(fields(exc)) == {"sheet csv row 2: Giá trị", "sheet csv row 3: Năm",
                                "sheet csv row 4: Mã đơn vị", "sheet csv row 5: Giá trị"}


def test_duplicate_rows_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse(csv_body("2019,18853,poor_households,1", "2019,18856,poor_households,1",
                       "2019,18853,poor_households,2"), CSV_TYPE, max_bytes=10_000, max_rows=10)
    assert fields(exc) == {"sheet csv row 4: Mã chỉ tiêu":
                           "poor_households of unit 18853 for 2019 is already on sheet csv row 2"}


def test_duplicates_across_sheets_refused() -> None:
    body = xlsx({"2019": [["Năm", "Mã đơn vị", "Mã chỉ tiêu", "Giá trị"],
                          [2019, "1", "poor_households", 1]],
                 "khac": [["Năm", "Mã đơn vị", "Mã chỉ tiêu", "Giá trị"],
                          [2019, "1", "poor_households", 2]]})
    with pytest.raises(InvalidInput) as exc:
        parse(body, XLSX_TYPE, max_bytes=1_000_000, max_rows=10)
    assert list(fields(exc)) == ["sheet khac row 2: Mã chỉ tiêu"]


def test_too_many_rows_refused() -> None:
    lines = [f"2019,{18000 + i},poor_households,1" for i in range(11)]
    with pytest.raises(InvalidInput) as exc:
        parse(csv_body(*lines), CSV_TYPE, max_bytes=100_000, max_rows=10)
    assert fields(exc) == {"body": "more than 10 rows: split the file"}


def test_too_large_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        parse(csv_body("2019,18853,poor_households,1") * 100, CSV_TYPE, max_bytes=1024,
              max_rows=10_000)


def test_unknown_type_and_bad_files() -> None:
    with pytest.raises(imports.UnsupportedFile):
        parse(b"{}", "application/json", max_bytes=1000, max_rows=10)
    with pytest.raises(InvalidInput):
        parse(b"not a zip", XLSX_TYPE, max_bytes=1000, max_rows=10)
    with pytest.raises(InvalidInput):
        parse("Năm".encode("utf-16"), CSV_TYPE, max_bytes=1000, max_rows=10)
    with pytest.raises(InvalidInput):
        parse(HEADER.encode(), CSV_TYPE, max_bytes=1000, max_rows=10)  # no values


def test_submitted_at_column() -> None:
    rows = parse(csv_body("2019,1,poor_households,1,2019-11-18",
                          "2019,2,poor_households,1,2019-11-25T14:30",
                          header=HEADER.strip() + ",Ngày nộp\n"),
                 CSV_TYPE, max_bytes=10_000, max_rows=10)
    assert [r.submitted_at.isoformat() for r in rows if r.submitted_at] == [
        "2019-11-18T09:00:00+07:00", "2019-11-25T14:30:00+07:00"]
    assert isinstance(rows[0].submitted_at, datetime)


def test_templates_read_back() -> None:
    rows = [imports.TemplateRow("18853", "Phường Hải Thành", "poor_households", "Số hộ nghèo")]
    for body, media in ((imports.template_csv(2019, rows), CSV_TYPE),
                        (imports.template_xlsx(2019, rows), XLSX_TYPE)):
        # an unfilled template is refused row by row (values empty), naming the right cells
        with pytest.raises(InvalidInput) as exc:
            parse(body, media, max_bytes=1_000_000, max_rows=10)
        assert list(fields(exc)) == [
            f"sheet {'csv' if media == CSV_TYPE else '2019'} row 2: Giá trị"]


# --------------------------------------------------------------------------- review findings


def test_a_csv_field_over_the_csv_limit_is_refused() -> None:
    body = csv_body("2019,1,poor_households,1", '2019,2,poor_households,"' + "9" * 140_000 + '"')
    with pytest.raises(InvalidInput) as exc:
        parse(body, CSV_TYPE, max_bytes=1_000_000, max_rows=10)
    assert list(fields(exc)) == ["body"]
    assert "not a readable CSV" in fields(exc)["body"]


def _with_sheet_xml(body: bytes, replace: Callable[[bytes], bytes]) -> bytes:
    """The workbook with its first sheet's XML replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(body)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = replace(data)
            dst.writestr(item, data)
    return out.getvalue()


def test_a_workbook_whose_sheet_is_not_well_formed_is_refused() -> None:
    good = xlsx({"2019": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"],
                          ["1", "poor_households", 2], ["2", "poor_households", 3]]})
    for broken in (lambda x: x[: len(x) // 2], lambda x: x.replace(b"</sheetData>", b"<c>")):
        with pytest.raises(InvalidInput) as exc:
            parse(_with_sheet_xml(good, broken), XLSX_TYPE, max_bytes=1_000_000, max_rows=10)
        assert fields(exc) == {"body": "is not a readable XLSX workbook"}


def test_blank_rows_count_against_the_row_limit() -> None:
    book = Workbook()
    ws = book.active
    ws.title = "2019"
    ws.append(["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"])
    ws.append(["1", "poor_households", 2])
    ws.cell(row=5_000, column=1, value="2")
    ws.cell(row=5_000, column=2, value="poor_households")
    ws.cell(row=5_000, column=3, value=3)
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(InvalidInput) as exc:
        parse(out.getvalue(), XLSX_TYPE, max_bytes=1_000_000, max_rows=100)
    assert fields(exc) == {"body": "more than 100 rows: split the file"}
    assert len(parse(out.getvalue(), XLSX_TYPE, max_bytes=1_000_000, max_rows=5_000)) == 2
    # blank lines of a CSV count too
    body = csv_body("2019,1,poor_households,1", *[""] * 20, "2019,2,poor_households,1")
    with pytest.raises(InvalidInput):
        parse(body, CSV_TYPE, max_bytes=1_000_000, max_rows=10)


@pytest.mark.parametrize("when", ["0001-01-01", "1990-01-01", "2017-12-31", "9999-12-31",
                                  "2999-01-01T10:00"])
def test_a_submission_date_far_from_the_report_year_is_refused(when: str) -> None:
    body = csv_body(f"2019,1,poor_households,1,{when}", header=HEADER.strip() + ",Ngày nộp\n")
    with pytest.raises(InvalidInput) as exc:
        parse(body, CSV_TYPE, max_bytes=10_000, max_rows=10)
    assert list(fields(exc)) == ["sheet csv row 2: Ngày nộp"]
    assert "must be between 2018-01-01 and now" in fields(exc)["sheet csv row 2: Ngày nộp"]


def test_the_backfill_note_dates_the_recording_in_vietnam() -> None:
    """"Recorded on" is today in Vietnam, which is already tomorrow at 20:00 UTC."""
    with clock.frozen(datetime(2019, 11, 18, 20, 0, tzinfo=UTC)):
        note = import_service._note("lịch sử", datetime(2019, 11, 18, 9, tzinfo=VN), "admin")
    assert note == ("lịch sử; back-filled historical record: submitted at "
                    "2019-11-18T09:00:00+07:00 (Vietnam time), recorded by admin on 2019-11-19")
    assert import_service._note(None, None, "admin") is None


# --------------------------------------------------------------------------- numbers as text


@pytest.mark.parametrize(("text", "fmt", "value"), [
    ("1.000", NumberFormat.VI, 1000), ("1,5", NumberFormat.VI, 1.5),
    ("1.234.567,25", NumberFormat.VI, 1234567.25), ("-2,5", NumberFormat.VI, -2.5),
    ("0,125", NumberFormat.VI, 0.125), ("1 000", NumberFormat.VI, 1000),
    ("1000", NumberFormat.VI, 1000), ("12", NumberFormat.EN, 12),
    ("1,000", NumberFormat.EN, 1000), ("1.5", NumberFormat.EN, 1.5),
    ("1,234,567.25", NumberFormat.EN, 1234567.25), ("0.125", NumberFormat.EN, 0.125),
])
def test_a_text_number_is_read_by_the_declared_convention(text: str, fmt: NumberFormat,
                                                          value: float) -> None:
    got = imports.parse_number(text, fmt)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(("text", "fmt", "why"), [
    ("1.00", NumberFormat.VI, "is not a number as written in 'vi'"),  # a group of two
    ("1.5", NumberFormat.VI, "is not a number as written in 'vi'"),
    ("1,234.5", NumberFormat.VI, "is not a number as written in 'vi'"),
    ("1.000,000.5", NumberFormat.VI, "is not a number as written in 'vi'"),
    ("1,000", NumberFormat.VI, "is ambiguous: 1 as written in 'vi' but 1000"),
    ("1.000", NumberFormat.EN, "is ambiguous: 1 as written in 'en' but 1000"),
    ("1,5", NumberFormat.EN, "is not a number as written in 'en'"),
    ("1.234,5", NumberFormat.EN, "is not a number as written in 'en'"),
])
def test_a_text_number_not_fitting_the_convention_exactly_is_refused(
        text: str, fmt: NumberFormat, why: str) -> None:
    got = imports.parse_number(text, fmt)
    assert isinstance(got, str) and why in got


def test_a_csv_reads_vietnamese_numbers_by_default_and_english_ones_when_declared() -> None:
    vi = parse(csv_body("2019,1,households_total,1.000", '2019,1,poor_households,"1,5"'),
               CSV_TYPE, max_bytes=10_000, max_rows=10)
    assert [r.value for r in vi] == [1000, 1.5]
    with pytest.raises(InvalidInput) as exc:  # unquoted, "1,5" would be read as 1
        parse(csv_body("2019,1,poor_households,1,5"), CSV_TYPE, max_bytes=10_000, max_rows=10)
    assert list(fields(exc)) == ["sheet csv row 2: column 5"]
    en = parse(csv_body("2019,1,households_total,\"1,000\"", "2019,1,poor_households,1.5"),
               CSV_TYPE, max_bytes=10_000, max_rows=10, number_format=NumberFormat.EN)
    assert [r.value for r in en] == [1000, 1.5]
    with pytest.raises(InvalidInput) as exc:
        parse(csv_body("2019,1,households_total,1.000"), CSV_TYPE, max_bytes=10_000,
              max_rows=10, number_format=NumberFormat.EN)
    assert list(fields(exc)) == ["sheet csv row 2: Giá trị"]


def test_xlsx_text_cells_follow_the_convention_and_numeric_cells_stay_numbers() -> None:
    body = xlsx({"2019": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"],
                          ["1", "households_total", "1.000"], ["1", "poor_households", 1.5],
                          ["1", "near_poor_households", 1000], ["1", "newly_poor", "1.00"]]})
    with pytest.raises(InvalidInput) as exc:
        parse(body, XLSX_TYPE, max_bytes=1_000_000, max_rows=10)
    assert list(fields(exc)) == ["sheet 2019 row 5: Giá trị"]
    good = xlsx({"2019": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"],
                          ["1", "households_total", "1.000"], ["1", "poor_households", 1.5],
                          ["1", "near_poor_households", 1000]]})
    assert [r.value for r in parse(good, XLSX_TYPE, max_bytes=1_000_000, max_rows=10)] == [
        1000, 1.5, 1000]


def test_a_number_of_thousands_of_digits_is_refused_not_a_server_error() -> None:
    message = imports.parse_number("9" * 5000)
    assert isinstance(message, str) and "more than 1000 characters" in message


# --------------------------------------------------------------------------- bounded workbooks


def _with_part(body: bytes, name: str, write: Callable[[IO[bytes]], object]) -> bytes:
    """The workbook with its part ``name`` written by ``write`` (streamed: the part is never
    whole in memory), deflated at the highest level."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(body)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for item in src.infolist():
            if item.filename != name:
                dst.writestr(item.filename, src.read(item.filename))
        with dst.open(name, "w") as part:
            write(part)
    return out.getvalue()


def test_a_cell_of_fifty_megabytes_is_refused_at_once_without_being_inflated() -> None:
    good = xlsx({"2019": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"], ["1", "poor_households", 2]]})
    size = 50 * 1024 * 1024
    chunk = b"A" * (1024 * 1024)

    def bomb(part: IO[bytes]) -> None:
        part.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
                   b'main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>')
        for _ in range(size // len(chunk)):
            part.write(chunk)
        part.write(b"</t></is></c></row></sheetData></worksheet>")

    body = _with_part(good, "xl/worksheets/sheet1.xml", bomb)
    assert len(body) < size // 100  # a few hundred kilobytes at most
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(PayloadTooLarge) as exc:
            parse(body, XLSX_TYPE, max_bytes=10_000_000, max_rows=10_000)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "xl/worksheets/sheet1.xml" in str(exc.value)
    assert elapsed < 0.5
    assert peak < 2 * 1024 * 1024  # the 50 MB string was never built


def test_a_part_compressed_too_much_is_refused_even_under_the_size_limits() -> None:
    good = xlsx({"2019": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"], ["1", "poor_households", 2]]})
    body = _with_part(good, "xl/worksheets/sheet1.xml",
                      lambda part: part.write(b" " * (2 * 1024 * 1024)))  # 2 MiB, ~1000:1
    with pytest.raises(PayloadTooLarge) as exc:
        parse(body, XLSX_TYPE, max_bytes=10_000_000, max_rows=10_000)
    assert "compressed more than 100:1" in str(exc.value)


def _with_shared_strings(body: bytes, *texts: str) -> bytes:
    """The workbook with a table of shared strings ``texts`` (openpyxl writes inline ones)."""
    sst = ('<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           + "".join(f"<si><t>{t}</t></si>" for t in texts) + "</sst>").encode()
    kind = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(body)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" '
                                                 b'ContentType="' + kind + b'"/></Types>')
            dst.writestr(item, data)
        dst.writestr("xl/sharedStrings.xml", sst)
    return out.getvalue()


def test_a_shared_string_over_the_cell_limit_is_refused() -> None:
    good = xlsx({"2019": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"], ["1", "poor_households", 2]]})
    assert len(parse(_with_shared_strings(good, "ngắn"), XLSX_TYPE, max_bytes=1_000_000,
                     max_rows=10)) == 1
    body = _with_shared_strings(good, "ngắn", "x" * (imports.MAX_CELL + 1))
    with pytest.raises(InvalidInput) as exc:
        parse(body, XLSX_TYPE, max_bytes=1_000_000, max_rows=10)
    assert "more than 1000 characters" in fields(exc)["body"]
    at_limit = "1" * imports.MAX_CELL  # read (the service then finds no such unit)
    body = xlsx({"2019": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"],
                          [at_limit, "poor_households", 2]]})
    [row] = parse(body, XLSX_TYPE, max_bytes=1_000_000, max_rows=10)
    assert row.unit_code == at_limit


def test_an_inline_string_over_the_cell_limit_is_refused_naming_the_cell() -> None:
    good = xlsx({"2019": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"], ["1", "poor_households", 2]]})
    long = b"7" * (imports.MAX_CELL + 1)
    body = _with_sheet_xml(good, lambda x: re.sub(
        rb'<dimension ref="[^"]*"', b'<dimension ref="A1:C3"', x).replace(
        b"</sheetData>", b'<row r="3"><c r="C3" t="inlineStr"><is><t>' + long
        + b"</t></is></c></row></sheetData>"))
    with pytest.raises(InvalidInput) as exc:
        parse(body, XLSX_TYPE, max_bytes=1_000_000, max_rows=10)
    assert fields(exc) == {"sheet 2019 row 3: column 3": "a cell holds more than 1000 characters"}


def test_a_sheet_declaring_too_many_columns_is_refused_naming_it() -> None:
    wide = xlsx({"2019": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"],
                          ["1", "poor_households", 2]]})
    body = _with_sheet_xml(wide, lambda x: re.sub(rb'<dimension ref="[^"]*"',
                                                  b'<dimension ref="A1:XFD2"', x))
    with pytest.raises(InvalidInput) as exc:
        parse(body, XLSX_TYPE, max_bytes=1_000_000, max_rows=10)
    assert "declares 16384 columns" in fields(exc)["sheet 2019"]
    row = ["1", "poor_households", 2] + [None] * (imports.MAX_COLUMNS - 3) + ["x"]
    body = xlsx({"2019": [["Mã đơn vị", "Mã chỉ tiêu", "Giá trị"], row]})
    with pytest.raises(InvalidInput) as exc:
        parse(body, XLSX_TYPE, max_bytes=1_000_000, max_rows=10)
    assert "sheet 2019" in fields(exc)


# --------------------------------------------------------------------------- formula injection

_TYPED = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tbắt đầu bằng tab",
          "\rbắt đầu bằng CR", "Xã Hải Thành", "Xã =không phải công thức"]


def _typed_rows() -> list[imports.TemplateRow]:
    return [imports.TemplateRow(str(18850 + i), name, "poor_households", name)
            for i, name in enumerate(_TYPED)]


def _expected(name: str) -> str:
    return "'" + name if name[0] in "=+-@\t\r" else name


def test_the_csv_template_writes_no_formula_a_registrar_typed() -> None:
    body = imports.template_csv(2019, _typed_rows())
    lines = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert [(line[2], line[4]) for line in lines[1:]] == [
        (_expected(name), _expected(name)) for name in _TYPED]
    assert [line[0] for line in lines[1:]] == ["2019"] * len(_TYPED)


def test_the_xlsx_template_writes_no_formula_a_registrar_typed() -> None:
    book = load_workbook(io.BytesIO(imports.template_xlsx(2019, _typed_rows())))
    rows = list(book["2019"].iter_rows(min_row=2))
    xml = [_expected(name) for name in _TYPED]  # a CR is written as &#13; (lxml): kept
    assert [(r[2].value, r[4].value) for r in rows] == list(zip(xml, xml, strict=True))
    assert {r[2].data_type for r in rows} == {"s"}  # text, never "f" (a formula)
    assert {r[0].value for r in rows} == {2019}  # numbers stay numbers
    # and the template is still read back as before: its names are ignored
    with pytest.raises(InvalidInput) as exc:
        parse(imports.template_xlsx(2019, _typed_rows()), XLSX_TYPE, max_bytes=1_000_000,
              max_rows=100)
    assert set(fields(exc)) == {f"sheet 2019 row {n}: Giá trị" for n in range(2, 10)}


@pytest.mark.parametrize(("value", "written"), [
    ("=1+2", "'=1+2"), ("+84 912", "'+84 912"), ("-", "'-"), ("@x", "'@x"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("a=b", "a=b"), ("", ""), (-3, -3), (2.5, 2.5), (None, None)])
def test_inert_quotes_only_texts_that_start_like_a_formula(value: Any, written: Any) -> None:
    assert cells.inert(value) == written
