"""The FastAPI skeleton of every service: errors, body limit, metrics, /health, /metrics."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chungtay_common import idempotency, metrics
from chungtay_common.auth import Principal, TokenVerifier
from chungtay_common.context import Context
from chungtay_common.db import Conn
from chungtay_common.errors import (
    InvalidInput,
    PayloadTooLarge,
    install_error_handlers,
    problem_response,
)
from chungtay_common.settings import ServiceSettings

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[bool]]


class BodyLimit:
    """Refuses bodies over ``limit`` bytes with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b""):  # PostgreSQL cannot hold it
            await problem_response(InvalidInput.on(
                "query", "must not contain the NUL character").problem())(scope, receive, send)
            return
        too_large = PayloadTooLarge(f"request body is larger than {self.limit} bytes")
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await problem_response(too_large.problem())(scope, receive, send)
                return
        # Read the body (at most ``limit`` bytes) before the app sees it: raised from inside the
        # app's own body parsing, the error would come out as FastAPI's plain 400, not a 413.
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.limit:
                await problem_response(too_large.problem())(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            if method not in _METHODS:  # any token is a method to the server: bound the label
                method = "other"
            metrics.HTTP_REQUESTS.labels(method, template, str(status)).inc()
            metrics.HTTP_DURATION.labels(method, template).observe(time.perf_counter() - started)


class Database:
    """The service's pool; ``transaction()`` is the one unit of work of a request."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def transaction(self, ctx: Context | None = None) -> AsyncIterator[Conn]:
        """One unit of work; ``ctx``'s after-commit effects run once it has committed."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn
        if ctx is not None:
            ctx.committed()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        async with self.pool.acquire() as conn, conn.transaction(readonly=True):
            yield conn


def _database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DatabaseDep = Annotated[Database, Depends(_database)]
CorrelationId = Annotated[uuid.UUID | None, Header(
    alias="X-Correlation-ID", description="ties this request's events together (default: new)")]


def request_context(request: Request, principal: Principal,
                    correlation_id: uuid.UUID | None) -> Context:
    """The use cases' context: the caller, this service's topic, the correlation id."""
    return Context(principal=principal, producer=request.app.state.settings.service_name,
                   topic=request.app.state.topic, correlation_id=correlation_id or uuid.uuid4())


def create_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], Any],
    checks: Callable[[FastAPI], dict[str, HealthCheck]],
) -> FastAPI:
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(
        settings.public_key_pem(), settings.jwt_issuer, settings.jwt_audience
    )
    install_error_handlers(app)

    @app.get("/health", tags=["operations"], include_in_schema=True)
    async def health() -> JSONResponse:
        """Whether the service and what it depends on answer."""
        results: dict[str, bool] = {}
        for name, check in checks(app).items():
            try:
                results[name] = await check()
            except Exception:
                log.warning("health check %s failed", name, exc_info=True)
                results[name] = False
        ok = all(results.values())
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "service": settings.service_name,
             "checks": results},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", tags=["operations"], include_in_schema=True)
    async def metrics_endpoint() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)
    return app


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


async def idempotent_write(
    request: Request, db: Database, actor: str, key: str | None,
    run: Callable[[Any], Awaitable[Any]], status_code: int = 200,
    ctx: Context | None = None,
) -> JSONResponse:
    """Run a write once per ``Idempotency-Key``: a retry gets the first response back
    (with ``Idempotency-Replayed: true``) and changes nothing. Without a key, just run it."""
    if key is None:
        async with db.transaction(ctx) as conn:
            result = await run(conn)
        body = result.model_dump(mode="json") if hasattr(result, "model_dump") else result
        return JSONResponse(body, status_code=status_code)

    digest = idempotency.request_hash(request.method, request.url.path, request.url.query,
                                      await request.body())
    async with db.transaction(ctx) as conn:
        stored = await idempotency.lookup(conn, actor, key, digest)
        if stored is not None:
            return JSONResponse(stored.body, status_code=stored.status_code,
                                headers={"Idempotency-Replayed": "true"})
        result = await run(conn)
        body = result.model_dump(mode="json") if hasattr(result, "model_dump") else result
        await idempotency.remember(conn, actor, key, request.method, request.url.path, digest,
                                   status_code, body)
    return JSONResponse(body, status_code=status_code)
