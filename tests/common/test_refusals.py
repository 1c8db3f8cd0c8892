"""The domain's refusals and their one mapping to HTTP: the same refusal gets the same status
and problem body in every service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from chungtay_common.errors import (
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    from_refusal,
    install_error_handlers,
)
from chungtay_common.refusals import DomainError, NotAllowed, RuleBroken, StateConflict
from tests.support import assert_problem


def test_a_broken_rule_is_invalid_input_naming_the_field() -> None:
    error = from_refusal(RuleBroken("share", "must be at most 100"))
    assert isinstance(error, InvalidInput) and error.status_code == 422
    assert error.detail == "share: must be at most 100"
    assert error.errors == [FieldError(field="share", message="must be at most 100")]


def test_a_broken_rule_about_a_part_names_the_part() -> None:
    refusal = RuleBroken("name", "must not be empty").within("successor")
    assert (refusal.field, refusal.message) == ("successor.name", "must not be empty")
    assert from_refusal(refusal).errors == [
        FieldError(field="successor.name", message="must not be empty")]


def test_a_state_conflict_is_a_conflict() -> None:
    error = from_refusal(StateConflict("the report is not submitted"))
    assert isinstance(error, Conflict) and error.status_code == 409 and error.type == "conflict"
    assert error.detail == "the report is not submitted" and error.errors == []


def test_what_the_caller_may_not_do_is_forbidden() -> None:
    error = from_refusal(NotAllowed("a commune may not approve"))
    assert isinstance(error, Forbidden) and error.status_code == 403
    assert error.type == "forbidden" and error.detail == "a commune may not approve"


def test_a_refusal_without_a_mapping_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="DomainError"):
        from_refusal(DomainError("no status for this"))


REFUSALS: dict[str, DomainError] = {
    "rule": RuleBroken("year", "must not be in the future"),
    "state": StateConflict("the nomination is a draft"),
    "role": NotAllowed("only the province may forward"),
}


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A route that raises each refusal, in an app with the services' error handlers."""
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/refuse/{kind}")
    async def refuse(kind: str) -> None:
        raise REFUSALS[kind]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        yield client


async def test_the_handlers_render_each_refusal_as_a_problem(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/refuse/rule"), 422, field="year",
                          type="validation_error")
    assert body["detail"] == "year: must not be in the future"
    assert body["errors"] == [{"field": "year", "message": "must not be in the future"}]

    body = assert_problem(await client.post("/refuse/state"), 409, type="conflict")
    assert body["detail"] == "the nomination is a draft" and body["errors"] == []

    body = assert_problem(await client.post("/refuse/role"), 403, type="forbidden")
    assert body["detail"] == "only the province may forward" and body["errors"] == []
