"""Kafka stopped during writes: the writes succeed, and the events arrive after it is back."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

from chungtay_common.auth import Role
from tests.conftest import TestStack
from tests.harness import ServiceProcess, stack_command
from tests.support import find, metric

pytestmark = pytest.mark.e2e


async def test_writes_succeed_while_kafka_is_down_and_events_arrive_after(
    stack: TestStack, registration_proc: ServiceProcess, reporting_proc: ServiceProcess,
    unique_code: Callable[[], str],
) -> None:
    token = stack.token(Role.ADMIN)
    await stack_command("kafka-stop")
    try:
        created = []
        async with registration_proc.client(token) as client:
            for _ in range(5):
                r = await client.post("/v1/units", json={
                    "kind": "province", "subkind": "tinh", "code": unique_code(),
                    "name": f"Tỉnh Mất Kết Nối {uuid.uuid4().hex[:6]}",
                    "valid_from": "2017-01-01"})
                assert r.status_code == 201, r.text
                created.append(r.json()["unit_id"])
            async for attempt in AsyncRetrying(wait=wait_fixed(0.2), stop=stop_after_delay(10),
                                               reraise=True):
                with attempt:
                    assert await metric(client, "chungtay_outbox_backlog") >= 5
    finally:
        await stack_command("kafka-start")
    async for attempt in AsyncRetrying(wait=wait_fixed(0.5), stop=stop_after_delay(90),
                                       reraise=True):
        with attempt:
            async with reporting_proc.client(token) as client:
                r = await client.get("/v1/units/tree", params={"as_of": "2018-01-01"})
            tree = r.json()
            assert all(find(tree, unit_id) is not None for unit_id in created)
    async with registration_proc.client() as client:
        async for attempt in AsyncRetrying(wait=wait_fixed(0.2), stop=stop_after_delay(10),
                                           reraise=True):
            with attempt:
                assert await metric(client, "chungtay_outbox_backlog") == 0
