"""One error family for every service, rendered as ``application/problem+json``."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from chungtay_common.refusals import DomainError, NotAllowed, RuleBroken, StateConflict

log = logging.getLogger(__name__)


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """The body of every error response."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] = []


class AppError(Exception):
    """Base of every expected error: carries the HTTP status and a machine-readable type."""

    status_code = 400
    type = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []

    def problem(self) -> Problem:
        return Problem(
            type=self.type,
            title=self.title,
            status=self.status_code,
            detail=self.detail,
            errors=self.errors,
        )


class InvalidInput(AppError):
    status_code = 422
    type = "validation_error"
    title = "Invalid input"

    @classmethod
    def on(cls, field: str, message: str) -> InvalidInput:
        return cls(f"{field}: {message}", [FieldError(field=field, message=message)])

    @classmethod
    def of(cls, errors: list[FieldError]) -> InvalidInput:
        return cls("; ".join(f"{e.field}: {e.message}" for e in errors), errors)

    def within(self, prefix: str) -> InvalidInput:
        """The same error about a part of the request (``successor.name``, not ``name``)."""
        return InvalidInput.of([FieldError(field=f"{prefix}.{e.field}", message=e.message)
                                for e in self.errors])


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


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


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
            FieldError(field=_loc_to_field(e.get("loc", ())), message=str(e.get("msg", "")))
            for e in exc.errors()]).problem())

    async def concurrent_change(_: Request, exc: Exception) -> JSONResponse:
        log.info("concurrent change refused: %r", exc)
        return problem_response(Conflict(
            "another change to the same data was made at the same time; try again").problem())

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)
        return problem_response(Problem(type="internal_error", title="Internal error",
                                        status=500, detail="an unexpected error; it is logged"))

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(DomainError, refusal)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ValidationError, validation_error)
    app.add_exception_handler(asyncpg.TransactionRollbackError, concurrent_change)
    app.add_exception_handler(Exception, unexpected)


# Responses to declare on routes so that the OpenAPI document tells the truth.
def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "description": "Error"} for code in codes}
