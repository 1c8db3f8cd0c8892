"""The ingest scenario's reference: a bare FastAPI + asyncpg endpoint that writes what a report
submission writes at least (the report row, a new version, and an outbox row) in one
transaction, with no authentication, no validation and no reads. Run by uvicorn as the
services are (one process): ``uvicorn --factory bare:main --app-dir deploy/bench``, on the
database named by ``CHUNGTAY_PG_DATABASE`` (tables created at start-up: the outbox by the
services' shared migration)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import FastAPI, Request

from chungtay_common.db import COMMON_MIGRATIONS, apply_migrations
from chungtay_common.settings import ServiceSettings

TABLES = """
CREATE TABLE IF NOT EXISTS reports (
    report_id    uuid PRIMARY KEY,
    campaign_id  uuid NOT NULL,
    unit_id      uuid NOT NULL,
    year         integer NOT NULL,
    status       text NOT NULL,
    version      integer NOT NULL,
    "values"     jsonb NOT NULL,
    submitted_at timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, unit_id, year)
);
"""
UPSERT = """
INSERT INTO reports (report_id, campaign_id, unit_id, year, status, version, "values",
                     submitted_at)
VALUES ($1, $2, $3, $4, 'submitted', 1, $5::jsonb, now())
ON CONFLICT (campaign_id, unit_id, year) DO UPDATE
SET version = reports.version + 1, "values" = EXCLUDED."values", status = 'submitted',
    submitted_at = now(), updated_at = now()
RETURNING report_id, version
"""
OUTBOX = ("INSERT INTO outbox (event_id, topic, key, event_type, body)"
          " VALUES ($1, 'bench.indicators.v1', $2, 'report.submitted', $3::jsonb)")


def main() -> FastAPI:
    """Entry point for ``uvicorn --factory bare:main``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = ServiceSettings()  # the stack's, CHUNGTAY_PG_DATABASE the run's
        pool = await asyncpg.create_pool(settings.dsn(), min_size=2,
                                         max_size=settings.pg_pool_max)
        # the services' own outbox (the shared migration), and a report table of its own
        await apply_migrations(pool, COMMON_MIGRATIONS)
        async with pool.acquire() as conn:
            await conn.execute(TABLES)
        app.state.pool = pool
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/campaigns/{campaign_id}/reports/{unit_id}/{year}/submit")
    async def submit(campaign_id: uuid.UUID, unit_id: uuid.UUID, year: int,
                     request: Request) -> dict[str, Any]:
        values = json.dumps((await request.json())["values"])
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(UPSERT, uuid.uuid4(), campaign_id, unit_id, year, values)
            event = {"report_id": str(row["report_id"]), "campaign_id": str(campaign_id),
                     "unit_id": str(unit_id), "year": year, "version": row["version"],
                     "values": values}
            await conn.execute(OUTBOX, uuid.uuid4(), str(unit_id), json.dumps(event))
        return {"report_id": str(row["report_id"]), "version": row["version"]}

    return app
