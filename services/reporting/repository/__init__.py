"""All SQL of the reporting service. The read models live in the schema ``views`` (first on the
pool's search path); the feed's snapshots in ``public``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from chungtay_common import hierarchy
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.db import Conn
from chungtay_common.hierarchy import UnitOnDate

VIEWS = "views"
SEARCH_PATH = f"{VIEWS}, public"
VIEWS_DDL = Path(__file__).parents[1] / "views.sql"
# Raised with every change of views.sql: the views are then rebuilt from the topics at start.
GENERATION = 3
HIERARCHY_DDL = hierarchy.MIGRATIONS / "001_units.sql"
# Taken by every event's transaction and by the swap of a rebuilt schema.
VIEWS_LOCK = 0x56494557
REBUILD_LOCK = 0x52454255  # held by a rebuild for its whole run


async def _upsert(conn: Conn, table: str, key: Sequence[str], row: Mapping[str, Any],
                  on_update: Mapping[str, str] | None = None) -> None:
    """Insert ``row`` or, when its key is there, set every other column to the new value (or
    to the SQL expression ``on_update`` gives for it). Names come from this module, never
    from input."""
    columns = list(row)
    changes = {c: f"EXCLUDED.{c}" for c in columns if c not in key} | dict(on_update or {})
    await conn.execute(
        f"INSERT INTO {table} ({', '.join(_quoted(c) for c in columns)})"
        f" VALUES ({', '.join(f'${i}' for i in range(1, len(columns) + 1))})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{_quoted(c)} = {e}" for c, e in changes.items()),
        *row.values())


def _quoted(column: str) -> str:
    return f'"{column}"'


# --------------------------------------------------------------------------- the views schema


async def views_exist(conn: Conn, schema: str = VIEWS) -> bool:
    return bool(await conn.fetchval(
        "SELECT true FROM pg_namespace WHERE nspname = $1", schema))


async def create_views(conn: Conn, schema: str) -> None:
    """Create the read models, empty, in ``schema`` (in the caller's transaction)."""
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.execute(f'SET LOCAL search_path TO "{schema}"')
    await conn.execute(HIERARCHY_DDL.read_text())
    await conn.execute(VIEWS_DDL.read_text())
    await conn.execute("INSERT INTO generation (generation) VALUES ($1)", GENERATION)
    await conn.execute(f"SET LOCAL search_path TO {SEARCH_PATH}")


async def views_current(conn: Conn) -> bool:
    """Whether the views exist and are of this code's definition (``GENERATION``)."""
    if not await views_exist(conn):
        return False
    has = await conn.fetchval(
        "SELECT true FROM pg_tables WHERE schemaname = $1 AND tablename = 'generation'", VIEWS)
    return bool(has) and await conn.fetchval(
        f'SELECT generation FROM "{VIEWS}".generation') == GENERATION


async def lock_rebuilds(conn: Conn) -> None:
    """Until ``unlock_rebuilds`` on this connection, no other rebuild runs (waits for one)."""
    await conn.execute("SELECT pg_advisory_lock($1)", REBUILD_LOCK)


async def try_lock_rebuilds(conn: Conn) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", REBUILD_LOCK))


async def unlock_rebuilds(conn: Conn) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", REBUILD_LOCK)


async def lock_views(conn: Conn) -> None:
    """Until the transaction ends, no other transaction changes the views."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", VIEWS_LOCK)


OLD_VIEWS = f"{VIEWS}_old"


async def swap_views(conn: Conn, fresh: str) -> None:
    """Put schema ``fresh`` in the place of ``views`` (caller's transaction, under the
    exclusive lock). The old schema is renamed, not dropped: a request in flight may still
    read its tables; ``drop_schema(OLD_VIEWS)`` afterwards waits for them (dropping here
    could deadlock with such a reader)."""
    await conn.execute(f'DROP SCHEMA IF EXISTS "{OLD_VIEWS}" CASCADE')  # a failed run's
    if await views_exist(conn):
        await conn.execute(f'ALTER SCHEMA "{VIEWS}" RENAME TO "{OLD_VIEWS}"')
    await conn.execute(f'ALTER SCHEMA "{fresh}" RENAME TO "{VIEWS}"')
    await conn.execute(f"SELECT pg_notify('{VIEWS_CHANNEL}', '')")


async def drop_schema(conn: Conn, schema: str) -> None:
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# Sent by every transaction that changes the views, delivered at its commit: where the
# views stand moved (``api.answers.ViewsChanges`` listens).
VIEWS_CHANNEL = "views_changed"
_POSITIONS = (
    'INSERT INTO positions (topic, partition, "offset", event_type, occurred_at, applied_at)'
    " SELECT *, now() FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[],"
    "                            $5::timestamptz[])"
    ' ON CONFLICT (topic, partition) DO UPDATE SET "offset" = EXCLUDED."offset",'
    "   event_type = EXCLUDED.event_type, occurred_at = EXCLUDED.occurred_at,"
    '   applied_at = EXCLUDED.applied_at WHERE positions."offset" < EXCLUDED."offset"')


async def record_position(conn: Conn, topic: str, partition: int, offset: int,
                          event_type: str, occurred_at: datetime) -> None:
    await record_positions(conn, [(topic, partition, offset, event_type, occurred_at)])


async def record_positions(conn: Conn,
                           rows: Sequence[tuple[str, int, int, str, datetime]]) -> None:
    """Where the views stand on each (topic, partition): the offset, type and time of the
    last event applied, in one statement that also announces the change
    (``VIEWS_CHANNEL``)."""
    if not rows:
        return
    await conn.execute(
        f"WITH written AS ({_POSITIONS} RETURNING 1)"
        f" SELECT pg_notify('{VIEWS_CHANNEL}', '') FROM (SELECT count(*) FROM written) n",
        *(list(column) for column in zip(*rows, strict=True)))


# where the views stand: the positions applied, and the identity of the table holding them (a
# rebuild's swap changes it); every change of the views moves it
_STAMP = ("SELECT 'positions'::regclass::oid::bigint AS views,"
          ' (SELECT coalesce(sum("offset"), 0) FROM positions) AS applied,'
          " (SELECT count(*) FROM positions) AS partitions")


async def views_stamp(conn: Conn) -> tuple[int, int, int]:
    """Where the views stand (``_STAMP``)."""
    row = await conn.fetchrow(_STAMP)
    assert row is not None
    return row["views"], row["applied"], row["partitions"]


async def cycles_with_codes(conn: Conn) -> list[asyncpg.Record]:
    """Every campaign year's due instant, with the campaign's code."""
    return list(await conn.fetch(
        "SELECT c.code, y.year, y.due_at FROM cycles y JOIN campaigns c USING (campaign_id)"))


async def views_version(conn: Conn, campaign_id: uuid.UUID, year: int
                        ) -> tuple[tuple[int, int, int], datetime | None]:
    """Where the views stand (``_STAMP``), and the year's due instant of the campaign."""
    row = await conn.fetchrow(
        _STAMP + ", (SELECT due_at FROM cycles WHERE campaign_id = $1 AND year = $2) AS due",
        campaign_id, year)
    assert row is not None
    return (row["views"], row["applied"], row["partitions"]), row["due"]


async def record_processed(conn: Conn, event_id: uuid.UUID, event_type: str, topic: str,
                           partition: int, offset: int) -> bool:
    """Record an event as processed; False when it was already."""
    return bool(await conn.fetchval(
        "INSERT INTO processed_events (event_id, event_type, topic, partition, \"offset\")"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING RETURNING true",
        event_id, event_type, topic, partition, offset))


async def record_processed_many(
        conn: Conn, rows: Sequence[tuple[uuid.UUID, str, str, int, int]]) -> set[uuid.UUID]:
    """Record events (id, type, topic, partition, offset) as processed in one statement; the
    ids of those that were not already (an id given twice is recorded once)."""
    if not rows:
        return set()
    ids, types, topics, partitions, offsets = (list(c) for c in zip(*rows, strict=True))
    recorded = await conn.fetch(
        "INSERT INTO processed_events (event_id, event_type, topic, partition, \"offset\")"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::bigint[])"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        ids, types, topics, partitions, offsets)
    return {r["event_id"] for r in recorded}


async def hierarchy_stamp(conn: Conn, unit_event_types: Sequence[str]) -> object:
    """Where the views stand on the registration topic (the positions whose last event is a
    unit event): it moves with every unit event applied, by any process."""
    rows = await conn.fetch(
        'SELECT topic, partition, "offset" FROM positions WHERE event_type = ANY($1)'
        " ORDER BY topic, partition", list(unit_event_types))
    return tuple((r["topic"], r["partition"], r["offset"]) for r in rows)


async def positions(conn: Conn) -> list[asyncpg.Record]:
    return list(await conn.fetch('SELECT * FROM positions ORDER BY topic, partition'))


async def applied_offsets(conn: Conn, schema: str) -> dict[tuple[str, int], int]:
    """The highest offset applied per topic and partition in ``schema``."""
    rows = await conn.fetch(
        f'SELECT topic, partition, max("offset") AS "offset" FROM "{schema}".processed_events'
        " GROUP BY topic, partition")
    return {(r["topic"], r["partition"]): r["offset"] for r in rows}


# --------------------------------------------------------------------------- source data


async def save_campaign(conn: Conn, campaign_id: uuid.UUID, code: str, name: str,
                        first_year: int, last_year: int, kinds: list[str],
                        cycles: Sequence[tuple[int, datetime]]) -> None:
    await _upsert(conn, "campaigns", ["campaign_id"], {
        "campaign_id": campaign_id, "code": code, "name": name, "first_year": first_year,
        "last_year": last_year, "participating_kinds": kinds})
    await conn.executemany(
        "INSERT INTO cycles (campaign_id, year, due_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (campaign_id, year) DO UPDATE SET due_at = EXCLUDED.due_at",
        [(campaign_id, year, due) for year, due in cycles])


async def campaign(conn: Conn, campaign_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM campaigns WHERE campaign_id = $1", campaign_id)


async def campaigns(conn: Conn) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM campaigns ORDER BY first_year, code"))


async def cycle_due(conn: Conn, campaign_id: uuid.UUID, year: int) -> datetime | None:
    due: datetime | None = await conn.fetchval(
        "SELECT due_at FROM cycles WHERE campaign_id = $1 AND year = $2", campaign_id, year)
    return due


async def campaign_years(conn: Conn) -> list[tuple[uuid.UUID, int]]:
    rows = await conn.fetch("SELECT campaign_id, year FROM cycles ORDER BY campaign_id, year")
    return [(r["campaign_id"], r["year"]) for r in rows]


async def save_indicator(conn: Conn, code: str, version: int, name_vi: str, aggregation: str,
                         derived: bool, retired: bool) -> bool:
    """Store a catalogue entry when newer than the one held; True when stored."""
    stored = await conn.fetchval(
        "INSERT INTO indicators (code, version, name_vi, aggregation, derived, retired)"
        " VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (code) DO UPDATE SET version = EXCLUDED.version,"
        "   name_vi = EXCLUDED.name_vi, aggregation = EXCLUDED.aggregation,"
        "   derived = EXCLUDED.derived, retired = EXCLUDED.retired"
        " WHERE indicators.version < EXCLUDED.version RETURNING true",
        code, version, name_vi, aggregation, derived, retired)
    return bool(stored)


async def summable(conn: Conn) -> frozenset[str]:
    """Indicators summed above a unit (retired ones too: old reports still hold them)."""
    rows = await conn.fetch(
        "SELECT code FROM indicators WHERE aggregation = 'sum' AND NOT derived")
    return frozenset(r["code"] for r in rows)


async def save_target(conn: Conn, campaign_id: uuid.UUID, year: int, unit_id: uuid.UUID,
                      t: dict[str, Any]) -> None:
    await _upsert(conn, "targets", ["campaign_id", "year", "unit_id"], {
        "campaign_id": campaign_id, "year": year, "unit_id": unit_id,
        **{c: t[c] for c in ("reduction_pp_min", "reduction_pp_max", "households_out_min",
                             "households_out_max", "at_most_national_average")}})


async def targets(conn: Conn, campaign_id: uuid.UUID, year: int, unit_ids: Sequence[uuid.UUID]
                  ) -> dict[uuid.UUID, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT * FROM targets WHERE campaign_id = $1 AND year = $2 AND unit_id = ANY($3)",
        campaign_id, year, list(unit_ids))
    return {r["unit_id"]: r for r in rows}


async def save_national_average(conn: Conn, year: int, rate: float) -> None:
    await _upsert(conn, "national_averages", ["year"], {"year": year, "poor_rate_pct": rate})


async def national_averages(conn: Conn) -> dict[int, float]:
    rows = await conn.fetch("SELECT year, poor_rate_pct FROM national_averages")
    return {r["year"]: r["poor_rate_pct"] for r in rows}


SAVE_SUBMISSION = (
    'INSERT INTO facts (campaign_id, unit_id, year, report_id, version, state, "values",'
    " warnings, first_submitted_at, submitted_at, on_time, figures)"
    " VALUES ($1, $2, $3, $4, $5, $11, $6, $7, $8, $8, $9, $10)"
    " ON CONFLICT (campaign_id, year, unit_id) DO UPDATE SET"
    "   report_id = EXCLUDED.report_id, version = EXCLUDED.version, state = EXCLUDED.state,"
    '   "values" = EXCLUDED."values", warnings = EXCLUDED.warnings,'
    "   first_submitted_at = LEAST(facts.first_submitted_at, EXCLUDED.first_submitted_at),"
    "   submitted_at = EXCLUDED.submitted_at, on_time = EXCLUDED.on_time,"
    "   figures = EXCLUDED.figures, updated_at = now()"
    " WHERE facts.version < EXCLUDED.version")


async def save_submission(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID, year: int,
                          report_id: uuid.UUID, version: int, values: dict[str, Any],
                          warnings: list[Any], submitted_at: datetime, on_time: bool,
                          figures: str, state: str) -> bool:
    """The values as submitted in ``version``; an older or repeated version changes nothing.
    True when stored."""
    stored = await conn.fetchval(
        f"{SAVE_SUBMISSION} RETURNING true", campaign_id, unit_id, year, report_id, version,
        values, warnings, submitted_at, on_time, figures, state)
    return bool(stored)


async def save_submissions(conn: Conn, rows: Sequence[tuple[Any, ...]], changes: bool = False
                           ) -> list[asyncpg.Record]:
    """``save_submission`` of each row (its arguments in order, the values and warnings as
    JSON text), in order, in one statement; the facts come out as one at a time would leave
    them. Of a report's rows, one is stored when its version is above the one held and every
    earlier row's; the last stored is kept, first submitted at the earliest of them (and of
    the one held).

    With ``changes``: each fact changed, as it is now and as it was before (``old_*``, null
    for a new one), with its unit's kind."""
    if not rows:
        return []
    statement = """
        WITH b AS (
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::uuid[], $5::int[],
                                 $6::text[], $7::text[], $8::timestamptz[], $9::bool[],
                                 $10::text[], $11::text[]) WITH ORDINALITY
                AS b(campaign_id, unit_id, year, report_id, version, vals, warns,
                     submitted_at, on_time, figures, state, seq)
        ), ranked AS (
            SELECT b.*, f.version AS held,
                   max(b.version) OVER (PARTITION BY b.campaign_id, b.year, b.unit_id
                                        ORDER BY b.seq ROWS BETWEEN UNBOUNDED PRECEDING
                                        AND 1 PRECEDING) AS earlier
              FROM b LEFT JOIN facts f USING (campaign_id, year, unit_id)
        ), stored AS (
            SELECT * FROM ranked
             WHERE (held IS NULL AND earlier IS NULL) OR version > GREATEST(held, earlier)
        ), last AS (
            SELECT DISTINCT ON (campaign_id, year, unit_id) *,
                   min(submitted_at) OVER (PARTITION BY campaign_id, year, unit_id) AS first
              FROM stored ORDER BY campaign_id, year, unit_id, seq DESC
        )
        INSERT INTO facts (campaign_id, unit_id, year, report_id, version, state, "values",
                           warnings, first_submitted_at, submitted_at, on_time, figures)
        SELECT campaign_id, unit_id, year, report_id, version, state, vals::jsonb,
               warns::jsonb, first, submitted_at, on_time, figures FROM last
        ON CONFLICT (campaign_id, year, unit_id) DO UPDATE SET
          report_id = EXCLUDED.report_id, version = EXCLUDED.version, state = EXCLUDED.state,
          "values" = EXCLUDED."values", warnings = EXCLUDED.warnings,
          first_submitted_at = LEAST(facts.first_submitted_at, EXCLUDED.first_submitted_at),
          submitted_at = EXCLUDED.submitted_at, on_time = EXCLUDED.on_time,
          figures = EXCLUDED.figures, updated_at = now()
        WHERE facts.version < EXCLUDED.version"""
    columns = [list(column) for column in zip(*rows, strict=True)]
    if not changes:
        await conn.execute(statement, *columns)
        return []
    # the statement's snapshot is of before it: ``facts o`` holds each fact as it was
    return list(await conn.fetch(
        f"""WITH written AS ({statement}
            RETURNING campaign_id, year, unit_id, "values", figures, first_submitted_at,
                      state)
        SELECT w.*, u.kind, o."values" AS old_values, o.figures AS old_figures,
               o.first_submitted_at AS old_first_submitted_at, o.state AS old_state
          FROM written w LEFT JOIN units u USING (unit_id)
          LEFT JOIN facts o USING (campaign_id, year, unit_id)""", *columns))


async def save_state(conn: Conn, campaign_id: uuid.UUID, unit_id: uuid.UUID, year: int,
                     version: int, state: str) -> bool:
    """A review's outcome for the submission ``version``; True when it changed the fact."""
    stored = await conn.fetchval(
        "UPDATE facts SET state = $5, updated_at = now()"
        " WHERE campaign_id = $1 AND unit_id = $2 AND year = $3 AND version <= $4"
        " AND state <> $5 RETURNING true",
        campaign_id, unit_id, year, version, state)
    return bool(stored)


async def facts_of(conn: Conn, campaign_id: uuid.UUID, year: int,
                   unit_ids: Sequence[uuid.UUID] | None = None
                   ) -> dict[uuid.UUID, asyncpg.Record]:
    """The facts of a campaign's year, of ``unit_ids`` (all when None)."""
    if unit_ids is None:
        rows = await conn.fetch("SELECT * FROM facts WHERE campaign_id = $1 AND year = $2",
                                campaign_id, year)
    else:
        rows = await conn.fetch(
            "SELECT * FROM facts WHERE campaign_id = $1 AND year = $2 AND unit_id = ANY($3)",
            campaign_id, year, list(unit_ids))
    return {r["unit_id"]: r for r in rows}


# The units under each root (itself included) as the hierarchy stood on that root's day: the
# CTE ``down(root, day, unit_id, depth)`` from the arrays $1 (roots) and $2 (their days), as
# ``hierarchy.SUBTREE`` walks one root.
_SUBTREES = """
    WITH RECURSIVE down(root, day, unit_id, depth) AS (
        SELECT r.root, r.day, v.unit_id, 0
          FROM unnest($1::uuid[], $2::date[]) AS r(root, day)
          JOIN unit_versions v ON v.unit_id = r.root AND v.valid_from <= r.day
           AND (v.valid_to IS NULL OR v.valid_to > r.day)
        UNION ALL
        SELECT down.root, down.day, v.unit_id, down.depth + 1
          FROM down JOIN unit_versions v ON v.parent_id = down.unit_id
         WHERE v.valid_from <= down.day AND (v.valid_to IS NULL OR v.valid_to > down.day)
           AND down.depth < 20
    )
"""


async def last_days(conn: Conn, unit_ids: Sequence[uuid.UUID], start: date, end: date
                    ) -> dict[uuid.UUID, date]:
    """``hierarchy.last_day_active`` of each unit in ``[start, end]`` (absent: never)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (unit_id) unit_id,"
        "       LEAST($3::date, COALESCE(valid_to - 1, $3::date)) AS day"
        "  FROM unit_versions WHERE unit_id = ANY($1)"
        "   AND daterange(valid_from, valid_to) && daterange($2, $3, '[]')"
        " ORDER BY unit_id, valid_from DESC", list(unit_ids), start, end)
    return {r["unit_id"]: r["day"] for r in rows}


async def unit_kinds(conn: Conn, unit_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await conn.fetch("SELECT unit_id, kind FROM units WHERE unit_id = ANY($1)",
                            list(unit_ids))
    return {r["unit_id"]: r["kind"] for r in rows}


async def values_under_each(conn: Conn, days: Mapping[uuid.UUID, date], kind: str,
                            campaign_id: uuid.UUID, year: int
                            ) -> dict[uuid.UUID, dict[uuid.UUID, asyncpg.Record]]:
    """The reports of the year (values and figures) of the units of ``kind`` under each root
    (itself included) as the hierarchy stood on the root's day, in one statement; each
    report is read (and its JSON decoded) once, with the roots it is under."""
    rows = await conn.fetch(
        f"""{_SUBTREES}
        SELECT f.unit_id, f."values", f.figures, array_agg(down.root) AS roots
          FROM down JOIN units u USING (unit_id)
          JOIN facts f ON f.unit_id = down.unit_id AND f.campaign_id = $4 AND f.year = $5
         WHERE u.kind = $3 GROUP BY f.campaign_id, f.year, f.unit_id""",
        list(days), list(days.values()), kind, campaign_id, year)
    out: dict[uuid.UUID, dict[uuid.UUID, asyncpg.Record]] = {root: {} for root in days}
    for r in rows:
        for root in r["roots"]:
            out[root][r["unit_id"]] = r
    return out


async def reports_expected_each(conn: Conn, roots: Sequence[uuid.UUID], day: date,
                                kinds: Sequence[str], campaign_id: uuid.UUID, year: int,
                                due: datetime) -> dict[uuid.UUID, dict[str, int]]:
    """For each root: the units of ``kinds`` under it on ``day`` expected to report, and how
    many of their reports came on time, late, and were accepted; in one statement."""
    rows = await conn.fetch(
        f"""{_SUBTREES}
        SELECT down.root, count(*) AS expected,
               count(*) FILTER (WHERE f.first_submitted_at < $6) AS on_time,
               count(*) FILTER (WHERE f.first_submitted_at >= $6) AS late,
               count(*) FILTER (WHERE f.state = 'accepted') AS accepted
          FROM down JOIN units u USING (unit_id)
          LEFT JOIN facts f ON f.unit_id = down.unit_id AND f.campaign_id = $4 AND f.year = $5
         WHERE u.kind = ANY($3) GROUP BY down.root""",
        list(roots), [day] * len(roots), list(kinds), campaign_id, year, due)
    found = {r["root"]: {k: r[k] for k in ("expected", "on_time", "late", "accepted")}
             for r in rows}
    none = {"expected": 0, "on_time": 0, "late": 0, "accepted": 0}
    return {root: found.get(root, none) for root in roots}


async def any_facts(conn: Conn, campaign_id: uuid.UUID, year: int) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM facts WHERE campaign_id = $1 AND year = $2)",
        campaign_id, year))


async def save_nomination(conn: Conn, n: dict[str, Any]) -> None:
    await _upsert(conn, "nominations", ["nomination_id"], n, on_update={
        "authority_level": "COALESCE(EXCLUDED.authority_level, nominations.authority_level)",
        "updated_at": "now()"})


async def nominations_of(conn: Conn, year: int, unit_ids: Sequence[uuid.UUID]
                         ) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM nominations WHERE year = $1 AND nominee_unit_id = ANY($2)",
        year, list(unit_ids)))


async def nominations_of_year(conn: Conn, year: int) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM nominations WHERE year = $1", year))


async def add_lineage(conn: Conn, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]],
                      effective: date, change: str) -> None:
    await conn.executemany(
        "INSERT INTO lineage (predecessor_id, successor_id, effective_date, change)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        [(p, s, effective, change) for p, s in pairs])


async def merges(conn: Conn) -> dict[uuid.UUID, uuid.UUID]:
    """Each merged unit's successor (the latest merge, when several)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (predecessor_id) predecessor_id, successor_id FROM lineage"
        " WHERE change = 'merge' ORDER BY predecessor_id, effective_date DESC")
    return {r["predecessor_id"]: r["successor_id"] for r in rows}


async def units_of_kinds(conn: Conn, kinds: Sequence[str]) -> list[uuid.UUID]:
    rows = await conn.fetch("SELECT unit_id FROM units WHERE kind = ANY($1)", list(kinds))
    return [r["unit_id"] for r in rows]


@dataclass(frozen=True)
class RootsOver:
    """The units of the kinds asked for that were a unit or above it on some day of a range;
    ``stable``: the unit and every unit above it held one version over the whole range (the
    same ancestry on every day of it)."""

    roots: frozenset[uuid.UUID]
    stable: bool


async def rollup_roots_each(conn: Conn, ranges: Sequence[tuple[uuid.UUID, date, date | None]],
                            kinds: Iterable[str]) -> list[RootsOver]:
    """For each ``(unit, start, end)``: the units of ``kinds`` that were the unit or above it
    on some day of ``[start, end)`` (``end`` None: open), in one statement for all of them.
    Each step up keeps the days the link held: a parent counts only for the days its child's
    version named it and it was itself active."""
    rows = await conn.fetch(
        """WITH RECURSIVE up(i, unit_id, parent_id, lo, hi, depth, whole) AS (
            SELECT r.i, v.unit_id, v.parent_id, greatest(r.lo, v.valid_from),
                   least(r.hi, COALESCE(v.valid_to, 'infinity')), 0,
                   v.valid_from <= r.lo AND COALESCE(v.valid_to, 'infinity') >= r.hi
              FROM unnest($1::uuid[], $2::date[], $3::date[]) WITH ORDINALITY
                   AS r(unit_id, lo, hi, i)
              JOIN unit_versions v ON v.unit_id = r.unit_id AND v.valid_from < r.hi
               AND (v.valid_to IS NULL OR v.valid_to > r.lo)
            UNION ALL
            SELECT up.i, v.unit_id, v.parent_id, greatest(up.lo, v.valid_from),
                   least(up.hi, COALESCE(v.valid_to, 'infinity')), up.depth + 1,
                   up.whole AND v.valid_from <= up.lo
                   AND COALESCE(v.valid_to, 'infinity') >= up.hi
              FROM up JOIN unit_versions v ON v.unit_id = up.parent_id AND v.valid_from < up.hi
               AND (v.valid_to IS NULL OR v.valid_to > up.lo)
             WHERE up.depth < 20
        )
        SELECT up.i, array_agg(DISTINCT up.unit_id) FILTER (WHERE u.kind = ANY($4)) AS roots,
               bool_and(up.whole) AND count(*) = count(DISTINCT up.depth) AS stable
          FROM up JOIN units u USING (unit_id) GROUP BY up.i""",
        [r[0] for r in ranges], [r[1] for r in ranges],
        [r[2] if r[2] is not None else date.max for r in ranges], list(kinds))
    out = [RootsOver(frozenset(), False) for _ in ranges]
    for r in rows:
        out[r["i"] - 1] = RootsOver(frozenset(r["roots"] or ()), r["stable"])
    return out


async def rollups_named(conn: Conn, campaign_id: uuid.UUID) -> list[asyncpg.Record]:
    """A campaign's rollups with each unit's code and name on the rollup's hierarchy day."""
    return list(await conn.fetch(
        "SELECT r.*, v.code, v.name FROM rollups r JOIN unit_versions v"
        " ON v.unit_id = r.unit_id AND v.valid_from <= r.hierarchy_day"
        " AND (v.valid_to IS NULL OR v.valid_to > r.hierarchy_day)"
        " WHERE r.campaign_id = $1 ORDER BY r.year, r.kind, r.unit_id", campaign_id))


# --------------------------------------------------------------------------- rollups


ROLLUP_COLUMNS = ("campaign_id", "year", "unit_id", "kind", "hierarchy_day", "reports", "sums",
                  "official", "both_reports", "both_now", "both_before", "due_at", "expected",
                  "on_time", "late", "accepted")


async def save_rollups(conn: Conn, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert or replace each rollup row (``ROLLUP_COLUMNS``), in one round trip."""
    columns = ", ".join(_quoted(c) for c in ROLLUP_COLUMNS)
    await conn.executemany(
        f"INSERT INTO rollups ({columns})"
        f" VALUES ({', '.join(f'${i}' for i in range(1, len(ROLLUP_COLUMNS) + 1))})"
        " ON CONFLICT (campaign_id, year, unit_id) DO UPDATE SET "
        + ", ".join(f"{_quoted(c)} = EXCLUDED.{_quoted(c)}" for c in ROLLUP_COLUMNS[3:])
        + ", refreshed_at = now()",
        [tuple(r[c] for c in ROLLUP_COLUMNS) for r in rows])


async def rollups_at(conn: Conn, keys: Iterable[tuple[uuid.UUID, int, uuid.UUID]]
                     ) -> dict[tuple[uuid.UUID, int, uuid.UUID], dict[str, Any]]:
    """The rollup rows of the (campaign, year, unit) keys that have one, each as a dict."""
    keys = list(keys)
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT r.* FROM unnest($1::uuid[], $2::int[], $3::uuid[]) AS k(c, y, u)"
        " JOIN rollups r ON r.campaign_id = k.c AND r.year = k.y AND r.unit_id = k.u",
        [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    return {(r["campaign_id"], r["year"], r["unit_id"]): dict(r) for r in rows}


async def values_of(conn: Conn, keys: Iterable[tuple[uuid.UUID, uuid.UUID, int]]
                    ) -> dict[tuple[uuid.UUID, uuid.UUID, int], dict[str, Any]]:
    """The values of the facts of the (campaign, unit, year) keys that have one."""
    keys = list(keys)
    if not keys:
        return {}
    rows = await conn.fetch(
        'SELECT f.campaign_id, f.unit_id, f.year, f."values"'
        "  FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS k(c, u, y)"
        "  JOIN facts f ON f.campaign_id = k.c AND f.year = k.y AND f.unit_id = k.u",
        [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    return {(r["campaign_id"], r["unit_id"], r["year"]): r["values"] for r in rows}


async def participating_kinds(conn: Conn, campaign_ids: Iterable[uuid.UUID]
                              ) -> dict[uuid.UUID, frozenset[str]]:
    rows = await conn.fetch("SELECT campaign_id, participating_kinds FROM campaigns"
                            " WHERE campaign_id = ANY($1)", list(campaign_ids))
    return {r["campaign_id"]: frozenset(r["participating_kinds"]) for r in rows}


async def delete_rollups(conn: Conn, campaign_id: uuid.UUID, year: int,
                         unit_ids: Sequence[uuid.UUID]) -> None:
    await conn.execute("DELETE FROM rollups WHERE campaign_id = $1 AND year = $2"
                       " AND unit_id = ANY($3)", campaign_id, year, list(unit_ids))


async def rollup(conn: Conn, campaign_id: uuid.UUID, year: int, unit_id: uuid.UUID
                 ) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM rollups WHERE campaign_id = $1 AND year = $2 AND unit_id = $3",
        campaign_id, year, unit_id)


async def rollups(conn: Conn, campaign_id: uuid.UUID, year: int | None = None,
                  unit_ids: Sequence[uuid.UUID] | None = None) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM rollups WHERE campaign_id = $1 AND ($2::int IS NULL OR year = $2)"
        " AND ($3::uuid[] IS NULL OR unit_id = ANY($3)) ORDER BY year, kind, unit_id",
        campaign_id, year, list(unit_ids) if unit_ids is not None else None))


async def rollups_of_kind(conn: Conn, campaign_id: uuid.UUID, year: int, kind: str,
                          unit_id: uuid.UUID | None) -> list[asyncpg.Record]:
    """The year's rollups of units of ``kind`` (only ``unit_id``'s when given)."""
    return list(await conn.fetch(
        "SELECT * FROM rollups WHERE campaign_id = $1 AND year = $2 AND kind = $3"
        " AND ($4::uuid IS NULL OR unit_id = $4) ORDER BY unit_id",
        campaign_id, year, kind, unit_id))


async def units_on(conn: Conn, days: Mapping[uuid.UUID, date]) -> dict[uuid.UUID, UnitOnDate]:
    """``hierarchy.unit_on`` of each unit on its day, in one statement."""
    rows = await conn.fetch(
        "SELECT u.unit_id, u.kind, v.code, v.name, v.subkind, v.parent_id"
        "  FROM unnest($1::uuid[], $2::date[]) AS d(unit_id, day)"
        "  JOIN units u USING (unit_id) JOIN unit_versions v USING (unit_id)"
        " WHERE v.valid_from <= d.day AND (v.valid_to IS NULL OR v.valid_to > d.day)",
        list(days), list(days.values()))
    return {r["unit_id"]: _unit_on_date(r) for r in rows}


async def active_of_kind(conn: Conn, on: date, kind: str) -> list[UnitOnDate]:
    """``hierarchy.active_on``, of the units of ``kind`` only (in its order)."""
    rows = await conn.fetch(
        "SELECT u.unit_id, u.kind, v.code, v.name, v.subkind, v.parent_id"
        "  FROM units u JOIN unit_versions v USING (unit_id)"
        " WHERE v.valid_from <= $1 AND (v.valid_to IS NULL OR v.valid_to > $1) AND u.kind = $2"
        " ORDER BY v.code NULLS LAST, v.name", on, kind)
    return [_unit_on_date(r) for r in rows]


def _unit_on_date(r: asyncpg.Record) -> UnitOnDate:
    return UnitOnDate(unit_id=r["unit_id"], kind=UnitKind(r["kind"]), code=r["code"],
                      name=r["name"], subkind=r["subkind"], parent_id=r["parent_id"])


async def subtree_members(conn: Conn, days: Mapping[uuid.UUID, date]
                          ) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The units under each root (itself included) on its day, in one statement."""
    rows = await conn.fetch(f"{_SUBTREES} SELECT root, unit_id FROM down",
                            list(days), list(days.values()))
    out: dict[uuid.UUID, list[uuid.UUID]] = {root: [] for root in days}
    for r in rows:
        out[r["root"]].append(r["unit_id"])
    return out


async def all_rollups(conn: Conn) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM rollups ORDER BY campaign_id, year, unit_id"))


# --------------------------------------------------------------------------- the feed


# Locked (EXCLUSIVE) by a publication for its whole transaction (``Write.locking``): numbers are
# taken in commit order, so a reader resuming after ``n`` never misses one.
FEED_TABLE = "public.feed_snapshots"


async def latest_snapshot(conn: Conn, campaign_id: uuid.UUID, year: int,
                          province_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM public.feed_snapshots WHERE campaign_id = $1 AND year = $2"
        " AND province_id = $3 ORDER BY seq DESC LIMIT 1", campaign_id, year, province_id)


async def add_snapshot(conn: Conn, s: dict[str, Any]) -> int:
    seq: int = await conn.fetchval(
        "INSERT INTO public.feed_snapshots (seq, snapshot_id, campaign_id, year, province_id,"
        " supersedes_seq, summary, summary_sha256, published_at, published_by)"
        " SELECT COALESCE(max(seq), 0) + 1, $1, $2, $3, $4, $5, $6, $7, $8, $9"
        " FROM public.feed_snapshots RETURNING seq",
        s["snapshot_id"], s["campaign_id"], s["year"], s["province_id"], s["supersedes_seq"],
        s["summary"], s["summary_sha256"], s["published_at"], s["published_by"])
    return seq


async def snapshots(conn: Conn, after: int, limit: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT * FROM public.feed_snapshots WHERE seq > $1 ORDER BY seq LIMIT $2",
        after, limit))


async def snapshot(conn: Conn, seq: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM public.feed_snapshots WHERE seq = $1", seq)


async def all_targets(conn: Conn, campaign_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM targets WHERE campaign_id = $1", campaign_id))


async def nomination_counts(conn: Conn) -> dict[str, dict[tuple[Any, ...], int]]:
    """Nominations by (year, status), and granted awards by (year, form, authority level)."""
    status = await conn.fetch(
        "SELECT year, status, count(*) AS n FROM nominations GROUP BY year, status")
    granted = await conn.fetch(
        "SELECT year, form_code, authority_level, count(*) AS n FROM nominations"
        " WHERE status = 'approved' AND authority_level IS NOT NULL"
        " GROUP BY year, form_code, authority_level")
    return {"status": {(r["year"], r["status"]): r["n"] for r in status},
            "awards": {(r["year"], r["form_code"], r["authority_level"]): r["n"]
                       for r in granted}}


# --------------------------------------------------------------------------- rebuilds


async def start_rebuild(conn: Conn) -> int:
    rebuild_id: int = await conn.fetchval(
        "INSERT INTO public.rebuilds (state) VALUES ('running') RETURNING rebuild_id")
    return rebuild_id


async def rebuild_progress(conn: Conn, rebuild_id: int, events: int, ratio: float) -> None:
    await conn.execute("UPDATE public.rebuilds SET events = $2, read_ratio = $3"
                       " WHERE rebuild_id = $1", rebuild_id, events, ratio)


async def end_rebuild(conn: Conn, rebuild_id: int, state: str, detail: str | None) -> None:
    await conn.execute(
        "UPDATE public.rebuilds SET state = $2, detail = $3, finished_at = now(),"
        " read_ratio = CASE WHEN $2 = 'swapped' THEN 1 ELSE read_ratio END"
        " WHERE rebuild_id = $1", rebuild_id, state, detail)


async def last_rebuild(conn: Conn) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM public.rebuilds ORDER BY rebuild_id DESC LIMIT 1")
