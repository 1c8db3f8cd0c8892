"""HTTP API of the reporting service, and the app that runs its consumers in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Query

from chungtay_common import consumer, hierarchy
from chungtay_common.auth import PrincipalDep
from chungtay_common.db import COMMON_MIGRATIONS, apply_migrations, create_pool
from chungtay_common.errors import responses
from chungtay_common.http import Database, DatabaseDep, configure_logging, create_app
from chungtay_common.topics import topic_name
from services.reporting import service
from services.reporting.consumers import REGISTRATION_HANDLERS
from services.reporting.schemas import UnitTree
from services.reporting.settings import ReportingSettings

VN = ZoneInfo("Asia/Ho_Chi_Minh")

router = APIRouter(prefix="/v1", tags=["units"])


@router.get("/units/tree", response_model=UnitTree, responses=responses(401, 422))
async def unit_tree(
    principal: PrincipalDep, db: DatabaseDep,
    as_of: Annotated[date | None, Query(description="default: today in Vietnam")] = None,
) -> UnitTree:
    """The unit hierarchy on a day, with the number of units of each kind below each node."""
    async with db.read() as conn:
        return await service.unit_tree(conn, as_of or datetime.now(VN).date())


def build_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(settings.dsn(), settings.pg_pool_max)
        await apply_migrations(pool, COMMON_MIGRATIONS, hierarchy.MIGRATIONS)
        dead_letters = consumer.DeadLetters(
            settings.kafka_bootstrap, topic_name("deadletter", settings.topic_namespace),
            settings.service_name,
        )
        await dead_letters.start()
        stream_app = consumer.create_faust_app(
            settings, f"{settings.topic_namespace}-{settings.service_name}"
        )
        consumer.subscribe(stream_app, settings, "registration",
                           consumer.EventProcessor(pool, REGISTRATION_HANDLERS, dead_letters))
        await stream_app.start()
        app.state.db, app.state.stream_app = Database(pool), stream_app
        try:
            yield
        finally:
            await stream_app.stop()
            await dead_letters.stop()
            await pool.close()

    app = create_app(
        settings, title="chungtay reporting",
        description="Read models of the movement: the dated unit hierarchy, summaries.",
        lifespan=lifespan,
        checks=lambda a: {"database": lambda: _db_ok(a), "consumer": lambda: _consumer_ok(a)},
    )
    app.include_router(router)
    return app


async def _db_ok(app: FastAPI) -> bool:
    async with app.state.db.pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT true"))


async def _consumer_ok(app: FastAPI) -> bool:
    return bool(app.state.stream_app.started and not app.state.stream_app.should_stop)


def main() -> FastAPI:
    """Entry point for ``uvicorn --factory services.reporting.api:main``."""
    configure_logging()
    return build_app()
