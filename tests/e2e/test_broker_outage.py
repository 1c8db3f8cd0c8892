"""Kafka stopped during writes: the writes succeed, and the events arrive after it is back."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.harness import ServiceProcess, stack_command
from tests.support import Json, eventually, find, metric, ok, register_unit

pytestmark = pytest.mark.e2e


async def test_writes_succeed_while_kafka_is_down_and_events_arrive_after(
    registration: httpx.AsyncClient, reporting_proc: ServiceProcess, admin: dict[str, str],
    unique_code: Callable[[], str],
) -> None:
    await stack_command("kafka-stop")
    try:
        created = [(await register_unit(
            registration, admin, kind="province", subkind="tinh", code=unique_code(),
            name=f"Tỉnh Mất Kết Nối {uuid.uuid4().hex[:6]}"))["unit_id"] for _ in range(5)]
        async for attempt in eventually(10):
            with attempt:
                assert await metric(registration, "chungtay_outbox_backlog") >= 5
    finally:
        await stack_command("kafka-start")
    async with reporting_proc.client() as reporting:
        async for attempt in eventually(90):
            with attempt:
                tree: Json = ok(await reporting.get(
                    "/v1/units/tree", params={"as_of": "2018-01-01"}, headers=admin), 200)
                assert all(find(tree, unit_id) is not None for unit_id in created)
    async for attempt in eventually(10):
        with attempt:
            assert await metric(registration, "chungtay_outbox_backlog") == 0
