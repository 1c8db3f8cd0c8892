"""All SQL of the awards service."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from chungtay_common.db import Conn
from chungtay_common.refusals import StateConflict
from services.awards.domain import (
    CLOSED,
    DECIDED,
    PROPOSING_STEPS,
    REAPPRAISABLE,
    Form,
    Initiative,
    Status,
    YearReport,
    YearTarget,
)


def _values(statuses: frozenset[Status]) -> list[str]:
    """Statuses as a query parameter (``status = ANY($n)``): the domain names them once."""
    return sorted(s.value for s in statuses)


# --------------------------------------------------------------------------- catalogue and rules


async def forms(conn: Conn) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT f.*, r.version AS rule_version, r.rule FROM award_forms f"
        " LEFT JOIN LATERAL (SELECT version, rule FROM award_rules WHERE form_code = f.code"
        "                    ORDER BY version DESC LIMIT 1) r ON true ORDER BY f.code"))


async def form(conn: Conn, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT f.*, r.version AS rule_version, r.rule FROM award_forms f"
        " LEFT JOIN LATERAL (SELECT version, rule FROM award_rules WHERE form_code = f.code"
        "                    ORDER BY version DESC LIMIT 1) r ON true WHERE f.code = $1", code)


async def insert_form(conn: Conn, f: Form) -> None:
    try:
        await conn.execute(
            "INSERT INTO award_forms (code, name_vi, category, for_whom, authority_level,"
            " vote_threshold, vote_comparison, secret_ballot_required, signer_unit_kinds,"
            " also_for) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            f.code, f.name_vi, f.category.value, f.for_whom.value, f.authority_level.value,
            Decimal(f.votes.threshold.numerator) / f.votes.threshold.denominator,
            f.votes.comparison.value, f.votes.secret_ballot,
            None if f.signers is None else [k.value for k in f.signers],
            [k.value for k in f.also_for])
    except asyncpg.UniqueViolationError as exc:
        raise StateConflict(f"award form {f.code} exists") from exc


async def add_rule_version(conn: Conn, code: str, rule: dict[str, Any], note: str | None,
                           actor: str) -> int:
    await conn.execute("SELECT 1 FROM award_forms WHERE code = $1 FOR UPDATE", code)
    version: int = await conn.fetchval(
        "INSERT INTO award_rules (form_code, version, rule, note, changed_by)"
        " SELECT $1, COALESCE(max(version), 0) + 1, $2, $3, $4 FROM award_rules"
        " WHERE form_code = $1 RETURNING version", code, rule, note, actor)
    return version


async def rule_versions(conn: Conn, code: str) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM award_rules WHERE form_code = $1 ORDER BY version", code))


async def lock_seed(conn: Conn) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('awards.seed', 0))")


# --------------------------------------------------------------------------- enrollments


async def set_window(conn: Conn, year: int, closes_on: date, actor: str) -> None:
    await conn.execute(
        "INSERT INTO enrollment_windows (year, closes_on, set_by) VALUES ($1, $2, $3)"
        " ON CONFLICT (year) DO UPDATE SET closes_on = EXCLUDED.closes_on,"
        " set_by = EXCLUDED.set_by, set_at = now()", year, closes_on, actor)


async def window(conn: Conn, year: int) -> date | None:
    closes: date | None = await conn.fetchval(
        "SELECT closes_on FROM enrollment_windows WHERE year = $1", year)
    return closes


async def insert_enrollment(conn: Conn, enrollment_id: uuid.UUID, unit_id: uuid.UUID,
                            year: int, actor: str,
                            items: list[tuple[str, str, str, str, uuid.UUID]]) -> None:
    await conn.execute(
        "INSERT INTO enrollments (enrollment_id, unit_id, year, registered_by)"
        " VALUES ($1, $2, $3, $4)", enrollment_id, unit_id, year, actor)
    await conn.executemany(
        "INSERT INTO enrollment_items (enrollment_id, form_code, nominee_kind, nominee_id,"
        " nominee_name, nominee_unit) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT DO NOTHING",
        [(enrollment_id, *item) for item in items])


async def enrollments(conn: Conn, year: int, unit_ids: list[uuid.UUID] | None
                      ) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT e.enrollment_id, e.unit_id, e.year, e.registered_by, e.registered_at,"
        " i.form_code, i.nominee_kind, i.nominee_id, i.nominee_name, i.nominee_unit"
        " FROM enrollments e JOIN enrollment_items i USING (enrollment_id)"
        " WHERE e.year = $1 AND ($2::uuid[] IS NULL OR e.unit_id = ANY($2))"
        " ORDER BY e.registered_at, i.form_code", year, unit_ids))


async def is_enrolled(conn: Conn, year: int, form_code: str, nominee_kind: str,
                      nominee_id: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT true FROM enrollments e JOIN enrollment_items i USING (enrollment_id)"
        " WHERE e.year = $1 AND i.form_code = $2 AND i.nominee_kind = $3"
        " AND i.nominee_id = $4 LIMIT 1", year, form_code, nominee_kind, nominee_id))


# --------------------------------------------------------------------------- nominations


async def insert_nomination(conn: Conn, n: dict[str, Any]) -> None:
    try:
        await conn.execute(
            "INSERT INTO nominations (nomination_id, form_code, year, nominee_kind, nominee_id,"
            " nominee_name, nominee_unit, nominee_details, proposing_unit_id, achievements,"
            " status, enrolled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            n["nomination_id"], n["form_code"], n["year"], n["nominee_kind"], n["nominee_id"],
            n["nominee_name"], n["nominee_unit"], n["nominee_details"],
            n["proposing_unit_id"], n["achievements"], n["status"], n["enrolled"])
    except asyncpg.UniqueViolationError as exc:
        raise StateConflict("this nominee already has an open or granted nomination for this form "
                       "and year") from exc


async def lock_nomination(conn: Conn, nomination_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM nominations WHERE nomination_id = $1 FOR UPDATE", nomination_id)


async def nomination(conn: Conn, nomination_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM nominations WHERE nomination_id = $1",
                               nomination_id)


_UPDATABLE = ("status", "enrolled", "achievements", "nominee_details", "council", "appraisal",
              "rule_version", "needs_reappraisal", "reappraisal_reason", "decision",
              "revocation")


async def update_nomination(conn: Conn, nomination_id: uuid.UUID, **changes: Any) -> int:
    cols = [c for c in changes if c in _UPDATABLE]
    assert len(cols) == len(changes), f"not updatable: {set(changes) - set(cols)}"
    sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
    version: int = await conn.fetchval(
        f"UPDATE nominations SET {sets}, version = version + 1, updated_at = now()"
        " WHERE nomination_id = $1 RETURNING version",
        nomination_id, *(changes[c] for c in cols))
    return version


async def add_step(conn: Conn, nomination_id: uuid.UUID, step: str, status: str, actor: str,
                   roles: list[str], comment: str | None, details: Any) -> None:
    await conn.execute(
        "INSERT INTO nomination_steps (nomination_id, seq, step, status, actor, actor_roles,"
        " comment, details) SELECT $1, COALESCE(max(seq), 0) + 1, $2, $3, $4, $5, $6, $7"
        " FROM nomination_steps WHERE nomination_id = $1",
        nomination_id, step, status, actor, roles, comment, details)


async def steps(conn: Conn, nomination_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM nomination_steps WHERE nomination_id = $1 ORDER BY seq", nomination_id))


async def proposers(conn: Conn, nomination_id: uuid.UUID) -> set[str]:
    """Who drafted, edited or submitted the dossier."""
    return {r["actor"] for r in await conn.fetch(
        "SELECT DISTINCT actor FROM nomination_steps"
        " WHERE nomination_id = $1 AND step = ANY($2::text[])",
        nomination_id, list(PROPOSING_STEPS))}


async def search_nominations(conn: Conn, *, year: int | None, status: str | None,
                             form_code: str | None, unit_ids: list[uuid.UUID] | None,
                             limit: int, offset: int) -> tuple[int, list[asyncpg.Record]]:
    where = ["($1::int IS NULL OR year = $1)", "($2::text IS NULL OR status = $2)",
             "($3::text IS NULL OR form_code = $3)",
             "($4::uuid[] IS NULL OR proposing_unit_id = ANY($4))"]
    args = [year, status, form_code, unit_ids]
    sql = " FROM nominations WHERE " + " AND ".join(where)
    total: int = await conn.fetchval("SELECT count(*)" + sql, *args)
    rows = await conn.fetch("SELECT *" + sql + " ORDER BY year DESC, created_at"
                            " LIMIT $5 OFFSET $6", *args, limit, offset)
    return total, list(rows)


async def nominee_awards(conn: Conn, nominee_kind: str, nominee_id: str
                         ) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM nominations WHERE nominee_kind = $1 AND nominee_id = $2"
        " AND status = ANY($3) ORDER BY year, form_code",
        nominee_kind, nominee_id, _values(DECIDED)))


async def granted(conn: Conn, nominee_kind: str, nominee_id: str) -> list[tuple[str, int]]:
    rows = await conn.fetch(
        "SELECT form_code, year FROM nominations WHERE nominee_kind = $1 AND nominee_id = $2"
        " AND status = $3", nominee_kind, nominee_id, Status.APPROVED.value)
    return [(r["form_code"], r["year"]) for r in rows]


async def approved_in(conn: Conn, year: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM nominations WHERE year = $1 AND status = $2"
        " ORDER BY form_code, nominee_name", year, Status.APPROVED.value))


async def nominated(conn: Conn, form_code: str, year: int) -> set[str]:
    rows = await conn.fetch(
        "SELECT nominee_id FROM nominations WHERE form_code = $1 AND year = $2"
        " AND status <> ALL($3)", form_code, year, _values(CLOSED))
    return {r["nominee_id"] for r in rows}


async def lock_nominee(conn: Conn, nominee_kind: str, nominee_id: str) -> None:
    """Serialise the decisions on one nominee's awards (until the transaction ends)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 2))",
                       f"awards.nominee:{nominee_kind}:{nominee_id}")


_REAPPRAISABLE = ("SELECT nomination_id, year, status, appraisal, needs_reappraisal"
                  " FROM nominations WHERE appraisal IS NOT NULL AND status = ANY($1)")


async def reappraisable(conn: Conn, nominee_kind: str, nominee_id: str
                        ) -> list[asyncpg.Record]:
    """The nominee's appraised or decided nominations."""
    return list(await conn.fetch(_REAPPRAISABLE + " AND nominee_kind = $2 AND nominee_id = $3",
                                 _values(REAPPRAISABLE), nominee_kind, nominee_id))


async def lock_reappraisable(conn: Conn, nomination_ids: list[uuid.UUID]
                             ) -> list[asyncpg.Record]:
    """Those of the nominations that are still appraised or decided, locked in a fixed order
    (to flag them for re-appraisal)."""
    return list(await conn.fetch(
        _REAPPRAISABLE + " AND nomination_id = ANY($2) ORDER BY nomination_id FOR UPDATE",
        _values(REAPPRAISABLE), nomination_ids))


# --------------------------------------------------------------------------- reported facts


async def save_report_facts(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID, year: int,
                            version: int, values: dict[str, Any], on_time: bool,
                            status: str) -> int | None:
    """Store the report's values when newer; return the version replaced (None if new)."""
    old: int | None = await conn.fetchval(
        "SELECT version FROM reported_facts WHERE campaign_id = $1 AND unit_id = $2"
        " AND year = $3 FOR UPDATE", campaign_id, unit_id, year)
    if old is not None and old >= version:
        return old
    await conn.execute(
        'INSERT INTO reported_facts (campaign_id, unit_id, year, version, "values", on_time,'
        " status) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (campaign_id, unit_id, year) DO UPDATE SET version = EXCLUDED.version,"
        ' "values" = EXCLUDED."values", on_time = EXCLUDED.on_time, status = EXCLUDED.status,'
        " updated_at = now()", campaign_id, unit_id, year, version, values, on_time, status)
    return old


async def set_report_status(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID, year: int,
                            version: int, status: str) -> None:
    await conn.execute(
        "UPDATE reported_facts SET status = $5, version = GREATEST(version, $4),"
        " updated_at = now() WHERE campaign_id = $1 AND unit_id = $2 AND year = $3"
        " AND version <= $4", campaign_id, unit_id, year, version, status)


async def save_target(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID, year: int,
                      reduction_pp_min: float | None, households_out_min: int | None) -> None:
    await conn.execute(
        "INSERT INTO unit_targets (campaign_id, unit_id, year, reduction_pp_min,"
        " households_out_min) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (campaign_id, unit_id, year) DO UPDATE SET"
        " reduction_pp_min = EXCLUDED.reduction_pp_min,"
        " households_out_min = EXCLUDED.households_out_min, set_at = now()",
        campaign_id, unit_id, year, reduction_pp_min, households_out_min)


async def unit_facts(conn: Conn, unit_id: uuid.UUID, year: int, *, lock: bool = False
                     ) -> tuple[dict[int, YearReport], dict[int, YearTarget]]:
    """A unit's reported facts and targets by year. The reports are those of one campaign: the
    campaign whose report of ``year`` was updated last (rules that compare years compare
    reports of one campaign only: the poverty standards of 2016–2020 and 2021–2025 differ);
    with no report of ``year``, of each year the latest. Of each year's targets, the one set
    last (whatever the campaign). With ``lock``, the reports are
    read FOR SHARE, so a correction being stored waits for the caller's transaction (or is
    read by it)."""
    rows = await conn.fetch(
        'SELECT campaign_id, year, "values", on_time, version, updated_at FROM reported_facts'
        " WHERE unit_id = $1 ORDER BY year, updated_at DESC, campaign_id"
        + (" FOR SHARE" if lock else ""), unit_id)
    campaign = next((r["campaign_id"] for r in rows if r["year"] == year), None)
    reports: dict[int, YearReport] = {}
    for r in rows:  # the first of each year is the latest
        if r["year"] not in reports and campaign in (None, r["campaign_id"]):
            reports[r["year"]] = YearReport(values={k: float(v) for k, v in r["values"].items()},
                                            on_time=r["on_time"], version=r["version"])
    targets = await conn.fetch(
        "SELECT DISTINCT ON (year) year, reduction_pp_min, households_out_min"
        " FROM unit_targets WHERE unit_id = $1 ORDER BY year, set_at DESC, campaign_id",
        unit_id)
    return (
        reports,
        {r["year"]: YearTarget(
            reduction_pp_min=float(r["reduction_pp_min"])
            if r["reduction_pp_min"] is not None else None,
            households_out_min=r["households_out_min"]) for r in targets},
    )


async def evidence_list(conn: Conn, nomination_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT evidence_id, file_name, media_type, size_bytes, sha256, added_by, added_at"
        " FROM evidence WHERE nomination_id = $1 ORDER BY added_at", nomination_id))


async def evidence_count(conn: Conn, nomination_id: uuid.UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM evidence WHERE nomination_id = $1", nomination_id)
    return count


async def add_evidence(conn: Conn, evidence_id: uuid.UUID, nomination_id: uuid.UUID,
                       file_name: str, media_type: str, content: bytes, sha256: str,
                       actor: str) -> None:
    await conn.execute(
        "INSERT INTO evidence (evidence_id, nomination_id, file_name, media_type, size_bytes,"
        " sha256, content, added_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        evidence_id, nomination_id, file_name, media_type, len(content), sha256, content, actor)


async def evidence_content(conn: Conn, nomination_id: uuid.UUID, evidence_id: uuid.UUID
                           ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT file_name, media_type, sha256, content FROM evidence"
        " WHERE nomination_id = $1 AND evidence_id = $2", nomination_id, evidence_id)


# --------------------------------------------------------------------------- initiatives


async def add_initiative(conn: Conn, initiative_id: uuid.UUID, nominee: tuple[str, str, str,
                         uuid.UUID], i: Initiative, actor: str) -> None:
    await conn.execute(
        "INSERT INTO initiatives (initiative_id, nominee_kind, nominee_id, nominee_name,"
        " nominee_unit, year, title, recognised_by, decision_number, decided_on, recorded_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        initiative_id, *nominee, i.year, i.title, i.recognised_by, i.decision_number,
        i.decided_on, actor)


async def initiatives(conn: Conn, nominee_kind: str, nominee_id: str) -> list[Initiative]:
    return [Initiative(r["year"], r["title"], r["recognised_by"], r["decision_number"],
                       r["decided_on"])
            for r in await conn.fetch(
                "SELECT year, title, recognised_by, decision_number, decided_on"
                " FROM initiatives WHERE nominee_kind = $1 AND nominee_id = $2"
                " ORDER BY year, decided_on", nominee_kind, nominee_id)]


async def set_voting(conn: Conn, f: Form) -> None:
    """A form's vote rule, signers and other kinds of nominee, as ``f`` has them."""
    await conn.execute(
        "UPDATE award_forms SET vote_threshold = $2, vote_comparison = $3,"
        " secret_ballot_required = $4, signer_unit_kinds = $5, also_for = $6 WHERE code = $1",
        f.code, Decimal(f.votes.threshold.numerator) / f.votes.threshold.denominator,
        f.votes.comparison.value, f.votes.secret_ballot,
        None if f.signers is None else [k.value for k in f.signers],
        [k.value for k in f.also_for])


async def rename_form(conn: Conn, code: str, name_vi: str) -> None:
    await conn.execute("UPDATE award_forms SET name_vi = $2 WHERE code = $1", code, name_vi)


async def latest_rule_author(conn: Conn, code: str) -> str | None:
    author: str | None = await conn.fetchval(
        "SELECT changed_by FROM award_rules WHERE form_code = $1 ORDER BY version DESC LIMIT 1",
        code)
    return author


# --------------------------------------------------------------------------- persons


async def save_person(conn: Conn, nominee_id: str, unit_id: uuid.UUID, name: str,
                      name_key: str) -> None:
    """Record a person without a citizen ID number (their id is of their unit and name) as
    last named."""
    await conn.execute(
        "INSERT INTO persons (nominee_id, unit_id, name, name_key)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (nominee_id) DO UPDATE SET"
        " name = EXCLUDED.name, name_key = EXCLUDED.name_key",
        nominee_id, unit_id, name, name_key)


async def citizen(conn: Conn, new_id: str, unit_id: uuid.UUID, name: str, name_key: str,
                  citizen_id: str) -> asyncpg.Record:
    """The person recorded with a citizen ID number; one not yet recorded is recorded with
    ``new_id`` (a random id), in the unit and under the name given. An existing person's name
    and unit are left as they are."""
    await conn.execute(
        "INSERT INTO persons (nominee_id, unit_id, name, name_key, citizen_id)"
        " VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (citizen_id) WHERE citizen_id IS NOT NULL DO NOTHING",
        new_id, unit_id, name, name_key, citizen_id)
    row = await conn.fetchrow("SELECT * FROM persons WHERE citizen_id = $1", citizen_id)
    assert row is not None
    return row


async def person(conn: Conn, nominee_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM persons WHERE nominee_id = $1"
                               + (" FOR UPDATE" if lock else ""), nominee_id)


_EARLIER = ("WITH RECURSIVE chain(id) AS (SELECT $1::text UNION"
            " SELECT p.linked_to FROM persons p JOIN chain ON p.nominee_id = chain.id"
            " WHERE p.linked_to IS NOT NULL) SELECT id FROM chain")
_LATER = ("WITH RECURSIVE chain(id) AS (SELECT $1::text UNION"
          " SELECT p.nominee_id FROM persons p JOIN chain ON p.linked_to = chain.id)"
          " SELECT id FROM chain")


async def earlier_records(conn: Conn, nominee_id: str) -> list[str]:
    """The record and the earlier records it is linked to (its whole history)."""
    return [r["id"] for r in await conn.fetch(_EARLIER, nominee_id)]


async def later_records(conn: Conn, nominee_id: str) -> list[str]:
    """The record and the later records linked to it (whose history it is part of)."""
    return [r["id"] for r in await conn.fetch(_LATER, nominee_id)]


async def namesakes(conn: Conn, nominee_id: str, unit_id: uuid.UUID, name_key: str,
                    linked: list[str]) -> list[str]:
    """Other person records of the unit (their unit now, or one they were nominated in) with
    the same name, where one of the two has no citizen ID number (not those linked to it)."""
    return [r["nominee_id"] for r in await conn.fetch(
        "SELECT p.nominee_id FROM persons p WHERE p.name_key = $3"
        " AND (p.unit_id = $2 OR EXISTS (SELECT 1 FROM nominations n"
        "      WHERE n.nominee_kind = 'person' AND n.nominee_id = p.nominee_id"
        "      AND n.nominee_unit = $2))"
        " AND p.nominee_id <> $1 AND p.nominee_id <> ALL($4::text[])"
        " AND (p.citizen_id IS NULL OR NOT EXISTS (SELECT 1 FROM persons me"
        "      WHERE me.nominee_id = $1 AND me.citizen_id IS NOT NULL))"
        " ORDER BY p.first_seen, p.nominee_id", nominee_id, unit_id, name_key, linked)]


async def link_person(conn: Conn, later: str, earlier: str, actor: str) -> None:
    await conn.execute(
        "UPDATE persons SET linked_to = $2, linked_by = $3, linked_at = now()"
        " WHERE nominee_id = $1", later, earlier, actor)
