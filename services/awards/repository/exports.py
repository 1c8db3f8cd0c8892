"""SQL of the exports: the names units went by (for the files' unit columns)."""

from __future__ import annotations

import uuid
from collections.abc import Collection

import asyncpg

from chungtay_common.db import Conn


async def unit_versions(conn: Conn, unit_ids: Collection[uuid.UUID]) -> list[asyncpg.Record]:
    """Every dated version (code, name) of these units, oldest first."""
    return list(await conn.fetch(
        "SELECT unit_id, valid_from, valid_to, code, name FROM unit_versions"
        " WHERE unit_id = ANY($1) ORDER BY unit_id, valid_from", list(unit_ids)))


async def form_names(conn: Conn) -> dict[str, str]:
    """Each form's Vietnamese name, by code."""
    rows = await conn.fetch("SELECT code, name_vi FROM award_forms")
    return {r["code"]: r["name_vi"] for r in rows}
