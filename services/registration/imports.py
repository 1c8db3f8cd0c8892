"""Files in the national list's format (province, district, commune on each row): parsing and
checking. Pure: no I/O.

A file has the header ``IMPORT_COLUMNS``; each row names a commune with its district and
province, so a province or district appears on many rows and must read the same on each. Every
problem of every row is reported at once, each as ``row N: column``.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from chungtay_common.contracts.registration import UnitKind
from chungtay_common.errors import FieldError, InvalidInput
from chungtay_common.messages import en_vi
from chungtay_common.refusals import RuleBroken
from chungtay_common.request_body import nfc
from services.registration import domain

IMPORT_COLUMNS = ["province_code", "province_name", "district_code", "district_name",
                  "commune_code", "commune_name", "commune_kind"]
_DISTRICT_PREFIXES = {"Thành phố": "thanh_pho", "Thị xã": "thi_xa", "Huyện": "huyen",
                      "Quận": "quan"}
_PROVINCE_PREFIXES = {"Tỉnh": "tinh", "Thành phố": "thanh_pho_truc_thuoc_tw"}
_COMMUNE_KINDS = {"xa": "xa", "phuong": "phuong", "thi_tran": "thi_tran", "dac_khu": "dac_khu"}
_OFFICIAL_CODE = re.compile(r"[0-9]{1,20}", re.ASCII)
# (kind, level: the prefix of its columns, the level of its parent)
_LEVELS = ((UnitKind.PROVINCE, "province", None), (UnitKind.DISTRICT, "district", "province"),
           (UnitKind.COMMUNE, "commune", "district"))
KIND_VI_BY_VALUE = {k.value: v for k, v in domain.KIND_VI.items()}
_ORDER = {UnitKind.PROVINCE: 0, UnitKind.DISTRICT: 1, UnitKind.COMMUNE: 2}  # parents first


@dataclass(frozen=True)
class PlannedUnit:
    """A unit the file says should exist; ``row`` and ``column`` tell where it was read."""

    row: int
    column: str
    kind: UnitKind
    code: str
    name: str
    subkind: str
    parent_code: str | None


def parse_units_csv(text: str, max_rows: int) -> list[PlannedUnit]:
    """The units of the file, each once, parents first. Every problem of every row is reported
    at once (``InvalidInput`` listing ``row N: column`` and the message)."""
    errors: list[FieldError] = []
    planned: dict[str, PlannedUnit] = {}
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:  # the reader is lazy: a field over csv's limit (128 KiB) shows up mid-file
        for n, values in _rows(reader, max_rows, errors):
            for kind, level, parent_level in _LEVELS:
                try:
                    _plan(planned, _unit(n, values, kind, level, parent_level))
                except RuleBroken as exc:
                    errors.append(FieldError(field=f"row {n}: {exc.field}",
                                             message=exc.message))
    except csv.Error as exc:
        line = reader.line_num
        if "field limit" in str(exc):
            limit = csv.field_size_limit()
            raise RuleBroken("body", en_vi(
                f"line {line}: a field is longer than {limit} characters",
                f"dòng {line}: có ô dài hơn {limit} ký tự")) from exc
        raise RuleBroken("body", en_vi(f"line {line}: is not readable CSV ({exc})",
                                       f"dòng {line}: không đọc được dạng CSV ({exc})")) from exc
    if errors:
        raise InvalidInput(en_vi(f"{len(errors)} problem(s) in the file",
                                 f"tệp có {len(errors)} lỗi"), errors)
    return sorted(planned.values(), key=lambda p: (_ORDER[p.kind], p.row))


def _rows(reader: Iterator[list[str]], max_rows: int, errors: list[FieldError]
          ) -> Iterator[tuple[int, dict[str, str]]]:
    """The non-blank rows with their numbers in the file (the header is row 1)."""
    if next(reader, None) != IMPORT_COLUMNS:
        raise RuleBroken("header", en_vi(f"must be exactly: {','.join(IMPORT_COLUMNS)}",
                                         f"phải đúng là: {','.join(IMPORT_COLUMNS)}"))
    for n, row in enumerate(reader, start=2):
        if n - 1 > max_rows:
            raise RuleBroken("body", en_vi(f"more than {max_rows} rows",
                                           f"nhiều hơn {max_rows} dòng"))
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(IMPORT_COLUMNS):
            errors.append(FieldError(field=f"row {n}: row", message=en_vi(
                f"has {len(row)} columns, expected {len(IMPORT_COLUMNS)}",
                f"có {len(row)} cột, cần {len(IMPORT_COLUMNS)} cột")))
            continue
        # NFC: a file typed with a decomposed ("Unicode tổ hợp") keyboard names the same units
        yield n, dict(zip(IMPORT_COLUMNS, nfc(row), strict=True))


def _unit(row: int, values: dict[str, str], kind: UnitKind, level: str,
          parent_level: str | None) -> PlannedUnit:
    code, name = values[f"{level}_code"].strip(), values[f"{level}_name"]
    if not _OFFICIAL_CODE.fullmatch(code):
        raise RuleBroken(f"{level}_code", en_vi(
            "must be the official numeric code (1 to 20 digits)",
            "phải là mã số chính thức (1 đến 20 chữ số)"))
    name = domain.check_name(name, field=f"{level}_name")  # stored as the API stores it
    if not 1 <= len(name) <= 200:
        raise RuleBroken(f"{level}_name", en_vi("must have 1 to 200 characters",
                                                "phải có từ 1 đến 200 ký tự"))
    column, subkind = _subkind(level, values)
    if subkind is None:
        raise RuleBroken(column, en_vi(
            f"cannot tell the {level}'s subkind from {values[column]!r}",
            f"không xác định được loại của {domain.KIND_VI[kind]} từ {values[column]!r}"))
    parent_code = values[f"{parent_level}_code"].strip() if parent_level else None
    return PlannedUnit(row, f"{level}_code", kind, code, name, subkind, parent_code)


def _subkind(level: str, values: dict[str, str]) -> tuple[str, str | None]:
    """The column that tells the unit's subkind, and the subkind it tells (None: cannot)."""
    if level == "commune":
        return "commune_kind", _COMMUNE_KINDS.get(values["commune_kind"])
    column = f"{level}_name"
    prefixes = _PROVINCE_PREFIXES if level == "province" else _DISTRICT_PREFIXES
    for prefix, subkind in prefixes.items():
        if values[column].startswith(prefix + " "):
            return column, subkind
    return column, None


def _plan(planned: dict[str, PlannedUnit], unit: PlannedUnit) -> None:
    seen = planned.setdefault(unit.code, unit)
    if (seen.kind, seen.name, seen.parent_code) != (unit.kind, unit.name, unit.parent_code):
        raise RuleBroken(unit.column, en_vi(
            f"code {unit.code} stands for another unit on row {seen.row}",
            f"mã {unit.code} là của một đơn vị khác ở dòng {seen.row}"))


def check_registered(unit: PlannedUnit, parent_id: uuid.UUID | None, kind: str, name: str,
                     registered_parent_id: uuid.UUID | None) -> None:
    """A unit of the file whose code is registered already is that unit (it is left
    unchanged), not another one that holds the code."""
    if (kind, name, registered_parent_id) != (unit.kind.value, unit.name, parent_id):
        raise InvalidInput(
            en_vi(f"row {unit.row}: code {unit.code} is registered as {name!r}",
                  f"dòng {unit.row}: mã {unit.code} đã được đăng ký là {name!r}"),
            [FieldError(field=f"row {unit.row}: {unit.column}", message=en_vi(
                f"code {unit.code} is already registered as {kind} {name!r}",
                f"mã {unit.code} đã được đăng ký là {KIND_VI_BY_VALUE.get(kind, kind)} "
                f"{name!r}"))])


def at_row(row: int, exc: RuleBroken) -> RuleBroken:
    """A refusal of a row's unit, naming the row."""
    return RuleBroken(f"row {row}: {exc.field}", exc.message)
