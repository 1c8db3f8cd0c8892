"""All SQL of the registration service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import asyncpg

from chungtay_common.contracts.registration import UnitKind, UnitSnapshot, UnitVersion
from chungtay_common.db import Conn
from chungtay_common.errors import NotFound
from chungtay_common.hierarchy import ACTIVE_ON
from chungtay_common.messages import en_vi
from chungtay_common.refusals import StateConflict
from services.registration.domain import fold


async def insert_unit(
    conn: Conn, unit_id: uuid.UUID, kind: UnitKind, created_by: str
) -> None:
    try:
        await conn.execute(
            "INSERT INTO units (unit_id, kind, revision, created_by) VALUES ($1, $2, 0, $3)",
            unit_id, kind.value, created_by,
        )
    except asyncpg.UniqueViolationError as exc:
        raise StateConflict(en_vi(f"unit {unit_id} already exists",
                                  f"đơn vị {unit_id} đã tồn tại")) from exc


async def lock_unit(conn: Conn, unit_id: uuid.UUID) -> UnitSnapshot:
    """The unit's current state, its row locked until the transaction ends."""
    row = await conn.fetchrow(
        "SELECT kind, revision FROM units WHERE unit_id = $1 FOR UPDATE", unit_id
    )
    if row is None:
        raise NotFound(en_vi(f"unit {unit_id} not found", f"không tìm thấy đơn vị {unit_id}"))
    return UnitSnapshot(
        unit_id=unit_id, kind=UnitKind(row["kind"]), revision=row["revision"],
        versions=await versions(conn, unit_id),
    )


async def find_snapshot(conn: Conn, unit_id: uuid.UUID, *, share: bool = False
                        ) -> UnitSnapshot | None:
    lock = " FOR SHARE" if share else ""
    row = await conn.fetchrow(f"SELECT kind, revision FROM units WHERE unit_id = $1{lock}",
                              unit_id)
    if row is None:
        return None
    return UnitSnapshot(
        unit_id=unit_id, kind=UnitKind(row["kind"]), revision=row["revision"],
        versions=await versions(conn, unit_id),
    )


async def share_unit(conn: Conn, unit_id: uuid.UUID) -> UnitSnapshot | None:
    """The unit's state, locked against changes (not against readers) until commit."""
    return await find_snapshot(conn, unit_id, share=True)


async def versions(conn: Conn, unit_id: uuid.UUID) -> list[UnitVersion]:
    rows = await conn.fetch(
        "SELECT valid_from, valid_to, code, name, subkind, parent_id FROM unit_versions"
        " WHERE unit_id = $1 ORDER BY valid_from",
        unit_id,
    )
    return [UnitVersion(**dict(r)) for r in rows]


async def save_versions(
    conn: Conn, unit_id: uuid.UUID, new: Sequence[UnitVersion]
) -> int:
    """Replace the unit's versions and bump its revision; return the new revision."""
    await conn.execute("DELETE FROM unit_versions WHERE unit_id = $1", unit_id)
    try:
        await conn.executemany(
            "INSERT INTO unit_versions (unit_id, valid_from, valid_to, code, name, name_folded,"
            " subkind, parent_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (unit_id, v.valid_from, v.valid_to, v.code, v.name, fold(v.name), v.subkind,
                 v.parent_id)
                for v in new
            ],
        )
    except asyncpg.ExclusionViolationError as exc:
        codes = ", ".join(sorted({v.code for v in new if v.code}))
        raise StateConflict(en_vi(
            f"code {codes} is held by another unit on overlapping dates",
            f"mã {codes} đang thuộc một đơn vị khác trong khoảng thời gian trùng lặp")) from exc
    revision: int = await conn.fetchval(
        "UPDATE units SET revision = revision + 1, updated_at = now() WHERE unit_id = $1"
        " RETURNING revision",
        unit_id,
    )
    return revision


async def code_holder(
    conn: Conn, code: str, start: date, end: date | None
) -> uuid.UUID | None:
    """The unit holding ``code`` at some day of ``[start, end)``, if any."""
    holder: uuid.UUID | None = await conn.fetchval(
        "SELECT unit_id FROM unit_versions WHERE code = $1"
        " AND daterange(valid_from, valid_to) && daterange($2, $3) LIMIT 1",
        code, start, end,
    )
    return holder


async def find_by_code(
    conn: Conn, code: str, on: date
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT u.unit_id, u.kind, v.code, v.name, v.subkind, v.parent_id"
        f" FROM units u JOIN unit_versions v USING (unit_id) WHERE {ACTIVE_ON} AND v.code = $2",
        on, code,
    )


async def children_from(
    conn: Conn, unit_id: uuid.UUID, on: date
) -> list[uuid.UUID]:
    """Units that have ``unit_id`` as parent on ``on`` or later."""
    rows = await conn.fetch(
        "SELECT DISTINCT unit_id FROM unit_versions"
        " WHERE parent_id = $1 AND (valid_to IS NULL OR valid_to > $2) ORDER BY unit_id",
        unit_id, on,
    )
    return [r["unit_id"] for r in rows]


async def add_lineage(
    conn: Conn, change: str, effective: date,
    predecessor_id: uuid.UUID, successor_id: uuid.UUID,
) -> None:
    await conn.execute(
        "INSERT INTO unit_lineage (change, effective_date, predecessor_id, successor_id)"
        " VALUES ($1, $2, $3, $4)",
        change, effective, predecessor_id, successor_id,
    )


async def lineage(conn: Conn, unit_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT change, effective_date, predecessor_id, successor_id FROM unit_lineage"
        " WHERE predecessor_id = $1 OR successor_id = $1 ORDER BY effective_date, id",
        unit_id,
    )


async def search(
    conn: Conn,
    *,
    on: date,
    code: str | None,
    name_folded: str | None,
    kind: UnitKind | None,
    parent_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[int, list[asyncpg.Record]]:
    where = [ACTIVE_ON]
    args: list[object] = [on]
    if code is not None:
        args.append(code)
        where.append(f"v.code = ${len(args)}")
    if name_folded:
        args.append("%" + name_folded.replace("\\", "\\\\").replace("%", "\\%")
                    .replace("_", "\\_") + "%")
        where.append(f"v.name_folded LIKE ${len(args)}")
    if kind is not None:
        args.append(kind.value)
        where.append(f"u.kind = ${len(args)}")
    if parent_id is not None:
        args.append(parent_id)
        where.append(f"v.parent_id = ${len(args)}")
    sql_from = " FROM units u JOIN unit_versions v USING (unit_id) WHERE " + " AND ".join(where)
    total: int = await conn.fetchval("SELECT count(*)" + sql_from, *args)
    rows = await conn.fetch(
        "SELECT u.unit_id, u.kind, v.code, v.name, v.subkind, v.parent_id, v.valid_from,"
        " v.valid_to" + sql_from
        + f" ORDER BY v.code NULLS LAST, v.name LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args, limit, offset,
    )
    return total, list(rows)
