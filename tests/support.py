"""The helpers every test uses, one for each need: waiting for a condition, a bearer header,
a successful response's body, a problem body, registering units, a use case's connection rolled
back after the test, reading metrics, building CSV files."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

from chungtay_common.auth import Principal, Role
from chungtay_common.context import Context
from chungtay_common.db import json_codecs
from chungtay_common.errors import PROBLEM_MEDIA_TYPE
from services.registration.imports import IMPORT_COLUMNS

Json = dict[str, Any]


def eventually(seconds: float = 15) -> AsyncRetrying:
    """Retry the block until its assertions hold, at most ``seconds``:
    ``async for attempt in eventually(): with attempt: assert ...``."""
    return AsyncRetrying(wait=wait_fixed(0.1), stop=stop_after_delay(seconds), reraise=True)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token`` (``stack.token(Role.X, unit=...)``)."""
    return {"authorization": f"Bearer {token}"}


def ok(r: httpx.Response, status: int | None = None) -> Any:
    """The JSON body of a successful response (``status``, or any 2xx); fails with the body."""
    if status is None:
        assert r.is_success, f"{r.status_code}: {r.text}"
    else:
        assert r.status_code == status, f"{r.status_code} (expected {status}): {r.text}"
    return r.json() if r.content else None


def assert_problem(r: httpx.Response, status: int, field: str | None = None,
                   type: str | None = None) -> Json:
    """A problem+json refusal with ``status``, naming ``field`` (when given) in its errors;
    returns the body."""
    assert r.status_code == status, f"{r.status_code} (expected {status}): {r.text}"
    assert r.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), r.headers
    body: Json = r.json()
    assert body["status"] == status and body["type"] and body["detail"], body
    if type is not None:
        assert body["type"] == type, body
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


async def register_unit(client: httpx.AsyncClient, headers: dict[str, str], *, kind: str,
                        subkind: str, name: str, code: str | None,
                        parent: uuid.UUID | str | None = None,
                        valid_from: date | str = "2017-01-01", **fields: Any) -> Json:
    """Register one unit through the registration API; every tree of the tests is built with
    this. Returns the registered unit."""
    body: Json = {"kind": kind, "subkind": subkind, "code": code, "name": name,
                  "valid_from": str(valid_from), **fields}
    if parent is not None:
        body["parent_id"] = str(parent)
    return ok(await client.post("/v1/units", json=body, headers=headers), 201)  # type: ignore[no-any-return]


@asynccontextmanager
async def rolled_back(target: str | asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """A connection (a new one to the DSN ``target``, or ``target`` itself) inside a
    transaction rolled back at the end: a use-case test writes what it likes and leaves nothing
    behind. Reuse one connection per module: a new one prepares every statement again."""
    own = isinstance(target, str)
    conn = await asyncpg.connect(target) if isinstance(target, str) else target
    if own:
        await json_codecs(conn)  # jsonb as the pools read it
    tx = conn.transaction()  # nested in a transaction of ``target``: a savepoint
    await tx.start()
    try:
        yield conn
    finally:
        await tx.rollback()
        if own:
            await conn.close()


def context(*roles: Role, unit: uuid.UUID | None = None, sub: str = "tester",
            producer: str = "test", topic: str = "test.events") -> Context:
    """A use case's context for a caller with ``roles`` (scoped to ``unit``)."""
    return Context(principal=Principal(subject=sub, roles=frozenset(roles), unit_id=unit),
                   producer=producer, topic=topic, correlation_id=uuid.uuid4())


async def metric(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` (with the given labels) on the service's /metrics."""
    text = (await client.get("/metrics")).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in labels.items()):
                total += sample.value
    return total


def walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from walk(node["children"])


def find(tree: dict[str, Any], unit_id: str) -> dict[str, Any] | None:
    return next((n for n in walk(tree["roots"]) if n["unit_id"] == unit_id), None)


def units_csv(province_code: str, districts: int, communes_per_district: int,
              code: Iterator[str]) -> tuple[str, int]:
    """A file in the national list's format with fresh codes; returns it and its unit count."""
    tag = uuid.uuid4().hex[:6]
    lines = [",".join(IMPORT_COLUMNS)]
    for d in range(districts):
        district_code = next(code)
        for c in range(communes_per_district):
            lines.append(",".join([
                province_code, f"Tỉnh Thử {tag}", district_code, f"Huyện Thử {tag} {d}",
                next(code), f"Xã Thử {tag} {d}-{c}", "xa",
            ]))
    return "\n".join(lines) + "\n", 1 + districts + districts * communes_per_district


async def produce_raw(bootstrap: str, *messages: tuple[str, bytes, bytes]) -> None:
    """Put (topic, value, key) messages on Kafka as they are, as a relay or a stranger would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for topic, value, key in messages:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def dead_letters(bootstrap: str, topic: str, marker: str, expected: int,
                       consumer: str | None = None, seconds: float = 30
                       ) -> list[dict[str, str]]:
    """The messages keyed ``marker`` on the dead-letter ``topic`` (of one ``consumer``, or of
    any), their headers and value, once ``expected`` are there (what there is after
    ``seconds``)."""
    reader = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                              auto_offset_reset="earliest", enable_auto_commit=False)
    await reader.start()
    found: list[dict[str, str]] = []
    try:
        async for attempt in eventually(seconds):
            with attempt:
                for records in (await reader.getmany(timeout_ms=500)).values():
                    found += [{k: v.decode() for k, v in r.headers}
                              | {"value": (r.value or b"").decode(errors="replace")}
                              for r in records if r.key == marker.encode()
                              and consumer in (None, dict(r.headers).get(
                                  "x-dlq-consumer", b"").decode())]
                assert len(found) >= expected, found
    except AssertionError:
        pass  # the caller says what it expected of what there is
    finally:
        await reader.stop()
    return found
