"""SQL of the Board's papers: the nominations they list and the templates of their wording."""

from __future__ import annotations

import uuid
from datetime import date

import asyncpg

from chungtay_common.db import Conn
from services.awards.domain import Status


async def appraised_eligible(conn: Conn, year: int, authority_level: str,
                             form_code: str | None, unit_ids: list[uuid.UUID] | None
                             ) -> list[asyncpg.Record]:
    """The nominations of ``year`` appraised as eligible (and not flagged for a new
    appraisal) of forms of ``authority_level``, proposed by ``unit_ids`` (None: any unit)."""
    return list(await conn.fetch(
        "SELECT n.*, f.name_vi AS form_name, f.authority_level FROM nominations n"
        " JOIN award_forms f ON f.code = n.form_code"
        " WHERE n.year = $1 AND f.authority_level = $2 AND n.status = $3"
        "   AND (n.appraisal->>'eligible')::boolean AND NOT n.needs_reappraisal"
        "   AND ($4::text IS NULL OR n.form_code = $4)"
        "   AND ($5::uuid[] IS NULL OR n.proposing_unit_id = ANY($5))"
        " ORDER BY f.name_vi, n.nominee_kind, n.nominee_name, n.nomination_id",
        year, authority_level, Status.APPRAISED.value, form_code, unit_ids))


async def decided(conn: Conn, number: str, signed_on: date, unit_ids: list[uuid.UUID] | None
                  ) -> list[asyncpg.Record]:
    """The awards granted (approved, not revoked) by the decision of ``number`` signed on
    ``signed_on``, proposed by ``unit_ids`` (None: any unit)."""
    return list(await conn.fetch(
        "SELECT n.*, f.name_vi AS form_name, f.authority_level FROM nominations n"
        " JOIN award_forms f ON f.code = n.form_code"
        " WHERE n.status = $1 AND n.decision->>'number' = $2"
        "   AND (n.decision->>'signed_on')::date = $3"
        "   AND ($4::uuid[] IS NULL OR n.proposing_unit_id = ANY($4))"
        " ORDER BY f.name_vi, n.nominee_kind, n.nominee_name, n.nomination_id",
        Status.APPROVED.value, number, signed_on, unit_ids))


async def unit_names(conn: Conn, unit_ids: list[uuid.UUID], on: date
                     ) -> dict[uuid.UUID, str]:
    """The units' names as they stood on ``on`` (else their latest name)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (unit_id) unit_id, name FROM unit_versions"
        " WHERE unit_id = ANY($1)"
        " ORDER BY unit_id, (valid_from <= $2 AND (valid_to IS NULL OR valid_to > $2)) DESC,"
        "          valid_from DESC", unit_ids, on)
    return {r["unit_id"]: r["name"] for r in rows}


async def templates(conn: Conn) -> list[asyncpg.Record]:
    """The latest version of each kind of template."""
    return list(await conn.fetch(
        "SELECT DISTINCT ON (kind) * FROM paper_templates ORDER BY kind, version DESC"))


async def template(conn: Conn, kind: str, *, lock: bool = False) -> asyncpg.Record | None:
    if lock:  # one edit of a kind at a time: each gets the next version
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('paper_template:' || $1))",
                           kind)
    return await conn.fetchrow(
        "SELECT * FROM paper_templates WHERE kind = $1 ORDER BY version DESC LIMIT 1", kind)


async def add_template(conn: Conn, kind: str, version: int, text: str, changed_by: str
                       ) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO paper_templates (kind, version, text, changed_by) VALUES ($1, $2, $3, $4)"
        " RETURNING *", kind, version, text, changed_by)
    assert row is not None
    return row
