"""What a service runs besides its routes: pool and migrations, outbox relay, consumers,
periodic jobs. ``service_lifespan`` starts them in order and stops them in reverse."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from chungtay_common import consumer, housekeeping
from chungtay_common.access import Access, AccessRules
from chungtay_common.context import Context
from chungtay_common.db import COMMON_MIGRATIONS, Conn, apply_migrations, create_pool
from chungtay_common.http import Database, HealthCheck, create_app
from chungtay_common.outbox import OutboxRelay
from chungtay_common.settings import ServiceSettings
from chungtay_common.topics import topic_name

log = logging.getLogger(__name__)

Job = Callable[[Database], Awaitable[Any]]


def system_job(settings: ServiceSettings,
               use_case: Callable[[Conn, Context], Awaitable[Any]]) -> Job:
    """A job that runs ``use_case`` as the service itself, in one transaction: a context of
    its own for each run, so that a run's events share a correlation id and what a failed run
    left to count after its commit is dropped with it."""

    async def job(db: Database) -> None:
        ctx = Context.system(settings)
        async with db.transaction(ctx) as conn:
            await use_case(conn, ctx)

    job.__name__ = getattr(use_case, "__name__", "job")
    return job


@dataclass
class ServicePlan:
    settings: ServiceSettings
    migrations: Sequence[Path]
    publishes: bool = False
    # topic owner -> handlers by event type
    subscriptions: Mapping[str, Mapping[str, consumer.Handler]] = field(default_factory=dict)
    # jobs run every so many seconds, each in its own task (errors are logged, never fatal)
    periodic: Sequence[tuple[float, Job]] = ()
    # run once after migrations, before serving (e.g. seeding a catalogue)
    on_start: Sequence[Job] = ()
    # run once when the service stops, in reverse order (e.g. closing a connection of its own)
    on_stop: Sequence[Job] = ()
    # how consumed events are applied (a subclass adds a lock or records positions)
    processor: type[consumer.EventProcessor] = consumer.EventProcessor
    # the pool's search path, when the service keeps tables in a schema of its own
    search_path: str | None = None
    # whether the service's code leaves session state on pooled connections (a session-level
    # advisory lock held across releases): then every released connection is reset
    session_state: bool = False


def service_lifespan(plan: ServicePlan) -> Callable[[FastAPI], Any]:
    settings = plan.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            pool = await create_pool(settings.dsn(), settings.pg_pool_max, plan.search_path,
                                     plan.session_state, settings.pg_plan_cache_mode)
            stack.push_async_callback(pool.close)
            await apply_migrations(pool, COMMON_MIGRATIONS, *plan.migrations)
            db = Database(pool)
            app.state.db = db
            for job in plan.on_start:
                await job(db)
            for job in plan.on_stop:
                stack.push_async_callback(job, db)
            if plan.publishes:
                relay = OutboxRelay(pool, bootstrap=settings.kafka_bootstrap,
                                    client_id=f"{settings.service_name}-outbox",
                                    batch_size=settings.outbox_batch_size,
                                    poll_seconds=settings.outbox_poll_seconds,
                                    security=settings.kafka_security())
                await relay.start()
                stack.push_async_callback(relay.stop)
            app.state.stream_app = None
            app.state.offsets = None
            if plan.subscriptions:
                dead_letters = consumer.DeadLetters(
                    settings.kafka_bootstrap, topic_name("deadletter", settings.topic_namespace),
                    settings.service_name, security=settings.kafka_security())
                await dead_letters.start()
                stack.push_async_callback(dead_letters.stop)
                stream_app = consumer.create_faust_app(
                    settings, f"{settings.topic_namespace}-{settings.service_name}")
                for owner, handlers in plan.subscriptions.items():
                    consumer.subscribe(stream_app, settings, owner,
                                       plan.processor(pool, handlers, dead_letters))
                await stream_app.start()
                stack.push_async_callback(stream_app.stop)
                app.state.stream_app = stream_app
                lag = consumer.LagMonitor(
                    settings.kafka_bootstrap, stream_app.conf.id,
                    [topic_name(owner, settings.topic_namespace)
                     for owner in plan.subscriptions], security=settings.kafka_security())
                stack.push_async_callback(lag.stop)
                # requests read offsets with clients of their own (the job may reset its own)
                offsets = consumer.LagMonitor(
                    settings.kafka_bootstrap, stream_app.conf.id,
                    [topic_name(owner, settings.topic_namespace)
                     for owner in plan.subscriptions], security=settings.kafka_security())
                stack.push_async_callback(offsets.stop)
                app.state.offsets = offsets

                async def consumer_lag(_: Database) -> None:
                    await lag.measure()

                stack.push_async_callback(_cancel, asyncio.create_task(
                    _every(settings.lag_check_seconds, consumer_lag, db)))
            keep = housekeeping.Keep(
                published=timedelta(hours=settings.outbox_keep_hours),
                processed=timedelta(hours=settings.events_retention_hours),
                responses=timedelta(hours=settings.idempotency_hours))

            async def sweep(db: Database) -> None:
                await housekeeping.sweep(db.pool, keep)

            for every, job in [*plan.periodic, (settings.housekeeping_seconds, sweep)]:
                task = asyncio.create_task(_every(every, job, db))
                stack.push_async_callback(_cancel, task)
            # What start-up built (modules, models, the app, clients) lives as long as the
            # process: frozen, the collector never scans it again. Each full collection of it
            # took about 50 ms, a pause in whatever request or batch was running.
            gc.collect()
            gc.freeze()
            yield

    return lifespan


async def _every(seconds: float, job: Job, db: Database) -> None:
    while True:
        try:
            await job(db)
        except Exception:
            log.exception("periodic job %s failed; it runs again in %ss", job.__name__, seconds)
        await asyncio.sleep(seconds)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def health_checks(app: FastAPI) -> dict[str, HealthCheck]:
    async def database() -> bool:
        async with app.state.db.pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT true"))

    checks: dict[str, HealthCheck] = {"database": database}
    stream_app = getattr(app.state, "stream_app", None)
    if stream_app is not None:
        async def consumer_running() -> bool:
            return bool(stream_app.started and not stream_app.should_stop)

        checks["consumer"] = consumer_running
    return checks


def service_app(plan: ServicePlan, *, title: str, description: str,
                routers: Sequence[APIRouter], access: Mapping[str, Access],
                topic_owner: str | None = None) -> FastAPI:
    """A service's FastAPI app: routes (of ``routers``), errors, /health, /metrics, and ``plan``
    run in its lifespan. ``access`` says who may call each route (every route has its entry, or
    the app does not start); ``topic_owner`` names the topic the service publishes on."""
    app = create_app(plan.settings, title=title, description=description,
                     lifespan=service_lifespan(plan), checks=health_checks)
    if topic_owner is not None:
        app.state.topic = topic_name(topic_owner, plan.settings.topic_namespace)
    for router in routers:
        app.include_router(router)
    rules = AccessRules(plan.settings.service_name, access)
    rules.check_complete([r.name for r in [*(r for router in routers for r in router.routes),
                                           *app.routes] if isinstance(r, APIRoute)])
    app.state.access = rules
    app.openapi = partial(_with_access, app.openapi, rules)  # type: ignore[method-assign]
    return app


def _with_access(openapi: Callable[[], dict[str, Any]], rules: AccessRules) -> dict[str, Any]:
    """The OpenAPI document with each operation's access rule (``x-access``), and the rule in
    words at the end of its description."""
    schema = openapi()
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            if "x-access" in operation or "operationId" not in operation:
                continue
            rule = rules.rule(operation["operationId"].split(".", 1)[1])
            operation["x-access"] = rule.document()
            said = f"Who may call: {rule.who()}." + (f" Scope: {rule.scope}." if rule.scope
                                                      else "")
            operation["description"] = (operation.get("description", "") + "\n\n" + said
                                        ).strip()
    return schema
