"""Reading back the table files the services hand out (``chungtay_common.tables``): the title
block, the header row and the rows, from XLSX (openpyxl) and from CSV (the csv module)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import httpx
from openpyxl import load_workbook

from chungtay_common.tables import CSV_TYPE, XLSX_TYPE

BOM = b"\xef\xbb\xbf"


@dataclass
class ReadTable:
    title: Any
    about: dict[str, Any]
    headers: list[str]
    rows: list[dict[str, Any]]
    formats: dict[str, str]  # XLSX: each column's number format (of its first data cell)

    def by(self, header: str) -> dict[Any, dict[str, Any]]:
        return {r[header]: r for r in self.rows}


def _split(lines: list[list[Any]]) -> tuple[Any, dict[str, Any], list[str], list[list[Any]]]:
    blank = next(i for i, row in enumerate(lines) if not any(c not in (None, "") for c in row))
    about = {row[0]: row[1] if len(row) > 1 else None for row in lines[1:blank]}
    return lines[0][0], about, [str(h) for h in lines[blank + 1]], lines[blank + 2:]


def xlsx(content: bytes, sheet: str | None = None) -> ReadTable:
    book = load_workbook(io.BytesIO(content))
    ws = book[sheet] if sheet else book.worksheets[0]
    lines = [list(row) for row in ws.iter_rows(values_only=True)]
    title, about, headers, data = _split(lines)
    top = len(lines) - len(data)
    formats = {h: ws.cell(row=top + 1, column=i + 1).number_format
               for i, h in enumerate(headers)} if data else {}
    rows = [dict(zip(headers, row, strict=False)) for row in data]
    return ReadTable(title, about, headers, rows, formats)


def csv_table(content: bytes) -> ReadTable:
    assert content.startswith(BOM), "CSV files start with the UTF-8 byte-order mark"
    lines: list[list[Any]] = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    title, about, headers, data = _split(lines)
    rows = [{h: (v if v != "" else None) for h, v in zip(headers, row, strict=True)}
            for row in data]
    return ReadTable(title, about, headers, rows, {})


def table_of(r: httpx.Response, sheet: str | None = None) -> ReadTable:
    """The file of a successful export response, read by its content type."""
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    kind = r.headers["content-type"].split(";")[0]
    if kind == XLSX_TYPE:
        return xlsx(r.content, sheet)
    assert kind == CSV_TYPE, kind
    return csv_table(r.content)
