"""Bounded tables: the outbox, the processed-events records and the idempotency records are
swept by a periodic job, so that they hold what is still of use and no more.

- An outbox row is removed ``published`` after it was published; an unpublished row never is.
- A processed event's record is removed once it is older than ``processed`` (the topics'
  retention: until then the event can be delivered again, and its record makes that a no-op).
  The newest record of each topic partition is always kept (where the views stand).
- A stored response of a write (``Idempotency-Key``) is removed ``responses`` after the request.

Each table is swept in batches of ``batch`` rows, each batch its own short transaction, so that
a sweep never holds locks that writers wait on for long. The sweeps read the tables without an
index of their own (an hourly scan of tables bounded to about a day's work), so that the write
paths (every submission writes an outbox row; every consumed event a processed-event record)
carry no extra index.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from chungtay_common import metrics

log = logging.getLogger(__name__)

_OUTBOX = (
    "DELETE FROM outbox WHERE id = ANY(ARRAY("
    " SELECT id FROM outbox WHERE published_at < now() - $1::interval ORDER BY id LIMIT $2))")
_PROCESSED = (
    "DELETE FROM processed_events WHERE event_id = ANY(ARRAY("
    " SELECT event_id FROM processed_events WHERE processed_at < now() - $1::interval"
    " AND event_id <> ALL($3::uuid[]) LIMIT $2))")
# the newest record of each topic partition, read once a sweep: never removed
_NEWEST = ("SELECT DISTINCT ON (topic, partition) event_id FROM processed_events"
           " ORDER BY topic, partition, \"offset\" DESC")
_RESPONSES = (
    "DELETE FROM idempotency_keys WHERE (actor, key) IN ("
    " SELECT actor, key FROM idempotency_keys WHERE created_at < now() - $1::interval LIMIT $2)")
TABLES = {"outbox": _OUTBOX, "processed_events": _PROCESSED, "idempotency_keys": _RESPONSES}


@dataclass(frozen=True)
class Keep:
    """How long each table keeps a row that has done its work."""

    published: timedelta
    processed: timedelta
    responses: timedelta
    batch: int = 5000

    def of(self, table: str) -> timedelta:
        return {"outbox": self.published, "processed_events": self.processed,
                "idempotency_keys": self.responses}[table]


async def sweep(pool: asyncpg.Pool, keep: Keep) -> dict[str, int]:
    """Remove what ``keep`` no longer keeps; how many rows of each table were removed."""
    removed: dict[str, int] = {}
    async with pool.acquire() as conn:
        newest = [r["event_id"] for r in await conn.fetch(_NEWEST)]
    for table, statement in TABLES.items():
        removed[table] = 0
        extra = [newest] if table == "processed_events" else []
        while True:
            async with pool.acquire() as conn, conn.transaction():
                status: str = await conn.execute(statement, keep.of(table), keep.batch, *extra)
            n = int(status.split()[-1])
            removed[table] += n
            metrics.HOUSEKEEPING_REMOVED.labels(table).inc(n)
            if n < keep.batch:
                break
    async with pool.acquire() as conn:
        for table in TABLES:
            rows = await conn.fetchval(
                "SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = to_regclass($1)", table)
            metrics.TABLE_ROWS.labels(table).set(rows or 0)
    metrics.HOUSEKEEPING_LAST_RUN.set(time.time())
    if any(removed.values()):
        log.info("housekeeping removed %s", ", ".join(f"{n} {t}" for t, n in removed.items()))
    return removed
