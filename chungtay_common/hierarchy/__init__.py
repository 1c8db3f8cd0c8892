"""The dated unit hierarchy: read queries shared by the registration service (which owns the
authoritative tables) and by every consumer's copy (same tables, fed by snapshots).

Validity is ``[valid_from, valid_to)``: a unit closed or merged on D is no longer there on D.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import asyncpg

from chungtay_common.auth import Principal, Role, ensure_may_act_on
from chungtay_common.contracts.registration import UnitEvent, UnitKind, UnitSnapshot
from chungtay_common.db import Conn
from chungtay_common.errors import Forbidden
from chungtay_common.events import Envelope
from chungtay_common.messages import en_vi
from chungtay_common.refusals import StateConflict

if TYPE_CHECKING:
    from chungtay_common.consumer import Handler

MIGRATIONS = Path(__file__).parent / "migrations"

# a unit version `v` in force on the day `$1` (validity is [valid_from, valid_to))
ACTIVE_ON = "v.valid_from <= $1 AND (v.valid_to IS NULL OR v.valid_to > $1)"


@dataclass(frozen=True)
class UnitOnDate:
    unit_id: uuid.UUID
    kind: UnitKind
    code: str | None
    name: str
    subkind: str | None
    parent_id: uuid.UUID | None


def _on_date(r: asyncpg.Record) -> UnitOnDate:
    return UnitOnDate(
        unit_id=r["unit_id"], kind=UnitKind(r["kind"]), code=r["code"], name=r["name"],
        subkind=r["subkind"], parent_id=r["parent_id"],
    )


async def unit_on(conn: Conn, unit_id: uuid.UUID, on: date) -> UnitOnDate | None:
    row = await conn.fetchrow(
        "SELECT u.unit_id, u.kind, v.code, v.name, v.subkind, v.parent_id"
        f" FROM units u JOIN unit_versions v USING (unit_id) WHERE {ACTIVE_ON} AND u.unit_id = $2",
        on, unit_id,
    )
    return _on_date(row) if row else None


async def active_on(conn: Conn, on: date) -> list[UnitOnDate]:
    rows = await conn.fetch(
        "SELECT u.unit_id, u.kind, v.code, v.name, v.subkind, v.parent_id"
        f" FROM units u JOIN unit_versions v USING (unit_id) WHERE {ACTIVE_ON}"
        " ORDER BY v.code NULLS LAST, v.name",
        on,
    )
    return [_on_date(r) for r in rows]


async def ancestry(conn: Conn, unit_id: uuid.UUID, on: date) -> list[uuid.UUID]:
    """The unit itself, then its parent, up to the root, as the hierarchy stood on ``on``."""
    rows = await conn.fetch(
        f"""
        WITH RECURSIVE up(unit_id, parent_id, depth) AS (
            SELECT v.unit_id, v.parent_id, 0 FROM unit_versions v
             WHERE v.unit_id = $2 AND {ACTIVE_ON}
            UNION ALL
            SELECT v.unit_id, v.parent_id, up.depth + 1
              FROM up JOIN unit_versions v ON v.unit_id = up.parent_id
             WHERE {ACTIVE_ON} AND up.depth < 20
        )
        SELECT unit_id FROM up ORDER BY depth
        """,
        on, unit_id,
    )
    return [r["unit_id"] for r in rows]


# The unit $2 and every unit below it on the day $1, as the CTE ``down(unit_id, depth)``: the
# start of a query that joins what it needs to the subtree.
SUBTREE = f"""
    WITH RECURSIVE down(unit_id, depth) AS (
        SELECT v.unit_id, 0 FROM unit_versions v WHERE v.unit_id = $2 AND {ACTIVE_ON}
        UNION ALL
        SELECT v.unit_id, down.depth + 1
          FROM down JOIN unit_versions v ON v.parent_id = down.unit_id
         WHERE {ACTIVE_ON} AND down.depth < 20
    )
"""


async def subtree(conn: Conn, root: uuid.UUID, on: date) -> list[UnitOnDate]:
    """The root and every unit below it on ``on``, parents before children."""
    rows = await conn.fetch(
        f"""{SUBTREE}
        SELECT u.unit_id, u.kind, v.code, v.name, v.subkind, v.parent_id
          FROM down JOIN units u USING (unit_id) JOIN unit_versions v USING (unit_id)
         WHERE {ACTIVE_ON}
         ORDER BY down.depth, v.code NULLS LAST, v.name
        """,
        on, root,
    )
    return [_on_date(r) for r in rows]


async def by_codes(conn: Conn, codes: list[str], start: date, end: date
                   ) -> dict[str, UnitOnDate]:
    """Units holding each code at some time in ``[start, end]``. Codes are reused, so when two
    units held one code in the period, the later holder is taken (as it stood on its last day
    in the period)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (v.code) u.unit_id, u.kind, v.code, v.name, v.subkind, v.parent_id
          FROM units u JOIN unit_versions v USING (unit_id)
         WHERE v.code = ANY($1::text[])
           AND daterange(v.valid_from, v.valid_to) && daterange($2, $3, '[]')
         ORDER BY v.code, v.valid_from DESC
        """,
        codes, start, end,
    )
    return {r["code"]: _on_date(r) for r in rows}


async def apply_snapshot(conn: Conn, snap: UnitSnapshot) -> bool:
    """Store a unit's history when ``snap`` is newer than what is held; True when stored."""
    stored = await conn.fetchval(
        "INSERT INTO units (unit_id, kind, revision) VALUES ($1, $2, $3)"
        " ON CONFLICT (unit_id) DO UPDATE SET kind = EXCLUDED.kind,"
        "   revision = EXCLUDED.revision, updated_at = now()"
        " WHERE units.revision < EXCLUDED.revision"
        " RETURNING unit_id",
        snap.unit_id, snap.kind.value, snap.revision,
    )
    if stored is None:
        return False
    await conn.execute("DELETE FROM unit_versions WHERE unit_id = $1", snap.unit_id)
    await conn.executemany(
        "INSERT INTO unit_versions (unit_id, valid_from, valid_to, code, name, subkind, parent_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (snap.unit_id, v.valid_from, v.valid_to, v.code, v.name, v.subkind, v.parent_id)
            for v in snap.versions
        ],
    )
    return True


async def last_day_active(conn: Conn, unit_id: uuid.UUID, start: date, end: date) -> date | None:
    """The last day in ``[start, end]`` on which the unit exists, or None if it never does."""
    day: date | None = await conn.fetchval(
        "SELECT LEAST($3::date, COALESCE(valid_to - 1, $3::date)) FROM unit_versions"
        " WHERE unit_id = $1 AND daterange(valid_from, valid_to) && daterange($2, $3, '[]')"
        " ORDER BY valid_from DESC LIMIT 1",
        unit_id, start, end,
    )
    return day


# Where a unit stands for authority on the day $1: its version in force that day; for a unit no
# longer there (closed, merged), its last version, so its reports and dossiers still have
# someone over them; for one not there yet, its first. The order that picks it, of versions `v`:
PLACEMENT_ORDER = (f"({ACTIVE_ON}) DESC, (v.valid_from <= $1) DESC,"
                   " CASE WHEN v.valid_from <= $1 THEN v.valid_from END DESC, v.valid_from")


# The chain of ``authority_chain`` for the unit $2 on the day $1, as the CTE ``up(unit_id,
# parent_id, depth)``.
_UP = f"""
    WITH RECURSIVE up(unit_id, parent_id, depth) AS (
        SELECT p.unit_id, p.parent_id, 0 FROM (
            SELECT v.unit_id, v.parent_id FROM unit_versions v WHERE v.unit_id = $2
             ORDER BY {PLACEMENT_ORDER} LIMIT 1) p
        UNION ALL
        SELECT p.unit_id, p.parent_id, up.depth + 1 FROM up CROSS JOIN LATERAL (
            SELECT v.unit_id, v.parent_id FROM unit_versions v
             WHERE v.unit_id = up.parent_id ORDER BY {PLACEMENT_ORDER} LIMIT 1) p
         WHERE up.depth < 20
    )
"""


def chains_cte(starts: str) -> str:
    """The chains of ``authority_chain`` of every unit of ``starts`` (a relation with a column
    ``unit_id``) on the day $1, as the CTE ``chains(start, unit_id, parent_id, depth)`` (after
    ``WITH RECURSIVE``): for a statement that checks many units' authority in one round trip."""
    return f"""
    chains(start, unit_id, parent_id, depth) AS (
        SELECT s.unit_id, p.unit_id, p.parent_id, 0 FROM {starts} s CROSS JOIN LATERAL (
            SELECT v.unit_id, v.parent_id FROM unit_versions v WHERE v.unit_id = s.unit_id
             ORDER BY {PLACEMENT_ORDER} LIMIT 1) p
        UNION ALL
        SELECT c.start, p.unit_id, p.parent_id, c.depth + 1 FROM chains c CROSS JOIN LATERAL (
            SELECT v.unit_id, v.parent_id FROM unit_versions v
             WHERE v.unit_id = c.parent_id ORDER BY {PLACEMENT_ORDER} LIMIT 1) p
         WHERE c.depth < 20
    )"""


async def authority_chain(conn: Conn, unit_id: uuid.UUID, on: date) -> list[uuid.UUID]:
    """The units over ``unit_id`` on the day ``on`` of an action, itself first, each placed
    as ``PLACEMENT_ORDER`` says."""
    rows = await conn.fetch(f"{_UP} SELECT unit_id FROM up ORDER BY depth", on, unit_id)
    return [r["unit_id"] for r in rows]


async def authority_subtree(conn: Conn, root: uuid.UUID, on: date) -> list[uuid.UUID]:
    """``root`` and every unit ``authority_chain`` places below it on ``on``: what a caller of
    ``root`` may read on that day."""
    rows = await conn.fetch(
        f"""
        WITH RECURSIVE placed AS (
            SELECT DISTINCT ON (v.unit_id) v.unit_id, v.parent_id FROM unit_versions v
             ORDER BY v.unit_id, {PLACEMENT_ORDER}
        ), down(unit_id, depth) AS (
            SELECT $2::uuid, 0
            UNION ALL
            SELECT p.unit_id, down.depth + 1 FROM down JOIN placed p ON p.parent_id = down.unit_id
             WHERE down.depth < 20
        )
        SELECT DISTINCT unit_id FROM down
        """,
        on, root,
    )
    return [r["unit_id"] for r in rows]


async def ensure_acting_unit(conn: Conn, principal: Principal, on: date) -> None:
    """Refuse (403) a caller whose unit does not exist on ``on``: a token outlives the
    reorganisation that abolished its unit, the unit's authority does not."""
    if Role.ADMIN in principal.roles:
        return
    if principal.unit_id is None or await unit_on(conn, principal.unit_id, on) is None:
        _no_authority(on)


def _no_authority(on: date) -> NoReturn:
    raise Forbidden(en_vi(
        f"the caller's unit does not exist on {on.isoformat()}: it holds no authority",
        f"đơn vị của người thực hiện không còn tồn tại vào ngày {on.isoformat()}: "
        "không có thẩm quyền"))


async def ensure_authority(conn: Conn, principal: Principal, unit_id: uuid.UUID, on: date,
                           what: str = "this unit") -> list[uuid.UUID]:
    """Refuse (403) unless the caller's unit exists on ``on``, the day of the action, and
    ``unit_id`` is in its subtree as the hierarchy stands that day (``authority_chain``): a
    former parent has lost its authority, the current one holds it. The chain is returned."""
    if Role.ADMIN in principal.roles:
        return await authority_chain(conn, unit_id, on)
    # one round trip on every write: the chain, and whether the caller's unit exists that day
    row = await conn.fetchrow(
        f"""{_UP}
        SELECT ARRAY(SELECT unit_id FROM up ORDER BY depth) AS chain,
               EXISTS (SELECT 1 FROM unit_versions v WHERE v.unit_id = $3 AND {ACTIVE_ON})
                 AS acting
        """, on, unit_id, principal.unit_id)
    assert row is not None  # an aggregate query returns one row
    chain: list[uuid.UUID] = list(row["chain"])
    check_authority(principal, chain, row["acting"], on, what)
    return chain


def check_authority(principal: Principal, chain: list[uuid.UUID], acting: bool, on: date,
                    what: str = "this unit") -> None:
    """``ensure_authority``'s rule on what was read: ``chain`` as ``authority_chain`` gives it,
    and whether the caller's unit exists on ``on`` (``acting``)."""
    if Role.ADMIN in principal.roles:
        return
    if not acting:
        _no_authority(on)
    ensure_may_act_on(principal, chain, what)


UNIT_EVENT_TYPES = ("unit.registered", "unit.renamed", "unit.moved", "unit.closed",
                    "unit.merged", "unit.split")


async def apply_unit_event(conn: Conn, envelope: Envelope[Any]) -> None:
    """Consumer handler: every unit event carries the snapshots of the units it changed."""
    payload: UnitEvent = envelope.payload
    for snap in payload.units:
        await apply_snapshot(conn, snap)


def unit_event_handlers() -> dict[str, Handler]:
    """Handlers that keep a service's own copy of the hierarchy from the registration topic."""
    return dict.fromkeys(UNIT_EVENT_TYPES, apply_unit_event)


async def ancestries(conn: Conn, unit_id: uuid.UUID, start: date, end: date | None,
                     limit: int = 1000) -> list[list[uuid.UUID]]:
    """Every ancestry the unit has over ``[start, end)`` (``end`` None: open): a change that
    takes effect on ``start`` and lasts is within a caller's scope only if each of them is.

    More than ``limit`` of them is refused (``StateConflict``): a partial list would let a
    change through unchecked for the versions past the limit."""
    chains: list[list[uuid.UUID]] = []
    day = start
    while True:
        chain = await ancestry(conn, unit_id, day)
        if not chain:
            return chains
        chains.append(chain)
        # the chain can only change on a day one of its units starts or ends a version
        nxt: date | None = await conn.fetchval(
            "SELECT min(d) FROM (SELECT valid_from AS d FROM unit_versions"
            "   WHERE unit_id = ANY($1) AND valid_from > $2"
            " UNION ALL SELECT valid_to FROM unit_versions"
            "   WHERE unit_id = ANY($1) AND valid_to > $2) days",
            chain, day)
        if nxt is None or (end is not None and nxt >= end):
            return chains
        if len(chains) >= limit:
            raise StateConflict(en_vi(
                "the change reaches too many versions of the hierarchy to check its scope "
                f"(more than {limit})",
                "thay đổi chạm tới quá nhiều phiên bản của cây đơn vị để kiểm tra phạm vi "
                f"(hơn {limit})"))
        day = nxt
