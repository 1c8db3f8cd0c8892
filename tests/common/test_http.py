"""What every route gets from ``chungtay_common.http``: ``WriteDep`` (one transaction, the
route's status code, the optional ``Idempotency-Key``) on a real PostgreSQL database, and the
uploaded files ``CsvText`` and ``SheetFile``."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.types import Message, Receive, Scope, Send

from chungtay_common.auth import Role
from chungtay_common.context import Context
from chungtay_common.db import Conn
from chungtay_common.http import (
    CSV_TYPE,
    XLSX_TYPE,
    BodyLimit,
    CsvText,
    Database,
    ReadDep,
    SheetFile,
    WriteDep,
    create_app,
)
from chungtay_common.refusals import RuleBroken
from chungtay_common.settings import ServiceSettings
from chungtay_common.topics import topic_name
from tests.conftest import TestStack
from tests.support import assert_problem, bearer, eventually, ok


class Note(BaseModel):
    text: str


class Runs:
    """What the use case saw, run by run: a replay must not add to it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def record(self, conn: Conn, ctx: Context, body: Note) -> dict[str, Any]:
        if body.text == "refuse":
            raise RuleBroken("text", "is refused")
        in_transaction = conn.is_in_transaction()
        self.seen.append((ctx.principal.subject, body.text))
        return {"run": len(self.seen), "text": body.text, "in_transaction": in_transaction}


async def _read_only(conn: Conn, setting: str) -> str:
    value: str = await conn.fetchval(f"SHOW {setting}")
    return value


async def _echo(conn: Conn, text: str) -> str:
    """The text back from PostgreSQL: a NUL in it would fail there (a 500)."""
    value: str = await conn.fetchval("SELECT $1::text", text)
    return value


@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture
async def app(common_settings: ServiceSettings, pool: asyncpg.Pool
              ) -> AsyncIterator[tuple[httpx.AsyncClient, Runs]]:
    """A service skeleton with a created (201) and an updating (200) write, a read, and two
    uploads."""
    app = create_app(common_settings, title="test", description="test", lifespan=_no_lifespan,
                     checks=lambda _: {})
    app.state.db = Database(pool)
    app.state.topic = topic_name("registration", common_settings.topic_namespace)
    runs = Runs()

    @app.post("/notes", status_code=201)
    async def create(body: Note, write: WriteDep) -> Any:
        return await write(runs.record, body)

    @app.put("/notes")
    async def update(body: Note, write: WriteDep) -> Any:
        return await write(runs.record, body)

    @app.get("/notes/transaction")
    async def transaction(read: ReadDep) -> dict[str, str]:
        return {"read_only": await read(_read_only, "transaction_read_only")}

    @app.get("/notes/echo/{text}")
    async def echo(text: str, read: ReadDep) -> dict[str, str]:
        return {"text": await read(_echo, text)}

    async def counted(conn: Conn) -> int:
        value: int = await conn.fetchval("SELECT count(*) FROM http_probe")
        return value

    async def commit_a_row_meanwhile() -> None:
        await pool.execute("INSERT INTO http_probe DEFAULT VALUES")

    async def count_twice(conn: Conn, *_: Any) -> dict[str, int]:
        first = await counted(conn)
        await commit_a_row_meanwhile()  # another connection commits between the statements
        return {"first": first, "second": await counted(conn)}

    @app.get("/notes/twice")
    async def twice(read: ReadDep) -> dict[str, int]:
        return await read(count_twice)

    async def count(conn: Conn, *_: Any) -> dict[str, Any]:
        return {"seen": await counted(conn), "isolation": await conn.fetchval(
            "SHOW transaction_isolation")}

    @app.post("/notes/after-lock")
    async def after_lock(body: Note, write: WriteDep) -> Any:
        return await write.locking("http_probe", count, body)

    @app.post("/csv")
    async def upload_csv(text: CsvText) -> dict[str, str]:
        return {"text": text}

    @app.post("/sheet")
    async def upload_sheet(sheet: SheetFile) -> dict[str, Any]:
        return {"media_type": sheet.media_type, "size": len(sheet.content)}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        yield client, runs


def _caller(stack: TestStack) -> dict[str, str]:
    """A caller of its own: idempotency keys belong to the caller, and the database is shared
    by the whole run."""
    return bearer(stack.token(Role.ADMIN, sub=f"writer-{uuid.uuid4().hex[:8]}"))


async def test_a_write_answers_with_the_status_code_of_its_route(
    stack: TestStack, app: tuple[httpx.AsyncClient, Runs]
) -> None:
    client, _ = app
    headers = _caller(stack)
    created = await client.post("/notes", json={"text": "a"}, headers=headers)
    assert ok(created, 201) == {"run": 1, "text": "a", "in_transaction": True}
    updated = await client.put("/notes", json={"text": "b"}, headers=headers)
    assert ok(updated, 200) == {"run": 2, "text": "b", "in_transaction": True}
    assert "idempotency-replayed" not in created.headers
    assert "idempotency-replayed" not in updated.headers


async def test_a_retry_with_the_same_key_gets_the_first_answer_and_runs_nothing(
    stack: TestStack, app: tuple[httpx.AsyncClient, Runs]
) -> None:
    client, runs = app
    headers = _caller(stack) | {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    first = await client.post("/notes", json={"text": "once"}, headers=headers)
    assert ok(first, 201) == {"run": 1, "text": "once", "in_transaction": True}
    assert "idempotency-replayed" not in first.headers
    again = await client.post("/notes", json={"text": "once"}, headers=headers)
    assert ok(again, 201) == first.json()
    assert again.headers["idempotency-replayed"] == "true"
    assert len(runs.seen) == 1


async def test_the_same_key_with_another_request_is_refused(
    stack: TestStack, app: tuple[httpx.AsyncClient, Runs]
) -> None:
    client, runs = app
    headers = _caller(stack) | {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    ok(await client.post("/notes", json={"text": "first"}, headers=headers), 201)
    other_body = await client.post("/notes", json={"text": "second"}, headers=headers)
    body = assert_problem(other_body, 422, field="Idempotency-Key")
    assert body["detail"] == "Idempotency-Key: was already used for a different request"
    assert_problem(await client.put("/notes", json={"text": "first"}, headers=headers), 422,
                   field="Idempotency-Key")
    assert len(runs.seen) == 1


async def test_keys_belong_to_the_caller(
    stack: TestStack, app: tuple[httpx.AsyncClient, Runs]
) -> None:
    client, runs = app
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    for _ in range(2):
        r = await client.post("/notes", json={"text": "x"}, headers=_caller(stack) | key)
        assert "idempotency-replayed" not in r.headers
    assert [run for _, run in runs.seen] == ["x", "x"]


async def test_without_a_key_every_request_runs(
    stack: TestStack, app: tuple[httpx.AsyncClient, Runs]
) -> None:
    client, _ = app
    headers = _caller(stack)
    answers = [ok(await client.post("/notes", json={"text": "same"}, headers=headers), 201)
               for _ in range(3)]
    assert [a["run"] for a in answers] == [1, 2, 3]


async def test_a_refused_write_stores_nothing_and_its_retry_runs_again(
    stack: TestStack, app: tuple[httpx.AsyncClient, Runs]
) -> None:
    client, runs = app
    headers = _caller(stack) | {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    for _ in range(2):
        assert_problem(await client.post("/notes", json={"text": "refuse"}, headers=headers),
                       422, field="text")
    assert runs.seen == []


async def test_a_key_must_look_like_one(
    stack: TestStack, app: tuple[httpx.AsyncClient, Runs]
) -> None:
    client, runs = app
    headers = _caller(stack) | {"Idempotency-Key": "short"}
    assert_problem(await client.post("/notes", json={"text": "x"}, headers=headers), 422,
                   field="header.Idempotency-Key")
    assert runs.seen == []


async def test_a_read_runs_in_a_read_only_transaction_for_a_caller_with_a_token(
    stack: TestStack, app: tuple[httpx.AsyncClient, Runs]
) -> None:
    client, _ = app
    r = await client.get("/notes/transaction", headers=_caller(stack))
    assert ok(r, 200) == {"read_only": "on"}
    assert_problem(await client.get("/notes/transaction"), 401, type="unauthorized")


@pytest.fixture
async def probe(pool: asyncpg.Pool) -> AsyncIterator[None]:
    await pool.execute("DROP TABLE IF EXISTS http_probe; "
                       "CREATE TABLE http_probe (id bigserial PRIMARY KEY)")
    yield
    await pool.execute("DROP TABLE http_probe")


@pytest.mark.usefixtures("probe")
async def test_a_read_reads_one_state_of_the_database_whatever_commits_meanwhile(
    stack: TestStack, app: tuple[httpx.AsyncClient, Runs], pool: asyncpg.Pool
) -> None:
    client, _ = app
    # an answer read in several statements (a summary's province, then its districts) must not
    # mix the states before and after a commit made between them
    assert ok(await client.get("/notes/twice", headers=_caller(stack))) == {
        "first": 0, "second": 0}
    assert await pool.fetchval("SELECT count(*) FROM http_probe") == 1


@pytest.mark.usefixtures("probe")
async def test_a_write_after_a_lock_reads_the_state_at_the_locks_grant(
    stack: TestStack, app: tuple[httpx.AsyncClient, Runs], pool: asyncpg.Pool
) -> None:
    client, _ = app
    for key in [None, f"key-{uuid.uuid4()}"]:  # the key's lookup must not take the snapshot
        headers = _caller(stack) | ({"Idempotency-Key": key} if key else {})
        before = await pool.fetchval("SELECT count(*) FROM http_probe")
        async with pool.acquire() as holder, holder.transaction():
            await holder.execute("LOCK TABLE http_probe IN EXCLUSIVE MODE")
            request = asyncio.create_task(
                client.post("/notes/after-lock", json={"text": "x"}, headers=headers))
            async for attempt in eventually(10):  # the request waits for the lock
                with attempt:
                    assert await pool.fetchval(
                        "SELECT count(*) FROM pg_locks WHERE relation = 'http_probe'::regclass"
                        " AND NOT granted") == 1
            await holder.execute("INSERT INTO http_probe DEFAULT VALUES")
        # it saw what the lock's holder committed, in one snapshot taken at the grant
        assert ok(await request) == {"seen": before + 1, "isolation": "repeatable read"}


@pytest.mark.parametrize("content_type", [
    "text/csv", "Text/CSV; charset=utf-8", "TEXT/CSV;charset=UTF-8"])
async def test_a_csv_body_is_read_as_utf8_whatever_the_case_of_its_type(
    app: tuple[httpx.AsyncClient, Runs], content_type: str
) -> None:
    client, _ = app
    text = "mã,tên\n44,Tỉnh Quảng Bình\n"
    r = await client.post("/csv", content=text.encode(), headers={"content-type": content_type})
    assert ok(r, 200) == {"text": text}


@pytest.mark.parametrize("content_type", [
    None, "application/json", "text/plain", "text/csvx", XLSX_TYPE])
async def test_a_csv_body_of_another_type_is_unsupported(
    app: tuple[httpx.AsyncClient, Runs], content_type: str | None
) -> None:
    client, _ = app
    headers = {"content-type": content_type} if content_type else {}
    body = assert_problem(await client.post("/csv", content=b"a,b\n", headers=headers), 415,
                          type="unsupported_media_type")
    assert body["detail"] == "send the file as text/csv (UTF-8)"


async def test_a_csv_body_that_is_not_utf8_is_invalid(
    app: tuple[httpx.AsyncClient, Runs]
) -> None:
    client, _ = app
    latin1 = "tên,Hà Nam\n".encode("latin-1")
    body = assert_problem(
        await client.post("/csv", content=latin1, headers={"content-type": "text/csv"}),
        422, field="body")
    assert body["errors"] == [{"field": "body", "message": "must be UTF-8"}]


@pytest.mark.parametrize(("content_type", "kind"), [
    ("text/csv", CSV_TYPE), ("Text/CSV; charset=utf-8", CSV_TYPE), (XLSX_TYPE, XLSX_TYPE),
    (XLSX_TYPE.upper(), XLSX_TYPE)])
async def test_a_sheet_is_csv_or_xlsx_whatever_the_case_of_its_type(
    app: tuple[httpx.AsyncClient, Runs], content_type: str, kind: str
) -> None:
    client, _ = app
    r = await client.post("/sheet", content=b"\x00\x01sheet",
                          headers={"content-type": content_type})
    assert ok(r, 200) == {"media_type": kind, "size": 7}


@pytest.mark.parametrize("content_type", [None, "application/pdf", "application/vnd.ms-excel"])
async def test_a_sheet_of_another_type_is_unsupported(
    app: tuple[httpx.AsyncClient, Runs], content_type: str | None
) -> None:
    client, _ = app
    headers = {"content-type": content_type} if content_type else {}
    assert_problem(await client.post("/sheet", content=b"x", headers=headers), 415,
                   type="unsupported_media_type")


async def test_a_nul_in_the_path_is_refused_before_it_reaches_the_database(
    stack: TestStack, app: tuple[httpx.AsyncClient, Runs]
) -> None:
    client, caller = app[0], _caller(stack)
    assert ok(await client.get("/notes/echo/a%20b", headers=caller), 200) == {"text": "a b"}
    body = assert_problem(await client.get("/notes/echo/a%00b", headers=caller), 422,
                          field="path", type="validation_error")
    assert body["errors"] == [{"field": "path", "message": "must not contain the NUL character"}]


async def test_a_nul_in_the_path_is_refused_even_when_only_the_decoded_path_has_it() -> None:
    """A server that gives no raw path (or an already decoded one): the decoded path decides."""
    sent: list[Message] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not see the request")

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "GET", "path": "/notes/a\x00b", "raw_path": None,
             "query_string": b"", "headers": []}
    await BodyLimit(inner, 1024)(scope, receive, send)
    assert sent[0]["status"] == 422
    assert b'"field":"path"' in sent[1]["body"].replace(b" ", b"")


@pytest.mark.parametrize("service", ["registration", "indicators", "awards", "reporting"])
def test_the_openapi_documents_say_errors_are_problem_json_and_metrics_text(
        service: str) -> None:
    """A client generated from a document expects the content types the service sends."""
    from importlib import import_module

    from pydantic import SecretStr

    api = import_module(f"services.{service}.api")
    settings_module = import_module(f"services.{service}.settings")
    settings_class = next(v for k, v in vars(settings_module).items()
                          if k.endswith("Settings") and k != "ServiceSettings")
    app = api.build_app(settings_class(pg_password=SecretStr("x")))
    document = app.openapi()
    errors = [(path, method, status, set(response.get("content", {})))
              for path, operations in document["paths"].items()
              for method, operation in operations.items()
              for status, response in operation["responses"].items()
              if status[:1] in "45" and path != "/health"]  # its 503 is the Health body
    assert errors and all(types == {"application/problem+json"} for *_, types in errors), [
        e for e in errors if e[3] != {"application/problem+json"}]
    schemas = {response["content"]["application/problem+json"]["schema"]["$ref"]
               for path, operations in document["paths"].items()
               for operation in operations.values()
               for status, response in operation["responses"].items()
               if status[:1] in "45" and path != "/health"}
    assert schemas == {"#/components/schemas/Problem"}
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert set(metrics) == {"text/plain"}
    # short, stable, unique operation ids for generated clients
    ids = [operation["operationId"] for operations in document["paths"].values()
           for operation in operations.values()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(rf"{service}\.[a-z][a-z0-9_]*", i) for i in ids), ids
    assert f"{service}.metrics" in ids
