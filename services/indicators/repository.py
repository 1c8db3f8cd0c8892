"""All SQL of the indicators service."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import asyncpg

from chungtay_common import audit, hierarchy, outbox
from chungtay_common.contracts.indicators import Aggregation, ValueType
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.db import Conn
from chungtay_common.poverty import Target
from chungtay_common.refusals import StateConflict
from services.indicators.domain import Indicator

# --------------------------------------------------------------------------- campaigns


async def insert_campaign(conn: Conn, campaign_id: uuid.UUID, code: str, name: str,
                          first_year: int, last_year: int, legal_basis: list[dict[str, Any]],
                          kinds: list[str], actor: str) -> None:
    try:
        await conn.execute(
            "INSERT INTO campaigns (campaign_id, code, name, first_year, last_year, legal_basis,"
            " participating_kinds, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            campaign_id, code, name, first_year, last_year, legal_basis, kinds, actor,
        )
    except asyncpg.UniqueViolationError as exc:
        raise StateConflict(f"a campaign with code {code} exists") from exc


async def insert_cycles(conn: Conn, campaign_id: uuid.UUID,
                        cycles: list[tuple[int, datetime]]) -> None:
    await conn.executemany(
        "INSERT INTO reporting_cycles (campaign_id, year, due_at) VALUES ($1, $2, $3)",
        [(campaign_id, y, d) for y, d in cycles],
    )


async def campaign(conn: Conn, campaign_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM campaigns WHERE campaign_id = $1", campaign_id)


async def campaigns(conn: Conn) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM campaigns ORDER BY first_year, code"))


async def cycles(conn: Conn, campaign_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT year, due_at FROM reporting_cycles WHERE campaign_id = $1 ORDER BY year",
        campaign_id))


async def due_at(conn: Conn, campaign_id: uuid.UUID, year: int) -> datetime | None:
    due: datetime | None = await conn.fetchval(
        "SELECT due_at FROM reporting_cycles WHERE campaign_id = $1 AND year = $2",
        campaign_id, year)
    return due


# --------------------------------------------------------------------------- catalogue


def _indicator(r: asyncpg.Record) -> Indicator:
    def num(v: Any) -> int | float | None:
        if v is None:
            return None
        return int(v) if v == int(v) else float(v)

    return Indicator(
        code=r["code"], name_vi=r["name_vi"], name_en=r["name_en"],
        unit_of_measure=r["unit_of_measure"], value_type=ValueType(r["value_type"]),
        min_value=num(r["min_value"]), max_value=num(r["max_value"]),
        reported_by=tuple(UnitKind(k) for k in r["reported_by"]),
        aggregation=Aggregation(r["aggregation"]), derived=r["derived"], formula=r["formula"],
        required=r["required"], retired=r["retired"], version=r["version"],
    )


async def catalogue(conn: Conn) -> dict[str, Indicator]:
    rows = await conn.fetch("SELECT * FROM indicators ORDER BY derived, code")
    return {r["code"]: _indicator(r) for r in rows}


_ENTRY = ("code, version, name_vi, name_en, unit_of_measure, value_type, min_value, max_value,"
          " reported_by, aggregation, derived, formula, required, retired")


async def snapshot_catalogue(conn: Conn, campaign_id: uuid.UUID) -> None:
    """Copy the catalogue as it is now into the campaign's own (see migration 003)."""
    await conn.execute(
        f"INSERT INTO campaign_indicators (campaign_id, {_ENTRY})"
        f" SELECT $1, {_ENTRY} FROM indicators", campaign_id)


async def campaign_catalogue(conn: Conn, campaign_id: uuid.UUID) -> dict[str, Indicator]:
    """The catalogue a campaign is run with: as it was when the campaign was created."""
    rows = await conn.fetch(
        "SELECT * FROM campaign_indicators WHERE campaign_id = $1 ORDER BY derived, code",
        campaign_id)
    return {r["code"]: _indicator(r) for r in rows}


async def record_award_rule(conn: Conn, form_code: str, version: int,
                            indicators: list[str]) -> None:
    """Keep the indicators a form's rule reads, unless a later version is kept already."""
    await conn.execute(
        "INSERT INTO award_rule_indicators (form_code, version, indicators) VALUES ($1, $2, $3)"
        " ON CONFLICT (form_code) DO UPDATE SET version = EXCLUDED.version,"
        "  indicators = EXCLUDED.indicators"
        " WHERE award_rule_indicators.version < EXCLUDED.version",
        form_code, version, indicators)


async def award_forms_reading(conn: Conn, code: str) -> list[str]:
    """The award forms whose current rule reads the indicator ``code``."""
    rows = await conn.fetch(
        "SELECT form_code FROM award_rule_indicators WHERE $1 = ANY(indicators)"
        " ORDER BY form_code", code)
    return [r["form_code"] for r in rows]


async def save_indicator(conn: Conn, ind: Indicator, actor: str) -> Indicator:
    """Insert or update the entry; its version grows by one with each change."""
    row = await conn.fetchrow(
        "INSERT INTO indicators (code, name_vi, name_en, unit_of_measure, value_type, min_value,"
        " max_value, reported_by, aggregation, derived, formula, required, retired, updated_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        " ON CONFLICT (code) DO UPDATE SET version = indicators.version + 1,"
        "  name_vi = EXCLUDED.name_vi, name_en = EXCLUDED.name_en,"
        "  unit_of_measure = EXCLUDED.unit_of_measure, value_type = EXCLUDED.value_type,"
        "  min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value,"
        "  reported_by = EXCLUDED.reported_by, aggregation = EXCLUDED.aggregation,"
        "  derived = EXCLUDED.derived, formula = EXCLUDED.formula,"
        "  required = EXCLUDED.required, retired = EXCLUDED.retired,"
        "  updated_at = now(), updated_by = EXCLUDED.updated_by"
        " RETURNING *",
        ind.code, ind.name_vi, ind.name_en, ind.unit_of_measure, ind.value_type.value,
        ind.min_value, ind.max_value, [k.value for k in ind.reported_by],
        ind.aggregation.value, ind.derived, ind.formula, ind.required, ind.retired, actor,
    )
    assert row is not None
    return _indicator(row)


async def lock_catalogue(conn: Conn) -> None:
    """Serialise catalogue seeding between instances starting together."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('indicators.seed', 0))")


# --------------------------------------------------------------------------- targets, averages


async def save_target(conn: Conn, campaign_id: uuid.UUID, year: int, unit_id: uuid.UUID,
                      t: dict[str, Any], actor: str) -> None:
    await conn.execute(
        "INSERT INTO targets (campaign_id, year, unit_id, reduction_pp_min, reduction_pp_max,"
        " households_out_min, households_out_max, at_most_national_average, source, set_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT (campaign_id, year, unit_id) DO UPDATE SET"
        "  reduction_pp_min = EXCLUDED.reduction_pp_min,"
        "  reduction_pp_max = EXCLUDED.reduction_pp_max,"
        "  households_out_min = EXCLUDED.households_out_min,"
        "  households_out_max = EXCLUDED.households_out_max,"
        "  at_most_national_average = EXCLUDED.at_most_national_average,"
        "  source = EXCLUDED.source, set_at = now(), set_by = EXCLUDED.set_by",
        campaign_id, year, unit_id, t["reduction_pp_min"], t["reduction_pp_max"],
        t["households_out_min"], t["households_out_max"], t["at_most_national_average"],
        t["source"], actor,
    )


async def targets(conn: Conn, campaign_id: uuid.UUID, year: int | None) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM targets WHERE campaign_id = $1 AND ($2::int IS NULL OR year = $2)"
        " ORDER BY year, unit_id", campaign_id, year))


async def target(conn: Conn, campaign_id: uuid.UUID, year: int, unit_id: uuid.UUID
                 ) -> Target | None:
    r = await conn.fetchrow(
        "SELECT * FROM targets WHERE campaign_id = $1 AND year = $2 AND unit_id = $3",
        campaign_id, year, unit_id)
    return None if r is None else _target(r)


def _target(r: Mapping[str, Any] | asyncpg.Record) -> Target:
    def num(v: Any) -> float | None:
        return float(v) if v is not None else None

    return Target(
        reduction_pp_min=num(r["reduction_pp_min"]), reduction_pp_max=num(r["reduction_pp_max"]),
        households_out_min=r["households_out_min"], households_out_max=r["households_out_max"],
        at_most_national_average=r["at_most_national_average"])


async def national_average(conn: Conn, year: int) -> float | None:
    rate = await conn.fetchval("SELECT poor_rate_pct FROM national_averages WHERE year = $1",
                               year)
    return float(rate) if rate is not None else None


async def save_national_average(conn: Conn, year: int, rate: float, source: str,
                                actor: str) -> None:
    await conn.execute(
        "INSERT INTO national_averages (year, poor_rate_pct, source, set_by)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (year) DO UPDATE SET"
        " poor_rate_pct = EXCLUDED.poor_rate_pct, source = EXCLUDED.source, set_at = now(),"
        " set_by = EXCLUDED.set_by", year, rate, source, actor)


async def national_averages(conn: Conn) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM national_averages ORDER BY year"))


# --------------------------------------------------------------------------- reports


# A write of many reports reads them in one or two statements (``read_reports``) and writes
# them in one (``record_reports``), however many they are. The fragments below name their
# parameters; each statement numbers the ones it uses.

_KEYS = "unnest({units}::uuid[], {years}::int[]) AS k(unit_id, year)"

# each report's unit in its year, the chain of authority over it today and the caller's unit
_SUBJECT_CTES = f"""
    starts AS (SELECT DISTINCT unit_id FROM k),
    {hierarchy.chains_cte("starts").replace("$1", "{today}")}"""
_SUBJECT_COLUMNS = f"""
    day.active_day, u.kind, v.code, v.name, v.subkind, v.parent_id,
    ARRAY(SELECT c.unit_id FROM chains c WHERE c.start = k.unit_id ORDER BY c.depth) AS chain,
    (SELECT c.unit_id FROM chains c WHERE c.start = k.unit_id AND c.depth > 0
        AND EXISTS (SELECT 1 FROM unit_versions v WHERE v.unit_id = c.unit_id
                       AND {hierarchy.ACTIVE_ON.replace("$1", "{today}")})
      ORDER BY c.depth LIMIT 1) AS reviewing_unit,
    EXISTS (SELECT 1 FROM unit_versions v WHERE v.unit_id = {{caller}}
               AND {hierarchy.ACTIVE_ON.replace("$1", "{today}")}) AS acting"""
_SUBJECT_JOINS = """
    LEFT JOIN LATERAL (
        SELECT LEAST(make_date(k.year, 12, 31),
                     COALESCE(w.valid_to - 1, make_date(k.year, 12, 31))) AS active_day
          FROM unit_versions w
         WHERE w.unit_id = k.unit_id AND daterange(w.valid_from, w.valid_to)
               && daterange(make_date(k.year, 1, 1), make_date(k.year, 12, 31), '[]')
         ORDER BY w.valid_from DESC LIMIT 1) day ON true
    LEFT JOIN unit_versions v ON v.unit_id = k.unit_id AND v.valid_from <= day.active_day
         AND (v.valid_to IS NULL OR v.valid_to > day.active_day)
    LEFT JOIN units u ON u.unit_id = v.unit_id"""
# each report as it is, the unit's latest earlier submitted values, target, national average
_REPORT_COLUMNS = """
    r.report_id, r.status, r.version, r."values", r.warnings, r.first_submitted_at,
    r.submitted_at, r.on_time, r.accepted_at, r.submitted_values, r.figures,
    (SELECT jsonb_build_array(e.year, e.submitted_values) FROM reports e
      WHERE e.campaign_id = {campaign}::uuid AND e.unit_id = k.unit_id AND e.year < k.year
        AND e.submitted_values IS NOT NULL ORDER BY e.year DESC LIMIT 1) AS latest,
    t.reduction_pp_min, t.reduction_pp_max, t.households_out_min, t.households_out_max,
    t.at_most_national_average, t.year AS target_year, na.poor_rate_pct AS national_average,
    CASE WHEN {submitter} AND r.report_id IS NOT NULL THEN
      (SELECT actor FROM report_versions rv WHERE rv.report_id = r.report_id
          AND rv.action = 'submit' ORDER BY rv.version DESC LIMIT 1) END AS last_submitter"""
_REPORT_JOINS = """
    LEFT JOIN LATERAL (SELECT * FROM reports x WHERE x.campaign_id = {campaign}::uuid
                         AND x.unit_id = k.unit_id AND x.year = k.year {lock}) r ON true
    LEFT JOIN targets t ON t.campaign_id = {campaign}::uuid AND t.year = k.year
         AND t.unit_id = k.unit_id
    LEFT JOIN national_averages na ON na.year = k.year"""


def _numbered(sql: str, names: tuple[str, ...], lock: str = "") -> str:
    return sql.format(lock=lock, **{name: f"${i + 1}" for i, name in enumerate(names)})


_SUBJECTS_LOCKED = _numbered(f"""
    WITH RECURSIVE k AS (SELECT * FROM {_KEYS}), {_SUBJECT_CTES},
    locked AS MATERIALIZED (
        SELECT count(pg_advisory_xact_lock(hashtextextended(
                   {{campaign}} || ':' || o.unit_id::text || ':' || o.year::text, 1))) AS n
          FROM (SELECT unit_id, year FROM k ORDER BY unit_id, year) o)
    SELECT k.unit_id, k.year, (SELECT n FROM locked) AS locked, {_SUBJECT_COLUMNS}
      FROM k {_SUBJECT_JOINS}""", ("today", "campaign", "units", "years", "caller"))
_REPORTS_LOCKED = _numbered(f"""
    SELECT k.unit_id, k.year, {_REPORT_COLUMNS} FROM {_KEYS} {_REPORT_JOINS}""",
                            ("campaign", "units", "years", "submitter"), lock="FOR UPDATE")
_READ_ONCE = _numbered(f"""
    WITH RECURSIVE k AS (SELECT * FROM {_KEYS}), {_SUBJECT_CTES}
    SELECT k.unit_id, k.year, {_SUBJECT_COLUMNS}, {_REPORT_COLUMNS}
      FROM k {_SUBJECT_JOINS} {_REPORT_JOINS}""",
                       ("today", "campaign", "units", "years", "caller", "submitter"))


async def read_reports(conn: Conn, today: date, campaign_id: uuid.UUID,
                       keys: list[tuple[uuid.UUID, int]], caller_unit: uuid.UUID | None,
                       with_submitter: bool, lock: bool) -> dict[tuple[uuid.UUID, int],
                                                                 dict[str, Any]]:
    """For each (unit, year):

    - the last day of the year the unit exists (``active_day``, NULL: never), the unit on
      that day, its chain of authority ``today`` and the first unit above it that exists
      today (``reviewing_unit``); whether the caller's unit exists today (``acting``);
    - its report (columns NULL: none yet), the unit's latest submitted values of an earlier
      year in the campaign (``latest``: [year, values], all the warnings and the derived
      figures compare with; another campaign's figures are not compared with: campaigns may
      count by different poverty standards), its target and the year's national average;
      with ``with_submitter``, who made the report's latest submission (``last_submitter``).

    With ``lock`` (in a transaction), two statements: the reports are locked first (an
    advisory lock serialises the first write of a report, which has no row to lock yet; taken
    in one order, so two writes of overlapping sets wait instead of deadlocking), then read
    ``FOR UPDATE`` in a snapshot taken after the locks. Without, one statement, and the write
    checks that nothing changed since (``record_reports``' ``expected``)."""
    units, years = [k[0] for k in keys], [k[1] for k in keys]
    if lock:
        subjects = await conn.fetch(_SUBJECTS_LOCKED, today, str(campaign_id), units, years,
                                    caller_unit)
        reports = {(r["unit_id"], r["year"]): r for r in await conn.fetch(
            _REPORTS_LOCKED, str(campaign_id), units, years, with_submitter)}
        return {(r["unit_id"], r["year"]): {**r, **reports[r["unit_id"], r["year"]]}
                for r in subjects}
    rows = await conn.fetch(_READ_ONCE, today, str(campaign_id), units, years, caller_unit,
                            with_submitter)
    return {(r["unit_id"], r["year"]): dict(r) for r in rows}


def target_of(r: Mapping[str, Any]) -> Target | None:
    """The target in a row of ``read_reports`` (None: no target set)."""
    return None if r["target_year"] is None else _target(r)


# the columns of a report row that a write sets, in the order of ``record_reports``'s arrays
REPORT_COLUMNS = ("report_id", "campaign_id", "unit_id", "year", "status", "version", "values",
                  "warnings", "first_submitted_at", "submitted_at", "on_time", "accepted_at",
                  "submitted_values", "figures")
_TYPES = ("uuid", "uuid", "uuid", "int", "text", "int", "text", "text", "timestamptz",
          "timestamptz", "bool", "timestamptz", "text", "text")


async def record_reports(conn: Conn, columns: list[list[Any]], actions: list[str],
                         notes: list[str | None], actor: str, audit_args: list[Any],
                         outbox_args: list[Any] | None) -> bool:
    """In one statement: each report's row as it now is (``columns``: one list per column of
    ``REPORT_COLUMNS``, JSON as text), its new version (the action, who, the note), the audit
    rows (``audit.many_args``) and the events (``outbox.many_args``; None: no event).

    A row is saved only if the report is still at the version before its new one (or, for a
    new report, still has no row); the versions, audit rows and events only if every row was.
    False when one was not: the report changed since it was read (never under
    ``read_reports``' locks), and nothing was written."""
    n = len(REPORT_COLUMNS)
    arrays = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_TYPES))
    named = ", ".join(f'"{c}"' for c in REPORT_COLUMNS)
    audit_at = n + 4
    outbox_at = audit_at + 9
    every = "(SELECT count(*) FROM saved) = cardinality($1::uuid[])"
    events = "" if outbox_args is None else \
        f", queued AS ({outbox.insert_many(outbox_at, where=every)})"
    try:
        saved: int = await conn.fetchval(
            f"""
            WITH d AS (SELECT * FROM unnest({arrays}, ${n + 1}::text[], ${n + 2}::text[])
                       AS d({named}, action, note)),
            saved AS (
                INSERT INTO reports AS r ({named})
                SELECT report_id, campaign_id, unit_id, year, status, version, "values"::jsonb,
                       warnings::jsonb, first_submitted_at, submitted_at, on_time, accepted_at,
                       submitted_values::jsonb, figures FROM d
                ON CONFLICT (report_id) DO UPDATE SET status = EXCLUDED.status,
                  version = EXCLUDED.version, "values" = EXCLUDED."values",
                  warnings = EXCLUDED.warnings, first_submitted_at = EXCLUDED.first_submitted_at,
                  submitted_at = EXCLUDED.submitted_at, on_time = EXCLUDED.on_time,
                  accepted_at = EXCLUDED.accepted_at,
                  submitted_values = EXCLUDED.submitted_values, figures = EXCLUDED.figures,
                  updated_at = now()
                WHERE r.version = EXCLUDED.version - 1
                RETURNING r.report_id),
            versions AS (
                INSERT INTO report_versions (report_id, version, action, status, "values",
                                             warnings, note, actor, figures)
                SELECT report_id, version, action, status, "values"::jsonb, warnings::jsonb,
                       note, ${n + 3}, figures FROM d WHERE {every}),
            audited AS ({audit.insert_many(audit_at, where=every)}){events}
            SELECT count(*) {", count(pg_notify('outbox', ''))" if outbox_args else ""}
              FROM saved
            """,
            *columns, actions, notes, actor, *audit_args, *(outbox_args or []))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != "reports_campaign_id_unit_id_year_key":
            raise
        return False  # another request wrote the report's first version meanwhile
    return saved == len(columns[0])


async def find_report(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID, year: int
                      ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM reports WHERE campaign_id = $1 AND unit_id = $2 AND year = $3",
        campaign_id, unit_id, year)


async def versions(conn: Conn, report_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM report_versions WHERE report_id = $1 ORDER BY version", report_id))


async def earlier_values(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID, year: int,
                         ) -> list[tuple[int, dict[str, Any]]]:
    """The unit's submitted values of earlier years in the same campaign, oldest first.
    Another campaign's figures are not compared with: campaigns may count by different
    poverty standards (2016–2020 and 2021–2025 do not compare)."""
    rows = await conn.fetch(
        'SELECT year, submitted_values AS "values" FROM reports'
        " WHERE campaign_id = $3 AND unit_id = $1 AND year < $2"
        " AND submitted_values IS NOT NULL ORDER BY year",
        unit_id, year, campaign_id)
    return [(r["year"], r["values"]) for r in rows]


async def reports_of_year(conn: Conn, campaign_id: uuid.UUID, year: int,
                          unit_ids: list[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT * FROM reports WHERE campaign_id = $1 AND year = $2 AND unit_id = ANY($3)",
        campaign_id, year, unit_ids)
    return {r["unit_id"]: r for r in rows}


# --------------------------------------------------------------------------- overdue


async def cycles_past_due(conn: Conn, now: datetime) -> list[asyncpg.Record]:
    """Cycles whose due date has passed by ``now`` since their campaign was created (a cycle
    already past when its campaign was created is never noticed: see
    ``service.emit_overdue``)."""
    return list(await conn.fetch(
        "SELECT c.campaign_id, c.participating_kinds, rc.year, rc.due_at"
        " FROM reporting_cycles rc JOIN campaigns c USING (campaign_id)"
        " WHERE rc.due_at <= $1 AND rc.due_at > c.created_at ORDER BY rc.due_at", now))


async def missing_at_due(conn: Conn, campaign_id: uuid.UUID, year: int, due: datetime,
                         due_day: date, kinds: list[str]) -> list[uuid.UUID]:
    """Units of the participating kinds active on the due day with no submission before the
    due instant and no overdue notice yet."""
    rows = await conn.fetch(
        "SELECT u.unit_id FROM units u JOIN unit_versions v USING (unit_id)"
        " WHERE u.kind = ANY($4) AND v.valid_from <= $5 AND (v.valid_to IS NULL OR v.valid_to > $5)"
        "   AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.campaign_id = $1 AND r.year = $2"
        "                   AND r.unit_id = u.unit_id AND r.first_submitted_at < $3)"
        "   AND NOT EXISTS (SELECT 1 FROM overdue_notices n WHERE n.campaign_id = $1"
        "                   AND n.year = $2 AND n.unit_id = u.unit_id)"
        " ORDER BY u.unit_id",
        campaign_id, year, due, kinds, due_day)
    return [r["unit_id"] for r in rows]


async def add_overdue_notice(conn: Conn, campaign_id: uuid.UUID, year: int,
                             unit_id: uuid.UUID) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO overdue_notices (campaign_id, year, unit_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true", campaign_id, year, unit_id)
    return bool(inserted)


# --------------------------------------------------------------------------- data migrations


async def insert_data_migration(conn: Conn, migration_id: uuid.UUID, reference: str,
                                reason: str, actor: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO data_migrations (migration_id, reference, reason, opened_by)"
        " VALUES ($1, $2, $3, $4) RETURNING *", migration_id, reference, reason, actor)
    assert row is not None
    return row


async def data_migration(conn: Conn, migration_id: uuid.UUID, lock: str | None = None
                         ) -> asyncpg.Record | None:
    """One data migration; ``lock``: ``SHARE`` (a back-fill within it: it is not closed
    until the back-fill commits) or ``UPDATE`` (closing it)."""
    assert lock in (None, "SHARE", "UPDATE")
    return await conn.fetchrow(
        "SELECT * FROM data_migrations WHERE migration_id = $1"
        + (f" FOR {lock}" if lock else ""), migration_id)


async def close_data_migration(conn: Conn, migration_id: uuid.UUID, actor: str
                               ) -> asyncpg.Record:
    row = await conn.fetchrow(
        "UPDATE data_migrations SET closed_by = $2, closed_at = now()"
        " WHERE migration_id = $1 RETURNING *", migration_id, actor)
    assert row is not None
    return row


async def data_migrations(conn: Conn) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM data_migrations ORDER BY opened_at DESC, migration_id"))
