"""Bulk files of yearly report values: parsing (CSV, XLSX) and templates. Pure: no I/O.

A file has one row per value, with Vietnamese headers: ``Năm`` (year), ``Mã đơn vị`` (unit
code), ``Mã chỉ tiêu`` (indicator code), ``Giá trị`` (value). In a workbook each sheet may hold
one year, named by the sheet (``2019``) instead of a ``Năm`` column. ``Tên đơn vị`` and
``Tên chỉ tiêu`` (names, for people filling the template) are read and ignored. ``Ngày nộp``
(when a report was submitted) is only for back-filling historical records; whether it may be
used is decided by the service, not here.

Every problem of every row is reported at once, each as ``sheet S row N: column``.

Numbers written as text (CSV cells, text cells of a workbook) follow one declared convention,
Vietnamese by default (``1.000`` is one thousand, ``1,5`` one and a half); numeric cells of a
workbook are numbers already. See ``parse_number``.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import ParseError

from chungtay_common.cells import inert_row
from chungtay_common.clock import VN
from chungtay_common.contracts.indicators import Value
from chungtay_common.errors import FieldError, InvalidInput, PayloadTooLarge
from chungtay_common.http import CSV_TYPE, XLSX_TYPE
from chungtay_common.messages import en_vi
from services.indicators.domain import check_submitted_at

YEAR = "Năm"
UNIT_CODE = "Mã đơn vị"
UNIT_NAME = "Tên đơn vị"
INDICATOR_CODE = "Mã chỉ tiêu"
INDICATOR_NAME = "Tên chỉ tiêu"
VALUE = "Giá trị"
SUBMITTED_AT = "Ngày nộp"

REQUIRED = (UNIT_CODE, INDICATOR_CODE, VALUE)
KNOWN = (YEAR, UNIT_CODE, UNIT_NAME, INDICATOR_CODE, INDICATOR_NAME, VALUE, SUBMITTED_AT)
TEMPLATE_HEADERS = (YEAR, UNIT_CODE, UNIT_NAME, INDICATOR_CODE, INDICATOR_NAME, VALUE)

CSV_SHEET = "csv"  # the "sheet" named in the errors of a CSV file

_YEAR_SHEET = re.compile(r"^\s*(\d{4})\s*$")
_MIN_YEAR, _MAX_YEAR = 1990, 2100
_MAX_ERRORS = 500  # a file that is wrong everywhere does not need 50,000 messages


class NumberFormat(StrEnum):
    """How a file writes numbers as text: ``vi`` (``1.234.567,5``: ``.`` groups thousands,
    ``,`` is the decimal mark; the template's convention) or ``en`` (``1,234,567.5``)."""

    VI = "vi"
    EN = "en"


_MAX_NUMBER_TEXT = 1000  # far beyond any value (10^15), well within int() (4,300 digits)
# (thousands separator, decimal mark) of each convention
_MARKS = {NumberFormat.VI: (".", ","), NumberFormat.EN: (",", ".")}


def _pattern(fmt: NumberFormat) -> re.Pattern[str]:
    g, d = (re.escape(c) for c in _MARKS[fmt])
    return re.compile(rf"([+-]?)((?:[1-9]\d{{0,2}}(?:{g}\d{{3}})+)|\d+)(?:{d}(\d+))?")


_PATTERNS = {fmt: _pattern(fmt) for fmt in NumberFormat}


def _read(text: str, fmt: NumberFormat) -> Value | None:
    """``text`` read exactly by ``fmt``, or None when it does not fit: digits, optionally
    grouped by threes (the first group 1 to 3 digits, not starting with 0), optionally a
    decimal mark and digits."""
    group = _MARKS[fmt][0]
    m = _PATTERNS[fmt].fullmatch(text)
    if m is None:
        return None
    sign, whole, decimals = m.group(1), m.group(2).replace(group, ""), m.group(3)
    if decimals is None:
        return int(sign + whole)
    return float(f"{sign}{whole}.{decimals}")


def parse_number(text: str, fmt: NumberFormat = NumberFormat.VI) -> Value | str:
    """A number written as text by the convention ``fmt``, or a message saying why it is
    refused. Spaces are ignored. A number's magnitude never changes silently:

    - a text that does not fit ``fmt`` exactly is refused (under ``vi``: ``1.00``, a group of
      two digits; ``1.5``; ``1,234.5``);
    - a text whose only separator is one decimal mark followed by exactly three digits
      (``1,000`` under ``vi``, ``1.000`` under ``en``) is refused as ambiguous: the other
      convention reads it as a thousand times more. Write ``1`` or ``1,0`` for one, ``1.000``
      for one thousand (under ``en``: ``1`` or ``1.0``, and ``1,000``);
    - a plain ``1000`` or ``12`` fits both conventions and is read as it is."""
    text = text.replace(" ", "").replace("\u00a0", "")
    if text.isdecimal() and len(text) <= _MAX_NUMBER_TEXT:
        return int(text)  # digits alone (most values) read alike in both conventions
    group, mark = _MARKS[fmt]
    example = "1.234.567,5" if fmt is NumberFormat.VI else "1,234,567.5"
    if len(text) > _MAX_NUMBER_TEXT:
        return en_vi(f"has more than {_MAX_NUMBER_TEXT} characters: not a value of a report",
                     f"dài hơn {_MAX_NUMBER_TEXT} ký tự: không phải là một giá trị báo cáo")
    value = _read(text, fmt)
    if value is None:
        return en_vi(f"{text!r} is not a number as written in {fmt.value!r} (e.g. {example}: "
                     f"{group!r} between groups of three digits, {mark!r} before decimals)",
                     f"{text!r} không phải là số viết theo kiểu {fmt.value!r} (ví dụ {example}: "
                     f"{group!r} giữa các nhóm ba chữ số, {mark!r} trước phần thập phân)")
    other = NumberFormat.EN if fmt is NumberFormat.VI else NumberFormat.VI
    if group not in text and (read_other := _read(text, other)) is not None \
            and read_other != value:
        grouped = f"{read_other:,}".replace(",", group)
        return en_vi(f"{text!r} is ambiguous: {value:g} as written in {fmt.value!r} but "
                     f"{read_other:g} as written in {other.value!r}; write {text}0 for "
                     f"{value:g}, or {grouped} for {read_other:g}",
                     f"{text!r} không rõ nghĩa: là {value:g} theo kiểu {fmt.value!r} nhưng là "
                     f"{read_other:g} theo kiểu {other.value!r}; hãy viết {text}0 cho "
                     f"{value:g}, hoặc {grouped} cho {read_other:g}")
    return value


class UnsupportedFile(Exception):
    """The body is neither a CSV nor an XLSX file (the API answers 415)."""


@dataclass(frozen=True)
class ImportRow:
    year: int
    unit_code: str
    indicator_code: str
    value: Value
    sheet: str
    row_number: int
    submitted_at: datetime | None = None

    def at(self, column: str) -> str:
        return where(self.sheet, self.row_number, column)


def where(sheet: str, row: int, column: str) -> str:
    return f"sheet {sheet} row {row}: {column}"


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, sheet: str, row: int, column: str, message: str) -> None:
        if len(self.items) < _MAX_ERRORS:
            self.items.append(FieldError(field=where(sheet, row, column), message=message))

    def raise_if_any(self) -> None:
        if self.items:
            full = len(self.items) >= _MAX_ERRORS
            more, hon = ((" (only the first ones are listed)", " (chỉ liệt kê các lỗi đầu)")
                         if full else ("", ""))
            raise InvalidInput(en_vi(f"{len(self.items)} problem(s) in the file{more}",
                                     f"tệp có {len(self.items)} lỗi{hon}"), self.items)


def parse(body: bytes, media_type: str, *, max_bytes: int, max_rows: int,
          number_format: NumberFormat = NumberFormat.VI) -> list[ImportRow]:
    """The rows of a CSV or XLSX file (``media_type``, lower case, without parameters), its
    text numbers read by ``number_format``; refuses the whole file if any row is wrong."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(en_vi(f"the file is larger than {max_bytes} bytes",
                                    f"tệp lớn hơn {max_bytes} byte"))
    if media_type == CSV_TYPE:
        return parse_csv(body, max_rows=max_rows, number_format=number_format)
    if media_type == XLSX_TYPE:
        return parse_xlsx(body, max_rows=max_rows, number_format=number_format)
    raise UnsupportedFile(f"send the file as {CSV_TYPE} (UTF-8) or {XLSX_TYPE}")


# --------------------------------------------------------------------------- reading


def parse_csv(body: bytes, *, max_rows: int,
              number_format: NumberFormat = NumberFormat.VI) -> list[ImportRow]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput.on("body", en_vi("a CSV file must be UTF-8",
                                           "tệp CSV phải được mã hoá UTF-8")) from exc
    if "\x00" in text:
        raise InvalidInput.on("body", en_vi("must not contain the NUL character",
                                           "không được chứa ký tự NUL"))
    reader = csv.reader(io.StringIO(text))
    try:  # the reader is lazy: a bad field (e.g. over csv's 128 KiB limit) shows up in _rows
        return _rows({CSV_SHEET: ((n, row) for n, row in enumerate(reader, start=1))},
                     max_rows, year_column_required=True, number_format=number_format)
    except csv.Error as exc:
        raise InvalidInput.on("body", f"is not a readable CSV file (line {reader.line_num}: "
                                      f"{exc})") from exc


# Bounds of a workbook, checked before its content is expanded: an XLSX is a zip, and a few
# hundred kilobytes may inflate to gigabytes (a "zip bomb") or to one cell of millions of
# characters. A template of a province (a few thousand rows, 6 columns) is far below them.
MAX_XLSX_ENTRY = 20 * 1024 * 1024  # uncompressed bytes of one part of the zip
MAX_XLSX_TOTAL = 50 * 1024 * 1024  # uncompressed bytes of all parts
MAX_XLSX_RATIO = 100  # uncompressed : compressed, for a part over MAX_XLSX_RATIO_FROM bytes
MAX_XLSX_RATIO_FROM = 1024 * 1024
MAX_COLUMNS = 50  # of a sheet (the template has 6)
MAX_CELL = 1000  # characters of one cell's text (a unit's name, a code, a value)


def check_xlsx_bounds(body: bytes) -> None:
    """Refuse (413) a workbook whose zip parts would inflate too far, from the sizes its
    central directory declares, before anything is decompressed. A part that inflates beyond
    its declared size is stopped by ``zipfile`` itself (it checks the declared size)."""
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidInput.on("body", "is not a readable XLSX workbook") from exc
    total = 0
    for e in entries:
        total += e.file_size
        if e.file_size > MAX_XLSX_ENTRY:
            raise PayloadTooLarge(en_vi(
                f"the workbook's part {e.filename!r} inflates to {e.file_size} bytes, over "
                f"{MAX_XLSX_ENTRY}", f"phần {e.filename!r} của tệp bung ra {e.file_size} byte, "
                                     f"quá {MAX_XLSX_ENTRY}"))
        if e.file_size > MAX_XLSX_RATIO_FROM and \
                e.file_size > MAX_XLSX_RATIO * max(e.compress_size, 1):
            raise PayloadTooLarge(en_vi(
                f"the workbook's part {e.filename!r} is compressed more than "
                f"{MAX_XLSX_RATIO}:1 ({e.compress_size} bytes inflating to {e.file_size})",
                f"phần {e.filename!r} của tệp được nén hơn {MAX_XLSX_RATIO}:1 "
                f"({e.compress_size} byte bung ra {e.file_size})"))
    if total > MAX_XLSX_TOTAL:
        raise PayloadTooLarge(en_vi(
            f"the workbook inflates to {total} bytes, over {MAX_XLSX_TOTAL}",
            f"tệp bung ra {total} byte, quá {MAX_XLSX_TOTAL}"))


def _too_long(c: Any) -> bool:
    return isinstance(c, str) and len(c) > MAX_CELL


_LONG = en_vi(f"a cell holds more than {MAX_CELL} characters",
              f"một ô chứa hơn {MAX_CELL} ký tự")


def _check_sheet_bounds(ws: Any, max_rows: int) -> None:
    """Refuse (422) a sheet whose declared dimension is too wide or too long: a read-only
    sheet is padded to it, so ``A1:XFD1048576`` would make every row 16,384 cells."""
    title = str(ws.title)
    columns, rows = ws.max_column, ws.max_row
    if columns is not None and columns > MAX_COLUMNS:
        raise InvalidInput.on(f"sheet {title}", en_vi(
            f"declares {columns} columns; a sheet has at most {MAX_COLUMNS}",
            f"khai báo {columns} cột; một trang tính có tối đa {MAX_COLUMNS} cột"))
    if rows is not None and rows > max_rows + 1:  # as _Budget would find, only sooner
        raise InvalidInput.on("body", f"more than {max_rows} rows: split the file")
    # openpyxl keeps the workbook's shared strings (read whole on loading) on each sheet
    strings = getattr(ws, "_shared_strings", None) or ()
    if any(_too_long(text) for text in strings):
        raise InvalidInput.on("body", en_vi(
            f"the workbook's shared strings hold a text of more than {MAX_CELL} characters",
            f"bảng chuỗi dùng chung của tệp có chuỗi dài hơn {MAX_CELL} ký tự"))


def parse_xlsx(body: bytes, *, max_rows: int,
               number_format: NumberFormat = NumberFormat.VI) -> list[ImportRow]:
    check_xlsx_bounds(body)
    # openpyxl is imported here: only this path needs it, and it is slow to import
    from openpyxl import load_workbook

    try:
        # read_only streams the sheets; data_only=False keeps formulas visible, to refuse them
        book = load_workbook(io.BytesIO(body), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InvalidInput.on("body", "is not a readable XLSX workbook") from exc
    try:
        for ws in book.worksheets:
            _check_sheet_bounds(ws, max_rows)
        # the sheets are read lazily, inside _rows: a broken sheet is found there
        sheets: dict[str, Iterable[tuple[int, Sequence[Any]]]] = {
            str(ws.title): _xlsx_rows(ws) for ws in book.worksheets}
        return _rows(sheets, max_rows, year_column_required=False,
                     number_format=number_format)
    except (ParseError, zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError,
            TypeError, OSError) as exc:
        raise InvalidInput.on("body", "is not a readable XLSX workbook") from exc
    finally:
        book.close()


_FORMULA = object()  # stands for a cell holding a formula


def _xlsx_rows(ws: Any) -> Iterator[tuple[int, list[Any]]]:
    title = str(ws.title)
    for n, row in enumerate(ws.iter_rows(), start=1):
        cells: list[Any] = []
        for i, cell in enumerate(row):
            value = getattr(cell, "value", None)
            if value is not None and i >= MAX_COLUMNS:
                raise InvalidInput.on(where(title, n, f"column {i + 1}"), en_vi(
                    f"a sheet has at most {MAX_COLUMNS} columns",
                    f"một trang tính có tối đa {MAX_COLUMNS} cột"))
            if _too_long(value):
                raise InvalidInput.on(where(title, n, f"column {i + 1}"), _LONG)
            if getattr(cell, "data_type", None) == "f" or (
                    isinstance(value, str) and value.startswith("=")):
                cells.append(_FORMULA)
            else:
                cells.append(value)
        yield n, cells


class _Budget:
    """Every row read counts against the limit, blank ones too (a workbook may hold a
    million empty rows), apart from each sheet's header."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.left = max_rows

    def take(self, rows: Iterable[tuple[int, Sequence[Any]]]
             ) -> Iterator[tuple[int, Sequence[Any]]]:
        for item in rows:
            if self.left <= 0:
                raise InvalidInput.on("body", f"more than {self.max_rows} rows: split the "
                                              "file")
            self.left -= 1
            yield item


def _rows(sheets: dict[str, Iterable[tuple[int, Sequence[Any]]]], max_rows: int,
          *, year_column_required: bool, number_format: NumberFormat) -> list[ImportRow]:
    errors = _Errors()
    out: list[ImportRow] = []
    seen: dict[tuple[int, str, str], str] = {}
    budget = _Budget(max_rows)
    for sheet, rows in sheets.items():
        iterator = budget.take(rows)
        header_row = next(((n, r) for n, r in iterator if any(_text(c) for c in r)), None)
        if header_row is None:
            continue  # an empty sheet is no problem
        budget.left += 1  # the header is not a row of values
        hn, header = header_row
        columns = _header(sheet, hn, header, year_column_required, errors)
        if columns is None:
            continue
        sheet_year = None
        if YEAR not in columns:
            m = _YEAR_SHEET.match(sheet)
            sheet_year = int(m.group(1)) if m else None
            if sheet_year is None or not _MIN_YEAR <= sheet_year <= _MAX_YEAR:
                errors.add(sheet, hn, YEAR, en_vi(
                    f"name the sheet by its year (e.g. 2019) or add a column {YEAR!r}",
                    f"hãy đặt tên trang tính theo năm (ví dụ 2019) hoặc thêm cột {YEAR!r}"))
                continue
        for n, raw in iterator:
            if not any(_text(c) for c in raw):
                continue
            if any(_text(c) for c in raw[len(header):]):
                # e.g. 1,5 unquoted in a CSV: its "5" would be lost, and the value read as 1
                errors.add(sheet, n, f"column {len(header) + 1}",
                           "a cell beyond the header's columns; in a CSV, quote a number "
                           'written with a comma ("1,5")')
                continue
            row = _row(sheet, n, raw, columns, sheet_year, errors, number_format)
            if row is None:
                continue
            key = (row.year, row.unit_code, row.indicator_code)
            if key in seen:
                errors.add(sheet, n, INDICATOR_CODE,
                           f"{row.indicator_code} of unit {row.unit_code} for {row.year} is "
                           f"already on {seen[key]}")
                continue
            seen[key] = f"sheet {sheet} row {n}"
            out.append(row)
    errors.raise_if_any()
    if not out:
        raise InvalidInput.on("body", en_vi("the file has no values", "tệp không có giá trị nào"))
    return out


def _header(sheet: str, n: int, header: Sequence[Any], year_required: bool,
            errors: _Errors) -> dict[str, int] | None:
    columns: dict[str, int] = {}
    ok = True
    for i, cell in enumerate(header):
        if cell is _FORMULA:
            errors.add(sheet, n, f"column {i + 1}", en_vi("a header must not be a formula",
                                                          "tiêu đề cột không được là công thức"))
            ok = False
            continue
        name = _text(cell)
        if not name:
            continue
        if name not in KNOWN:
            errors.add(sheet, n, name, en_vi(
                f"unknown column; the columns are: {', '.join(KNOWN)}",
                f"cột không xác định; các cột là: {', '.join(KNOWN)}"))
            ok = False
        elif name in columns:
            errors.add(sheet, n, name, en_vi("appears twice", "xuất hiện hai lần"))
            ok = False
        else:
            columns[name] = i
    wanted = (YEAR, *REQUIRED) if year_required else REQUIRED
    for name in wanted:
        if name not in columns:
            errors.add(sheet, n, name, en_vi("column missing", "thiếu cột"))
            ok = False
    return columns if ok else None


def _row(sheet: str, n: int, raw: Sequence[Any], columns: dict[str, int],
         sheet_year: int | None, errors: _Errors, number_format: NumberFormat
         ) -> ImportRow | None:
    width = len(raw)
    cells = {name: raw[i] if i < width else None for name, i in columns.items()}
    cell = cells.get

    before = len(errors.items)
    for name, c in cells.items():
        if c is _FORMULA or (isinstance(c, str) and c.lstrip().startswith("=")):
            errors.add(sheet, n, name, en_vi("formulas are not accepted: enter the value itself",
                                                 "không nhận công thức: hãy nhập chính giá trị"))
    if len(errors.items) > before:
        return None

    year = sheet_year
    if YEAR in columns:
        year = _year(cell(YEAR))
        if year is None:
            errors.add(sheet, n, YEAR, en_vi(f"must be a year between {_MIN_YEAR} and {_MAX_YEAR}",
                                             f"phải là năm từ {_MIN_YEAR} đến {_MAX_YEAR}"))
        elif sheet_year is not None and year != sheet_year:
            errors.add(sheet, n, YEAR, en_vi(f"is not the year of the sheet ({sheet_year})",
                                             f"không phải năm của trang tính ({sheet_year})"))
    unit_code = _code(cell(UNIT_CODE))
    if not unit_code:
        errors.add(sheet, n, UNIT_CODE, en_vi("is empty", "đang để trống"))
    indicator_code = _text(cell(INDICATOR_CODE))
    if not indicator_code:
        errors.add(sheet, n, INDICATOR_CODE, en_vi("is empty", "đang để trống"))
    value = _number(cell(VALUE), number_format)
    if isinstance(value, str):
        errors.add(sheet, n, VALUE, value)
    submitted_at: datetime | None = None
    if SUBMITTED_AT in columns and _text(cell(SUBMITTED_AT)):
        parsed = _instant(cell(SUBMITTED_AT))
        if parsed is None:
            errors.add(sheet, n, SUBMITTED_AT, "must be a date (YYYY-MM-DD) or a date and "
                                               "time (YYYY-MM-DDTHH:MM, Vietnam time)")
        elif year is not None and (problem := check_submitted_at(parsed, year)):
            errors.add(sheet, n, SUBMITTED_AT, problem)
        submitted_at = parsed
    if len(errors.items) > before:
        return None
    assert year is not None and not isinstance(value, str) and value is not None
    return ImportRow(year, unit_code, indicator_code, value, sheet, n, submitted_at)


def _text(c: Any) -> str:
    if c is None or c is _FORMULA:
        return ""
    if isinstance(c, float) and c.is_integer():
        return str(int(c))
    return str(c).strip()


def _code(c: Any) -> str:
    # codes are digits, and a spreadsheet may have turned "18853" into the number 18853
    return _text(c)


def _year(c: Any) -> int | None:
    if isinstance(c, bool):
        return None
    try:
        y = int(c) if isinstance(c, (int, float)) and float(c).is_integer() else int(_text(c))
    except ValueError:
        return None
    return y if _MIN_YEAR <= y <= _MAX_YEAR else None


def _number(c: Any, number_format: NumberFormat) -> Value | str | None:
    """The value, or a message saying why it is not one: a numeric cell as it is, a text
    read by the file's convention."""
    if isinstance(c, bool):
        return en_vi("must be a number", "phải là một số")
    if isinstance(c, int):
        return c
    if isinstance(c, float):
        if not math.isfinite(c):
            return en_vi("must be a finite number", "phải là một số hữu hạn")
        return int(c) if c.is_integer() else c
    text = _text(c).replace(" ", "").replace("\u00a0", "")
    if not text:
        return en_vi("is empty", "đang để trống")
    return parse_number(text, number_format)


def _instant(c: Any) -> datetime | None:
    if isinstance(c, datetime):
        return c if c.tzinfo else c.replace(tzinfo=VN)
    if isinstance(c, date):
        return datetime.combine(c, time(9, 0), tzinfo=VN)
    text = _text(c)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(9, 0), tzinfo=VN)
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VN)


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class TemplateRow:
    unit_code: str
    unit_name: str
    indicator_code: str
    indicator_name: str


@dataclass(frozen=True)
class Template:
    """The template of a year: one row per unit and indicator to fill in."""

    year: int
    rows: list[TemplateRow]


def template_csv(year: int, rows: Iterable[TemplateRow]) -> bytes:
    """A CSV to fill in (UTF-8 with a BOM, so that spreadsheet programs read the accents);
    a text that would start a formula is quoted (``cells.inert``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TEMPLATE_HEADERS)
    for r in rows:  # names are typed by people: never written as a formula (see cells)
        writer.writerow(inert_row([year, r.unit_code, r.unit_name, r.indicator_code,
                                   r.indicator_name, ""]))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def template_xlsx(year: int, rows: Iterable[TemplateRow]) -> bytes:
    """A workbook with one sheet named by the year; codes are text cells, and a text that
    would start a formula is quoted (``cells.inert``)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet(title=str(year))
    ws.append(list(TEMPLATE_HEADERS))
    for r in rows:  # names are typed by people: never written as a formula (see cells)
        ws.append(inert_row([year, r.unit_code, r.unit_name, r.indicator_code,
                             r.indicator_name, None]))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
