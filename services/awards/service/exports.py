"""The nominations and awards lists as tables for files (CSV, XLSX): each export runs the JSON
route's own use case (``service.search``: in the caller's subtree and audited;
``service.public_awards``: public) and lays its answer out in Vietnamese, with the names of the
units as they were in the dossier's year. The bytes are written by ``chungtay_common.tables``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

from chungtay_common import clock
from chungtay_common.context import Context
from chungtay_common.contracts.awards import Decision, NomineeKind
from chungtay_common.db import Conn
from chungtay_common.tables import Cell, Column, Kind, Table
from services.awards import service
from services.awards.domain import LEVEL_LABELS, STATUS_LABELS, Status
from services.awards.repository import exports as sql

EVERY_ROW = 1_000_000  # a file holds every row of the list (the JSON route pages it)
NOMINEE_KINDS = {NomineeKind.UNIT: "Tập thể", NomineeKind.PERSON: "Cá nhân",
                 NomineeKind.HOUSEHOLD: "Hộ gia đình"}
FLAGS = {"not_enrolled": "Chưa đăng ký thi đua", "needs_reappraisal": "Cần thẩm định lại"}
PERSONAL = ("Tài liệu có thông tin cá nhân: chỉ dùng cho công tác thi đua, khen thưởng; "
            "việc xuất danh sách đã được ghi nhật ký")

DECISION_COLUMNS = [Column("Số quyết định", width=18), Column("Ngày ký", Kind.DATE),
                    Column("Người ký", width=24), Column("Cấp quyết định", width=22)]


@dataclass(frozen=True)
class UnitName:
    code: str | None
    name: str


def names_in_year(versions: Iterable[asyncpg.Record], wanted: Iterable[tuple[uuid.UUID, int]]
                  ) -> dict[tuple[uuid.UUID, int], UnitName]:
    """Each (unit, year)'s code and name: the version in force at the year's end, else the
    last one begun before it, else the unit's first."""
    by_unit: dict[uuid.UUID, list[asyncpg.Record]] = {}
    for v in versions:
        by_unit.setdefault(v["unit_id"], []).append(v)
    out: dict[tuple[uuid.UUID, int], UnitName] = {}
    for unit_id, year in wanted:
        history = by_unit.get(unit_id)
        if not history:
            continue
        end = date(year, 12, 31)
        begun = [v for v in history if v["valid_from"] <= end]
        v = begun[-1] if begun else history[0]
        out[(unit_id, year)] = UnitName(v["code"], v["name"])
    return out


async def _unit_names(conn: Conn, wanted: Sequence[tuple[uuid.UUID, int]]
                      ) -> dict[tuple[uuid.UUID, int], UnitName]:
    return names_in_year(await sql.unit_versions(conn, {u for u, _ in wanted}), wanted)


def _decision(d: Decision | None) -> list[Cell]:
    if d is None:
        return [None, None, None, None]
    return [d.number, d.signed_on, d.signer, LEVEL_LABELS.get(d.authority_level,
                                                              d.authority_level.value)]


async def nominations(conn: Conn, ctx: Context, *, year: int | None, status: Status | None,
                      form_code: str | None, unit_id: uuid.UUID | None) -> list[Table]:
    """The dossiers ``GET /v1/nominations`` lists for the same filters (``service.search``: in
    the caller's subtree, the query audited), every one of them."""
    page = await service.search(conn, ctx, year=year, status=status, form_code=form_code,
                                unit_id=unit_id, limit=EVERY_ROW, offset=0)
    forms = await sql.form_names(conn)
    units = await _unit_names(conn, [(u, n.year) for n in page.items
                                     for u in (n.nominee.unit_id, n.proposing_unit_id)])
    rows: list[list[Cell]] = []
    for n in page.items:
        nominee_unit = units.get((n.nominee.unit_id, n.year))
        proposing = units.get((n.proposing_unit_id, n.year))
        rows.append([
            n.year, n.form_code, forms.get(n.form_code, n.form_code),
            NOMINEE_KINDS[n.nominee.kind], n.nominee.name,
            nominee_unit.code if nominee_unit else None,
            nominee_unit.name if nominee_unit else str(n.nominee.unit_id),
            proposing.name if proposing else str(n.proposing_unit_id),
            STATUS_LABELS[n.status], n.achievements, *_decision(n.decision),
            "; ".join(FLAGS.get(f, f) for f in n.flags) or None, n.created_at, n.updated_at,
            str(n.nomination_id)])
    root = (await _unit_names(conn, [(unit_id, clock.today().year)])).get(
        (unit_id, clock.today().year)) if unit_id else None
    about: list[tuple[str, Cell]] = [
        ("Năm", year if year is not None else "Tất cả"),
        ("Trạng thái", STATUS_LABELS[status] if status else "Tất cả"),
        ("Hình thức khen thưởng", forms.get(form_code, form_code) if form_code else "Tất cả"),
        ("Đơn vị", root.name if root else (str(unit_id) if unit_id else
                                           "Đơn vị của người lập và các đơn vị trực thuộc")),
        ("Số hồ sơ", page.total), ("Thời điểm lập", clock.now()), ("Lưu ý", PERSONAL)]
    return [Table("Hồ sơ đề nghị", "Danh sách hồ sơ đề nghị khen thưởng", [
        Column("Năm", Kind.INTEGER), Column("Mã hình thức"),
        Column("Hình thức khen thưởng", width=30), Column("Đối tượng"),
        Column("Tên đối tượng", width=28), Column("Mã đơn vị"),
        Column("Đơn vị", width=26), Column("Đơn vị đề nghị", width=26),
        Column("Trạng thái", width=18), Column("Tóm tắt thành tích", width=40),
        *DECISION_COLUMNS, Column("Ghi chú", width=24),
        Column("Ngày lập", Kind.INSTANT, width=18),
        Column("Cập nhật lúc", Kind.INSTANT, width=18), Column("Mã hồ sơ", width=38)],
        rows, about)]


async def public_awards(conn: Conn, year: int) -> list[Table]:
    """The public list of a year's awards (``service.public_awards``: no token, no personal
    data beyond what the list shows)."""
    awards = await service.public_awards(conn, year)
    units = await _unit_names(conn, [(a.unit_id, a.year) for a in awards])
    rows: list[list[Cell]] = []
    for a in awards:
        unit = units.get((a.unit_id, a.year))
        rows.append([a.year, a.form_code, a.form_name, NOMINEE_KINDS[a.nominee_kind],
                     a.nominee_name, unit.code if unit else None,
                     unit.name if unit else str(a.unit_id), *_decision(a.decision)])
    about: list[tuple[str, Cell]] = [("Năm", year), ("Số khen thưởng", len(awards)),
                                     ("Thời điểm lập", clock.now())]
    return [Table("Khen thưởng", f"Danh sách khen thưởng năm {year}", [
        Column("Năm", Kind.INTEGER), Column("Mã hình thức"),
        Column("Hình thức khen thưởng", width=30), Column("Đối tượng"),
        Column("Tên", width=28), Column("Mã đơn vị"), Column("Đơn vị", width=26),
        *DECISION_COLUMNS], rows, about)]

