"""The audit log: every state change, with who, when, what, before and after."""

from __future__ import annotations

import uuid
from typing import Any

from chungtay_common.db import Conn, jsonable
from chungtay_common.events import Actor


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
