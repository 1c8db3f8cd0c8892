"""One error family for every service, rendered as ``application/problem+json``.

Every problem is rendered in English or, when the request prefers it (``Accept-Language: vi``,
q-values honoured), in Vietnamese: its title always, its detail and each field's message where
a Vietnamese text is known (``chungtay_common.messages``); ``Content-Language`` says which.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, PrivateAttr, ValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from chungtay_common.messages import (
    EN,
    TITLES_VI,
    VI,
    prefers_vietnamese,
    pydantic_vietnamese,
    vietnamese,
)
from chungtay_common.refusals import DomainError, NotAllowed, RuleBroken, StateConflict

log = logging.getLogger(__name__)


class FieldError(BaseModel):
    field: str
    message: str
    # the message in Vietnamese (default: that of an ``en_vi`` or shared message)
    _vi: str | None = PrivateAttr(default=None)

    def __init__(self, *, field: str, message: str, vi: str | None = None) -> None:
        super().__init__(field=field, message=message)
        self._vi = vi if vi is not None else vietnamese(message)

    @property
    def vi(self) -> str:
        return self._vi or self.message


class Problem(BaseModel):
    """The body of every error response."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] = []
    _vi: Problem | None = PrivateAttr(default=None)

    def in_vietnamese(self) -> Problem:
        """The same problem in Vietnamese, as far as its texts are known in Vietnamese."""
        if self._vi is not None:
            return self._vi
        return Problem(type=self.type, title=TITLES_VI.get(self.type, self.title),
                       status=self.status, detail=vietnamese(self.detail) or self.detail,
                       errors=[FieldError(field=e.field, message=e.vi) for e in self.errors])

    def with_vietnamese(self, detail: str | None) -> Problem:
        """This problem, whose Vietnamese detail is ``detail`` (None: as known)."""
        vi = self.in_vietnamese()
        if detail is not None:
            vi = vi.model_copy(update={"detail": detail})
        self._vi = vi
        return self


class AppError(Exception):
    """Base of every expected error: carries the HTTP status and a machine-readable type.
    ``detail`` may be an ``en_vi`` message, or ``vi`` gives its Vietnamese text."""

    status_code = 400
    type = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, errors: list[FieldError] | None = None,
                 vi: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.vi = vi if vi is not None else vietnamese(detail)

    def problem(self) -> Problem:
        return Problem(
            type=self.type,
            title=self.title,
            status=self.status_code,
            detail=self.detail,
            errors=self.errors,
        ).with_vietnamese(self.vi)


def _joined(errors: list[FieldError], vi: bool = False) -> str:
    return "; ".join(f"{e.field}: {e.vi if vi else e.message}" for e in errors)


class InvalidInput(AppError):
    status_code = 422
    type = "validation_error"
    title = "Invalid input"

    @classmethod
    def on(cls, field: str, message: str) -> InvalidInput:
        return cls.of([FieldError(field=field, message=message)])

    @classmethod
    def of(cls, errors: list[FieldError]) -> InvalidInput:
        return cls(_joined(errors), errors, vi=_joined(errors, vi=True))

    def within(self, prefix: str) -> InvalidInput:
        """The same error about a part of the request (``successor.name``, not ``name``)."""
        return InvalidInput.of([FieldError(field=f"{prefix}.{e.field}", message=e.message,
                                           vi=e.vi) for e in self.errors])


class NotFound(AppError):
    status_code, type, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status_code, type, title = 409, "conflict", "Conflict"


class Unauthorized(AppError):
    status_code, type, title = 401, "unauthorized", "Unauthorized"


class Forbidden(AppError):
    status_code, type, title = 403, "forbidden", "Forbidden"


class PayloadTooLarge(AppError):
    status_code, type, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(AppError):
    status_code, type, title = 415, "unsupported_media_type", "Unsupported media type"


def from_refusal(exc: DomainError) -> AppError:
    """The one mapping of the domain's refusals to HTTP (see ``chungtay_common.refusals``)."""
    if isinstance(exc, RuleBroken):
        return InvalidInput.on(exc.field, exc.message)
    if isinstance(exc, StateConflict):
        return Conflict(exc.message)
    if isinstance(exc, NotAllowed):
        return Forbidden(exc.message)
    raise TypeError(f"no HTTP mapping for {type(exc).__name__}")


PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemResponse(JSONResponse):
    """A problem in the language the request prefers: chosen when it is sent, so that a
    problem sent by a middleware (which has no ``Request``) is translated too."""

    media_type = PROBLEM_MEDIA_TYPE

    def __init__(self, problem: Problem, headers: dict[str, str] | None = None) -> None:
        self.problem = problem
        super().__init__(problem.model_dump(), status_code=problem.status,
                         media_type=PROBLEM_MEDIA_TYPE, headers=headers)
        self.headers["Content-Language"] = EN
        self.headers["Vary"] = "Accept-Language"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if prefers_vietnamese(Headers(scope=scope).get("accept-language")):
            self.body = self.render(self.problem.in_vietnamese().model_dump())
            self.headers["Content-Length"] = str(len(self.body))
            self.headers["Content-Language"] = VI
        await super().__call__(scope, receive, send)


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return ProblemResponse(problem, headers)


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


_HTTP_TYPES = {404: NotFound.type, 405: "method_not_allowed"}


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route takes at the request's path."""
    return [method for method in _METHODS
            if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                   for route in request.app.router.routes)]


# What a request meets while its database is down or restarting (connection refused or reset,
# a connection lost under it, the server shutting down or starting up, a connect or a statement
# timing out): a 503 at once. The pool opens new connections when it is back. A client-side
# misuse of a connection (asyncpg's InterfaceError) is a bug, answered 500 and logged.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    ConnectionError, TimeoutError, asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError)
RETRY_AFTER_SECONDS = 5


def install_error_handlers(app: FastAPI) -> None:
    async def app_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        return problem_response(exc.problem(), headers)

    async def refusal(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return problem_response(from_refusal(exc).problem())

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        # the route's own validation, or a model built from request data deeper down
        assert isinstance(exc, RequestValidationError | ValidationError)
        return problem_response(InvalidInput.of([
            FieldError(field=_loc_to_field(e.get("loc", ())), message=str(e.get("msg", "")),
                       vi=pydantic_vietnamese(e))
            for e in exc.errors()]).problem())

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        # the framework's own refusals (no route, a method the path does not take, a body that
        # is not UTF-8) are problems too
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:  # FastAPI: "There was an error parsing the body"
            return problem_response(InvalidInput.on("body", "must be JSON in UTF-8").problem())
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only one route's
            headers["Allow"] = ", ".join(_allowed_methods(request))
        status = HTTPStatus(exc.status_code)
        return problem_response(Problem(
            type=_HTTP_TYPES.get(exc.status_code, "http_error"), title=status.phrase,
            status=exc.status_code, detail=str(exc.detail)), headers)

    async def concurrent_change(_: Request, exc: Exception) -> JSONResponse:
        log.info("concurrent change refused: %r", exc)
        return problem_response(Conflict(
            "another change to the same data was made at the same time; try again").problem())

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %r", exc)
        return problem_response(Problem(
            type="service_unavailable", title="Service unavailable", status=503,
            detail="the service's database is unavailable for now: try again shortly (a "
                   "write retried with the same Idempotency-Key never applies twice, even if "
                   "the connection was lost while it committed)"),
            {"Retry-After": str(RETRY_AFTER_SECONDS)})

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)
        return problem_response(Problem(type="internal_error", title="Internal error",
                                        status=500, detail="an unexpected error; it is logged"))

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(DomainError, refusal)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ValidationError, validation_error)
    app.add_exception_handler(asyncpg.TransactionRollbackError, concurrent_change)
    for unreachable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unreachable, unavailable)
    app.add_exception_handler(Exception, unexpected)


# What each error status means, in every service's OpenAPI document.
ERROR_DESCRIPTIONS: dict[int, str] = {
    401: "No valid bearer token (missing, invalid or expired)",
    403: "The caller's roles or unit scope do not allow it",
    404: "What the path names does not exist",
    409: "Conflicts with the current state, or with a change made at the same time (retry)",
    413: "The body is larger than the service takes",
    415: "The body's media type is not one the operation takes",
    422: "Invalid input, or a rule refuses it (a unit not active then, a year outside the "
         "campaign, ...): each field at fault is named in `errors`",
    503: "The service's database is unavailable for now (down or restarting): retry after "
         "`Retry-After` seconds, a write with the same `Idempotency-Key`",
}


def error_response(code: int) -> dict[str, Any]:
    """One error response in an OpenAPI document (the Problem body is added by ``_openapi``)."""
    return {"description": ERROR_DESCRIPTIONS.get(code, "Error"), "content": {
        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


# Responses to declare on routes so that the OpenAPI document tells the truth.
def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "description": ERROR_DESCRIPTIONS.get(code, "Error")}
            for code in codes}
