"""SQL of the register of exemplary models and initiatives, and of the public page."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg

from chungtay_common.db import Conn
from chungtay_common.messages import en_vi
from chungtay_common.refusals import StateConflict
from services.awards.domain import Status

_MODEL_COLUMNS = ("name", "unit_id", "kind", "description", "year", "evidence")


async def insert_model(conn: Conn, model_id: uuid.UUID, m: dict[str, Any], actor: str) -> None:
    await conn.execute(
        "INSERT INTO exemplary_models (model_id, name, unit_id, kind, description, year,"
        " evidence, proposed_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        model_id, *(m[c] for c in _MODEL_COLUMNS), actor)


async def model(conn: Conn, model_id: uuid.UUID, *, lock: bool = False
                ) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM exemplary_models WHERE model_id = $1"
                               + (" FOR UPDATE" if lock else ""), model_id)


async def update_model(conn: Conn, model_id: uuid.UUID, changes: dict[str, Any]) -> None:
    cols = [c for c in changes if c in _MODEL_COLUMNS]
    assert len(cols) == len(changes), f"not updatable: {set(changes) - set(cols)}"
    sets = "".join(f"{c} = ${i + 2}, " for i, c in enumerate(cols))
    await conn.execute(
        f"UPDATE exemplary_models SET {sets}version = version + 1, updated_at = now()"
        " WHERE model_id = $1", model_id, *(changes[c] for c in cols))


async def recognise(conn: Conn, model_id: uuid.UUID, recognised_by: str, number: str,
                    decided_on: date, actor: str) -> None:
    await conn.execute(
        "UPDATE exemplary_models SET recognised_by = $2, decision_number = $3, decided_on = $4,"
        " recorded_by = $5, recognised_at = now(), version = version + 1, updated_at = now()"
        " WHERE model_id = $1", model_id, recognised_by, number, decided_on, actor)


async def add_replication(conn: Conn, replication_id: uuid.UUID, model_id: uuid.UUID,
                          unit_id: uuid.UUID, replicated_on: date, outcome: str,
                          actor: str) -> None:
    if not await conn.fetchval(
            "INSERT INTO exemplary_replications (replication_id, model_id, unit_id,"
            " replicated_on, outcome, recorded_by) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (model_id, unit_id, replicated_on) DO NOTHING RETURNING true",
            replication_id, model_id, unit_id, replicated_on, outcome, actor):
        raise StateConflict(en_vi("this replication (unit and day) is already recorded",
                                  "lần nhân rộng này (đơn vị, ngày) đã được ghi nhận"))
    await conn.execute("UPDATE exemplary_models SET version = version + 1, updated_at = now()"
                       " WHERE model_id = $1", model_id)


async def replications(conn: Conn, model_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM exemplary_replications WHERE model_id = ANY($1)"
        " ORDER BY replicated_on, recorded_at", model_ids))


async def link_award(conn: Conn, model_id: uuid.UUID, nomination_id: uuid.UUID,
                     actor: str) -> None:
    if not await conn.fetchval(
            "INSERT INTO exemplary_award_links (model_id, nomination_id, linked_by)"
            " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true",
            model_id, nomination_id, actor):
        raise StateConflict(en_vi("the model is already linked to this nomination",
                                  "điển hình đã được liên kết với hồ sơ này"))
    await conn.execute("UPDATE exemplary_models SET version = version + 1, updated_at = now()"
                       " WHERE model_id = $1", model_id)


async def award_links(conn: Conn, model_ids: list[uuid.UUID], *, approved_only: bool = False
                      ) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT l.model_id, l.nomination_id, l.linked_at, n.form_code, n.year, n.status,"
        " n.nominee_name FROM exemplary_award_links l JOIN nominations n USING (nomination_id)"
        " WHERE l.model_id = ANY($1) AND (NOT $2 OR n.status = $3)"
        " ORDER BY n.year, n.form_code, l.linked_at",
        model_ids, approved_only, Status.APPROVED.value))


async def link_proposers(conn: Conn, model_ids: list[uuid.UUID]
                         ) -> dict[uuid.UUID, uuid.UUID]:
    """The proposing unit of each dossier linked to one of the models."""
    return {r["nomination_id"]: r["proposing_unit_id"] for r in await conn.fetch(
        "SELECT l.nomination_id, n.proposing_unit_id FROM exemplary_award_links l"
        " JOIN nominations n USING (nomination_id) WHERE l.model_id = ANY($1)", model_ids)}


async def editors(conn: Conn, model_id: uuid.UUID) -> set[str]:
    """Who corrected the model (its audit trail)."""
    return {r["actor"] for r in await conn.fetch(
        "SELECT DISTINCT actor FROM audit_log WHERE entity_type = 'exemplary_model'"
        " AND entity_id = $1 AND action = 'exemplary_model.edit'", str(model_id))}


_FILTERS = ("($1::int IS NULL OR year = $1)",
            "($2::uuid[] IS NULL OR unit_id = ANY($2))",
            "($3::text IS NULL OR kind = $3)",
            "($4::boolean IS NULL OR (recognised_at IS NOT NULL) = $4)",
            # what the caller sees: every recognised model, proposals of its units only
            "(recognised_at IS NOT NULL OR $5::uuid[] IS NULL OR unit_id = ANY($5))")


async def search(conn: Conn, *, year: int | None, unit_ids: list[uuid.UUID] | None,
                 kind: str | None, recognised: bool | None,
                 readable: list[uuid.UUID] | None, limit: int, offset: int
                 ) -> tuple[int, list[asyncpg.Record]]:
    sql = " FROM exemplary_models WHERE " + " AND ".join(_FILTERS)
    args = [year, unit_ids, kind, recognised, readable]
    total: int = await conn.fetchval("SELECT count(*)" + sql, *args)
    rows = await conn.fetch("SELECT *" + sql + " ORDER BY year DESC, name, model_id"
                            " LIMIT $6 OFFSET $7", *args, limit, offset)
    return total, list(rows)


async def models_per_unit(conn: Conn, year: int, unit_ids: list[uuid.UUID]
                          ) -> dict[uuid.UUID, int]:
    rows = await conn.fetch(
        "SELECT unit_id, count(*) AS n FROM exemplary_models WHERE year = $1"
        " AND unit_id = ANY($2) GROUP BY unit_id", year, unit_ids)
    return {r["unit_id"]: r["n"] for r in rows}


async def figures(conn: Conn, year: int, unit_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """Each unit's report of ``year`` (of the campaign whose report was updated last) and its
    report of the year before in the same campaign (the poverty standards of two campaigns
    do not compare)."""
    return list(await conn.fetch(
        'SELECT DISTINCT ON (f.unit_id) f.unit_id, f."values" AS now, b."values" AS before'
        " FROM reported_facts f LEFT JOIN reported_facts b ON b.campaign_id = f.campaign_id"
        " AND b.unit_id = f.unit_id AND b.year = f.year - 1"
        " WHERE f.year = $1 AND f.unit_id = ANY($2)"
        " ORDER BY f.unit_id, f.updated_at DESC, f.campaign_id", year, unit_ids))


# --------------------------------------------------------------------------- the public page


async def public_awards(conn: Conn, year: int) -> list[asyncpg.Record]:
    """The awards of ``year`` approved and not revoked, with their form's name and the day
    they were approved."""
    return list(await conn.fetch(
        "SELECT n.nomination_id, n.year, n.form_code, f.name_vi AS form_name, n.nominee_kind,"
        " n.nominee_name, n.nominee_unit, n.decision, s.at AS approved_at"
        " FROM nominations n JOIN award_forms f ON f.code = n.form_code"
        " LEFT JOIN LATERAL (SELECT max(at) AS at FROM nomination_steps"
        "      WHERE nomination_id = n.nomination_id AND step = 'approve') s ON true"
        " WHERE n.year = $1 AND n.status = $2 AND n.decision IS NOT NULL"
        " ORDER BY f.name_vi, n.nominee_name, n.nomination_id", year, Status.APPROVED.value))


async def recognised_models(conn: Conn, year: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM exemplary_models WHERE year = $1 AND recognised_at IS NOT NULL"
        " ORDER BY kind, name, model_id", year))


async def public_years(conn: Conn) -> list[int]:
    rows = await conn.fetch(
        "SELECT year FROM nominations WHERE status = $1 AND decision IS NOT NULL"
        " UNION SELECT year FROM exemplary_models WHERE recognised_at IS NOT NULL"
        " ORDER BY year DESC", Status.APPROVED.value)
    return [r["year"] for r in rows]


async def latest_awards(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """The awards approved last (and not revoked since), newest first."""
    return list(await conn.fetch(
        "SELECT n.nomination_id, n.year, n.form_code, f.name_vi AS form_name, n.nominee_kind,"
        " n.nominee_name, n.nominee_unit, n.decision, s.at AS approved_at"
        " FROM nominations n JOIN award_forms f ON f.code = n.form_code"
        " JOIN LATERAL (SELECT max(at) AS at FROM nomination_steps"
        "      WHERE nomination_id = n.nomination_id AND step = 'approve') s ON s.at IS NOT NULL"
        " WHERE n.status = $1 AND n.decision IS NOT NULL"
        " ORDER BY s.at DESC, n.nomination_id LIMIT $2", Status.APPROVED.value, limit))


async def latest_models(conn: Conn, limit: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM exemplary_models WHERE recognised_at IS NOT NULL"
        " ORDER BY recognised_at DESC, model_id LIMIT $1", limit))


async def unit_names(conn: Conn, unit_ids: list[uuid.UUID], on: date) -> dict[uuid.UUID, str]:
    """Each unit's name on ``on`` (else as it was last named before, else first named)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (unit_id) unit_id, name FROM unit_versions"
        " WHERE unit_id = ANY($1)"
        " ORDER BY unit_id, (valid_from <= $2) DESC,"
        " CASE WHEN valid_from <= $2 THEN valid_from END DESC, valid_from", unit_ids, on)
    return {r["unit_id"]: r["name"] for r in rows}

