"""Tables the services hand out as files for people (CSV and XLSX), written one way.

A ``Table`` is a title block (what the figures are: campaign, year, when generated, whether
estimated or official), Vietnamese column headers with each column's kind, and rows. The same
table gives:

- **CSV**: UTF-8 with a byte-order mark (Excel on Windows then reads Vietnamese letters right),
  comma-separated, CRLF line ends (RFC 4180). The title block comes first as ``label,value``
  rows, then one empty row, then the header row and the data rows. Numbers are plain numbers
  with ``.`` as the decimal point and no thousands separator; a decimal column is written with
  its number of decimals (rates: 2). Dates and instants are ISO 8601 (instants in Vietnam's
  time, with their offset).
- **XLSX**: one sheet per table, laid out as the CSV (title block, empty row, header row), the
  header row frozen and filtered; numbers are numeric cells holding the exact value, shown with
  the column's format (integers ``#,##0``, rates ``0.00``); dates and instants are date cells.

Every text cell (title block, headers, data) goes through ``cells.inert``: a text that would
start a formula is quoted; numbers stay numbers. A control character XML cannot hold (a
filter's text echoed in the title block may carry one) is written in XLSX as U+FFFD. Pure (no
I/O): usable by any service.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from chungtay_common.cells import inert
from chungtay_common.clock import VN

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_NAME_MAX = 31  # Excel's limit
_SHEET_NAME_UNSAFE = str.maketrans({c: " " for c in "[]:*?/\\"})

Cell = str | int | float | bool | date | datetime | None


class FileFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"

    @property
    def media_type(self) -> str:
        return CSV_TYPE if self is FileFormat.CSV else XLSX_TYPE


class Kind(StrEnum):
    TEXT = "text"
    INTEGER = "integer"  # counts, VND
    DECIMAL = "decimal"  # rates, points: ``places`` decimals
    DATE = "date"
    INSTANT = "instant"  # an aware datetime, shown in Vietnam's time
    YES_NO = "yes_no"  # True/False shown as "Có"/"Không" (text)


YES, NO = "Có", "Không"


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind = Kind.TEXT
    places: int = 2  # decimals of a DECIMAL column
    width: int | None = None  # characters (XLSX); default: from the header and kind

    @property
    def number_format(self) -> str | None:
        if self.kind is Kind.INTEGER:
            return "#,##0"
        if self.kind is Kind.DECIMAL:
            return "0." + "0" * self.places if self.places else "0"
        if self.kind is Kind.DATE:
            return "dd/mm/yyyy"
        if self.kind is Kind.INSTANT:
            return "dd/mm/yyyy hh:mm"
        return None


@dataclass(frozen=True)
class Table:
    """One sheet: ``title`` (its first line), ``about`` (label, value lines under it),
    ``columns`` and ``rows`` (one value per column; None is an empty cell)."""

    sheet: str
    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell]]
    about: Sequence[tuple[str, Cell]] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for n, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(f"row {n} has {len(row)} cells for {len(self.columns)} columns")

    @property
    def header_row(self) -> int:
        """The 1-based row of the column headers (after the title block and an empty row)."""
        return len(self.about) + 3


def render(tables: Sequence[Table], fmt: FileFormat) -> bytes:
    """The tables as a file: XLSX, one sheet each; CSV, exactly one table."""
    if fmt is FileFormat.XLSX:
        return to_xlsx(tables)
    if len(tables) != 1:
        raise ValueError("a CSV file holds one table")
    return to_csv(tables[0])


# --------------------------------------------------------------------------- cells


def _text(value: str) -> str | Any:
    return inert(unicodedata.normalize("NFC", value))


def _instant(value: datetime) -> datetime:
    return value.astimezone(VN) if value.tzinfo is not None else value


def _csv_cell(value: Cell, column: Column | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, int | float):
        if column is not None and column.kind is Kind.DECIMAL:
            return f"{value:.{column.places}f}"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime):
        return _instant(value).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return str(_text(value))


# what XML 1.0, hence XLSX, cannot hold: the C0 controls but tab, line feed and carriage return
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
REPLACEMENT = "\ufffd"


def _xlsx_cell(value: Cell) -> Cell:
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, datetime):
        # Excel has no time zones: the wall-clock time in Vietnam
        return _instant(value).replace(tzinfo=None)
    if isinstance(value, str):
        return _NOT_IN_XML.sub(REPLACEMENT, str(_text(value)))
    return value


# --------------------------------------------------------------------------- CSV


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_csv_cell(table.title, None)])
    for label, value in table.about:
        writer.writerow([_csv_cell(label, None), _csv_cell(value, None)])
    writer.writerow([])
    writer.writerow([_csv_cell(c.header, None) for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(v, c) for v, c in zip(row, table.columns, strict=True)])
    return out.getvalue().encode("utf-8-sig")


# --------------------------------------------------------------------------- XLSX


def sheet_name(name: str) -> str:
    """A name Excel accepts for a sheet: no ``[]:*?/\\``, at most 31 characters."""
    return unicodedata.normalize("NFC", name).translate(_SHEET_NAME_UNSAFE)[
        :SHEET_NAME_MAX].strip() or "Sheet"


def to_xlsx(tables: Sequence[Table]) -> bytes:
    # openpyxl is imported here: only this path needs it, and it is slow to import
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    for table in tables:
        ws = book.create_sheet(sheet_name(table.sheet))
        ws.append([_xlsx_cell(table.title)])
        ws.cell(row=1, column=1).font = Font(bold=True, size=13)
        for label, value in table.about:
            ws.append([_xlsx_cell(label), _xlsx_cell(value)])
        ws.append([])
        ws.append([_xlsx_cell(c.header) for c in table.columns])
        top = table.header_row
        for cell in ws[top]:
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for row in table.rows:
            ws.append([_xlsx_cell(v) for v in row])
        last = top + len(table.rows)
        for i, column in enumerate(table.columns, start=1):
            letter = get_column_letter(i)
            ws.column_dimensions[letter].width = column.width or _width(column)
            number_format = column.number_format
            if number_format is not None:
                for (cell,) in ws.iter_rows(min_row=top + 1, max_row=last, min_col=i,
                                            max_col=i):
                    cell.number_format = number_format
        ws.freeze_panes = ws.cell(row=top + 1, column=1)
        if table.columns:
            ws.auto_filter.ref = f"A{top}:{get_column_letter(len(table.columns))}{last}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _width(column: Column) -> float:
    if column.kind is Kind.TEXT:
        return max(12, min(40, len(column.header) + 2))
    return max(10, min(24, len(column.header) * 0.8 + 2))
