"""The FastAPI skeleton of every service: errors, body limit, metrics, /health, /metrics."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Annotated, Any, Concatenate, Literal, ParamSpec, TypeVar

import asyncpg
from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from pydantic_core import to_json
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chungtay_common import idempotency, metrics
from chungtay_common.auth import PrincipalDep, TokenVerifier
from chungtay_common.context import Context
from chungtay_common.db import Conn
from chungtay_common.errors import (
    ERROR_DESCRIPTIONS,
    PROBLEM_MEDIA_TYPE,
    InvalidInput,
    PayloadTooLarge,
    Problem,
    UnsupportedMediaType,
    error_response,
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
        # PostgreSQL cannot hold NUL: refused here, before a route hands it to a query (a 500)
        if b"%00" in scope.get("query_string", b""):
            await problem_response(InvalidInput.on(
                "query", "must not contain the NUL character").problem())(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or b""
        if b"%00" in raw_path or "\x00" in scope.get("path", ""):
            await problem_response(InvalidInput.on(
                "path", "must not contain the NUL character").problem())(scope, receive, send)
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
    async def transaction(self, ctx: Context | None = None, *, snapshot: bool = False
                          ) -> AsyncIterator[Conn]:
        """One unit of work; ``ctx``'s after-commit effects run once it has committed. With
        ``snapshot``, every statement reads the database as it stood at the first one
        (REPEATABLE READ): for a unit of work that reads much and writes rows of its own."""
        async with self.pool.acquire() as conn, conn.transaction(
                isolation="repeatable_read" if snapshot else None):
            yield conn
        if ctx is not None:
            ctx.committed()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        """A read-only transaction whose statements all read one state of the database (the
        one at its first statement): an answer read in several statements never mixes the
        states before and after a commit made meanwhile (REPEATABLE READ; read-only, so never
        refused for a conflict)."""
        async with self.pool.acquire() as conn, conn.transaction(
                isolation="repeatable_read", readonly=True):
            yield conn


async def _database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DatabaseDep = Annotated[Database, Depends(_database)]
CorrelationId = Annotated[uuid.UUID | None, Header(
    alias="X-Correlation-ID", description="ties this request's events together (default: new)")]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=8, max_length=200, pattern=r"^[!-~]+$",
    description="unique per intended change (visible ASCII, no spaces): a retry with the same "
                "key gets the first response back and has no second effect; the same key with "
                "another request is refused (422)")]


async def _context(request: Request, principal: PrincipalDep,
                   x_correlation_id: CorrelationId = None) -> Context:
    """The use cases' context: the caller, this service's topic, the correlation id."""
    return Context(principal=principal, producer=request.app.state.settings.service_name,
                   topic=request.app.state.topic, correlation_id=x_correlation_id or uuid.uuid4())


ContextDep = Annotated[Context, Depends(_context)]

P = ParamSpec("P")


@dataclass(frozen=True)
class Write:
    """One state-changing request: one transaction, run once per ``Idempotency-Key``.

    ``await write(service.rename, unit_id, body)`` runs ``service.rename(conn, ctx, unit_id,
    body)`` in the request's transaction and answers with the route's status code. A retry with
    the same key gets the first response back (``Idempotency-Replayed: true``) and changes
    nothing; the same key with another request is refused (422)."""

    request: Request
    db: Database
    ctx: Context
    key: str | None

    async def __call__(self, use_case: Callable[Concatenate[Conn, Context, P], Awaitable[Any]],
                       *args: P.args, **kwargs: P.kwargs) -> JSONResponse:
        return await self._run(None, use_case, *args, **kwargs)

    async def locking(self, table: str,
                      use_case: Callable[Concatenate[Conn, Context, P], Awaitable[Any]],
                      *args: P.args, **kwargs: P.kwargs) -> JSONResponse:
        """Like a call, for a use case that reads much to write a record of what it read (a
        published snapshot): ``LOCK TABLE table IN EXCLUSIVE MODE`` is the transaction's
        first statement, and everything after it, the ``Idempotency-Key``'s lookup included,
        reads the one state of the database at the lock's grant (REPEATABLE READ; a ``LOCK``
        takes no snapshot, where an advisory lock's ``SELECT`` would take it before waiting).
        So what it reads is consistent, and no older than what the last holder of the lock
        committed. ``table`` is a name from the code, never from input."""
        return await self._run(table, use_case, *args, **kwargs)

    async def _run(self, lock: str | None,
                   use_case: Callable[Concatenate[Conn, Context, P], Awaitable[Any]],
                   *args: P.args, **kwargs: P.kwargs) -> JSONResponse:
        status_code = self._status_code()
        request, key, actor = self.request, self.key, self.ctx.principal.subject
        digest = "" if key is None else idempotency.request_hash(
            request.method, request.url.path, request.url.query, await request.body())
        async with self.db.transaction(self.ctx, snapshot=lock is not None) as conn:
            if lock is not None:
                await conn.execute(f"LOCK TABLE {lock} IN EXCLUSIVE MODE")
            if key is not None:
                kept = timedelta(hours=request.app.state.settings.idempotency_hours)
                stored = await idempotency.lookup(conn, actor, key, digest, kept)
                if stored is not None:
                    return JSONResponse(stored.body, status_code=stored.status_code,
                                        headers={"Idempotency-Replayed": "true"})
            body = _encoded(await use_case(conn, self.ctx, *args, **kwargs))
            if key is not None:
                await idempotency.remember(conn, actor, key, request.method, request.url.path,
                                           digest, status_code, body)
        return EncodedJSON(body, status_code=status_code)

    def _status_code(self) -> int:
        """The route's declared success status (200 when it declares none)."""
        code: int = getattr(self.request.scope.get("route"), "status_code", None) or 200
        return code

    async def statement(self, use_case: Callable[Concatenate[Conn, Context, P], Awaitable[Any]],
                        *args: P.args, **kwargs: P.kwargs) -> JSONResponse:
        """Like a call, for a use case whose change is one statement, so atomic by itself:
        it reads, then writes in one statement that checks nothing it read has changed (if
        something has, it opens a transaction of its own and works the change out again). No
        transaction around it: no ``BEGIN`` and ``COMMIT`` round trips on a hot path. With an
        ``Idempotency-Key``, the lookup, the use case and the stored response need one
        transaction: it is run as any write."""
        if self.key is not None:
            return await self(use_case, *args, **kwargs)
        status_code = self._status_code()
        async with self.db.pool.acquire() as conn:
            body = _encoded(await use_case(conn, self.ctx, *args, **kwargs))
        self.ctx.committed()
        return EncodedJSON(body, status_code=status_code)


class EncodedJSON(JSONResponse):
    """A JSON response whose body is encoded already (``_encoded``): sent as it is."""

    def render(self, content: Any) -> bytes:
        assert isinstance(content, bytes)
        return content


def _encoded(result: Any) -> bytes:
    """A use case's result (models, lists of them, plain values) as JSON, encoded once, by
    pydantic's encoder, as ``model_dump(mode="json")`` would have it."""
    return to_json(result)


async def _write(request: Request, db: DatabaseDep, ctx: ContextDep,
                 idempotency_key: IdempotencyKey = None) -> Write:
    return Write(request=request, db=db, ctx=ctx, key=idempotency_key)


WriteDep = Annotated[Write, Depends(_write)]

T = TypeVar("T")


@dataclass(frozen=True)
class Read:
    """One reading request of a caller with a valid token: ``await read(service.get_unit,
    unit_id)`` runs ``service.get_unit(conn, unit_id)`` in a read-only transaction."""

    db: Database

    async def __call__(self, use_case: Callable[Concatenate[Conn, P], Awaitable[T]],
                       *args: P.args, **kwargs: P.kwargs) -> T:
        async with self.db.read() as conn:
            return await use_case(conn, *args, **kwargs)


async def _read(principal: PrincipalDep, db: DatabaseDep) -> Read:
    return Read(db)


ReadDep = Annotated[Read, Depends(_read)]

@dataclass(frozen=True)
class PersonalRead:
    """A read of personal data (dossiers, histories, audit trails), which the use case scopes
    to the caller's subtree and records in the audit log: ``await read(service.get_nomination,
    nomination_id)`` runs ``service.get_nomination(conn, ctx, nomination_id)`` in one
    transaction, whose only write is that audit row; it reads one state of the database, as a
    read does."""

    db: Database
    ctx: Context

    async def __call__(self, use_case: Callable[Concatenate[Conn, Context, P], Awaitable[T]],
                       *args: P.args, **kwargs: P.kwargs) -> T:
        async with self.db.transaction(self.ctx, snapshot=True) as conn:
            return await use_case(conn, self.ctx, *args, **kwargs)


async def _personal_read(db: DatabaseDep, ctx: ContextDep) -> PersonalRead:
    return PersonalRead(db, ctx)


PersonalReadDep = Annotated[PersonalRead, Depends(_personal_read)]

# --------------------------------------------------------------------------- uploaded files

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def media_type(request: Request) -> str:
    """The body's media type without parameters, lower case (media types ignore case)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _csv_text(request: Request) -> str:
    if media_type(request) != CSV_TYPE:
        raise UnsupportedMediaType("send the file as text/csv (UTF-8)")
    try:
        return (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput.on("body", "must be UTF-8") from exc


@dataclass(frozen=True)
class Sheet:
    """An uploaded table: ``media_type`` is ``CSV_TYPE`` or ``XLSX_TYPE``."""

    media_type: str
    content: bytes


async def _sheet(request: Request) -> Sheet:
    kind = media_type(request)
    if kind not in (CSV_TYPE, XLSX_TYPE):
        raise UnsupportedMediaType(f"send the file as {CSV_TYPE} (UTF-8) or as {XLSX_TYPE}")
    return Sheet(media_type=kind, content=await request.body())


CsvText = Annotated[str, Depends(_csv_text)]
SheetFile = Annotated[Sheet, Depends(_sheet)]
# what a route taking one of them declares as its body, so that the OpenAPI document is true
CSV_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    CSV_TYPE: {"schema": {"type": "string"}}}}}
SHEET_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    CSV_TYPE: {"schema": {"type": "string"}},
    XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


class Health(BaseModel):
    """Whether the service and each thing it depends on answer."""

    status: Literal["ok", "degraded"]
    service: str
    checks: dict[str, bool]


def create_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], Any],
    checks: Callable[[FastAPI], dict[str, HealthCheck]],
) -> FastAPI:
    # short, stable operation ids for generated clients: "<service>.<route's name>"
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan,
                  generate_unique_id_function=lambda route: f"{settings.service_name}.{route.name}")
    app.state.settings = settings
    app.state.token_verifier = TokenVerifier(
        settings.public_key_pem(), settings.jwt_issuer, settings.jwt_audience,
        timedelta(hours=settings.jwt_max_lifetime_hours))
    install_error_handlers(app)

    @app.get("/health", tags=["operations"], include_in_schema=True, response_model=Health,
             responses={503: {"model": Health, "description": "Something it depends on does "
                                                              "not answer"}})
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

    @app.get("/metrics", tags=["operations"], include_in_schema=True, response_class=Response,
             name="metrics",
             responses={200: {"description": "Prometheus' text format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def metrics_endpoint() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.openapi = partial(_openapi, app)  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)
    return app


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without FastAPI's ``null`` branch: a parameter left out is None,
    and the text "null" is no value of it."""
    branches = [b for b in schema.get("anyOf", []) if b != {"type": "null"}]
    if not branches or len(branches) == len(schema.get("anyOf", [])):
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**rest, **branches[0]} if len(branches) == 1 else {**rest, "anyOf": branches}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, telling the truth: every 4xx and 5xx response is
    ``application/problem+json`` (FastAPI documents declared models as JSON); an operation that
    reads the bearer token (its ``security``) documents its 401; a parameter is never
    ``null``."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        components = schema.setdefault("components", {})
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for parameter in operation.get("parameters", []):
                    parameter["schema"] = _without_null(parameter.get("schema", {}))
                responses = operation.setdefault("responses", {})
                if operation.get("security"):  # it reads the token (``auth.BEARER``)
                    responses.setdefault("401", error_response(401))
                if operation.get("operationId", "").rsplit(".", 1)[-1] != "metrics":
                    responses.setdefault("503", error_response(503))  # its database is down
                for status, response in responses.items():
                    content = response.get("content", {})
                    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                    if status[:1] in "45" and ref.endswith(("/Problem", "/HTTPValidationError")):
                        body = content.pop("application/json")
                        # FastAPI's own 422 body is not what the service sends: a Problem
                        if ref.endswith("HTTPValidationError"):
                            body["schema"] = {"$ref": "#/components/schemas/Problem"}
                            response["description"] = ERROR_DESCRIPTIONS[422]
                        content[PROBLEM_MEDIA_TYPE] = body
        schemas = components.get("schemas", {})
        if "Problem" not in schemas:  # a 401 added above is the only error of the service
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(problem.pop("$defs", {}), Problem=problem)
        for unused in ("HTTPValidationError", "ValidationError"):  # replaced by Problem
            schemas.pop(unused, None)
        app.openapi_schema = schema
    return app.openapi_schema


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
