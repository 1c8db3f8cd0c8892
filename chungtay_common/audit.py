"""The audit log: every state change, with who, when, what, before and after."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chungtay_common.db import Conn, jsonable
from chungtay_common.events import Actor


@dataclass(frozen=True)
class Change:
    """One audit row of a batch (``insert_many``): what changed, before and after."""

    action: str
    entity_type: str
    entity_id: str
    before: Any
    after: Any


def _json(value: Any) -> str | None:
    # stored as ``record`` stores it: dates and UUIDs as strings; None is SQL NULL
    return None if value is None else json.dumps(value, default=str)


def insert_many(p: int, where: str = "true") -> str:
    """An INSERT of a batch of audit rows from the parameters ``$p`` to ``$p+8``
    (``many_args``), for a statement that writes a change and its audit rows in one round
    trip; only if ``where`` holds."""
    return (
        "INSERT INTO audit_log (actor, actor_roles, action, entity_type, entity_id, before,"
        " after, correlation_id, actor_unit_id)"
        f" SELECT ${p}::text, ${p + 1}::text[], a.action, a.entity_type, a.entity_id,"
        f" a.before::jsonb, a.after::jsonb, ${p + 2}::uuid, ${p + 3}::uuid"
        f" FROM unnest(${p + 4}::text[], ${p + 5}::text[], ${p + 6}::text[], ${p + 7}::text[],"
        f" ${p + 8}::text[]) AS a(action, entity_type, entity_id, before, after) WHERE {where}")


def many_args(actor: Actor, correlation_id: uuid.UUID | None, actor_unit_id: uuid.UUID | None,
              changes: Sequence[Change]) -> list[Any]:
    """The parameters of ``insert_many``."""
    return [actor.subject, actor.roles, correlation_id, actor_unit_id,
            [c.action for c in changes], [c.entity_type for c in changes],
            [c.entity_id for c in changes], [_json(c.before) for c in changes],
            [_json(c.after) for c in changes]]


async def record(
    conn: Conn,
    *,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str,
    before: Any,
    after: Any,
    correlation_id: uuid.UUID | None = None,
    actor_unit_id: uuid.UUID | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, actor_roles, action, entity_type, entity_id, before, after,"
        " correlation_id, actor_unit_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        actor.subject, actor.roles, action, entity_type, entity_id,
        jsonable(before), jsonable(after), correlation_id, actor_unit_id,
    )


async def history(
    conn: Conn, entity_type: str, entity_id: str
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT at, actor, actor_roles, action, before, after FROM audit_log"
        " WHERE entity_type = $1 AND entity_id = $2 ORDER BY id",
        entity_type, entity_id,
    )
    return [dict(r) for r in rows]
