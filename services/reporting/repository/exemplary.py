"""SQL of the exemplary models' counts (the views' ``exemplary_models`` and
``replications``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import asyncpg

from chungtay_common.db import Conn


async def save_model(conn: Conn, model_id: uuid.UUID, name: str, kind: str,
                     unit_id: uuid.UUID, year: int, recognised: bool) -> None:
    """The model as its latest event says (events of a model come in order: one key)."""
    await conn.execute(
        "INSERT INTO exemplary_models (model_id, name, kind, unit_id, year, recognised)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (model_id) DO UPDATE SET"
        " name = EXCLUDED.name, kind = EXCLUDED.kind, unit_id = EXCLUDED.unit_id,"
        " year = EXCLUDED.year, recognised = EXCLUDED.recognised, updated_at = now()",
        model_id, name, kind, unit_id, year, recognised)


async def add_replication(conn: Conn, replication_id: uuid.UUID, model_id: uuid.UUID,
                          unit_id: uuid.UUID, replicated_on: date, outcome: str) -> None:
    await conn.execute(
        "INSERT INTO replications (replication_id, model_id, unit_id, replicated_on, outcome)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (replication_id) DO NOTHING",
        replication_id, model_id, unit_id, replicated_on, outcome)


async def counts(conn: Conn, year: int, unit_ids: Sequence[uuid.UUID]) -> tuple[int, int, int]:
    """Of the units: the models found in ``year``, how many of them recognised, and the
    replications that took place in ``year``."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM exemplary_models WHERE year = $1 AND unit_id = ANY($2))"
        "   AS models,"
        " (SELECT count(*) FROM exemplary_models WHERE year = $1 AND unit_id = ANY($2)"
        "   AND recognised) AS recognised,"
        " (SELECT count(*) FROM replications WHERE replicated_on >= make_date($1, 1, 1)"
        "   AND replicated_on < make_date($1 + 1, 1, 1) AND unit_id = ANY($2)) AS replications",
        year, list(unit_ids))
    assert row is not None
    return row["models"], row["recognised"], row["replications"]


async def of_year(conn: Conn, year: int) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """The models found in ``year`` and the replications that took place in it (their unit,
    recognition)."""
    models = await conn.fetch(
        "SELECT unit_id, recognised FROM exemplary_models WHERE year = $1", year)
    replications = await conn.fetch(
        "SELECT unit_id FROM replications WHERE replicated_on >= make_date($1, 1, 1)"
        " AND replicated_on < make_date($1 + 1, 1, 1)", year)
    return list(models), list(replications)
