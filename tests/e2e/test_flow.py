"""Through HTTP, Kafka and back, with each service in its own process on the real stack."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

from chungtay_common.auth import Role
from chungtay_common.topics import topic_name
from services.registration.settings import RegistrationSettings
from services.reporting.settings import ReportingSettings
from tests.conftest import TestStack
from tests.harness import ServiceProcess
from tests.support import find, metric, units_csv

pytestmark = pytest.mark.e2e


def eventually(seconds: float = 20) -> AsyncRetrying:
    return AsyncRetrying(wait=wait_fixed(0.2), stop=stop_after_delay(seconds), reraise=True)


async def _tree(reporting: ServiceProcess, token: str, as_of: str) -> dict[str, Any]:
    async with reporting.client(token) as client:
        r = await client.get("/v1/units/tree", params={"as_of": as_of})
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result


async def _register(registration: ServiceProcess, token: str, **body: Any) -> dict[str, Any]:
    async with registration.client(token) as client:
        r = await client.post("/v1/units", json=body)
        assert r.status_code == 201, r.text
        result: dict[str, Any] = r.json()
        return result


def _province(code: str) -> dict[str, Any]:
    return {"kind": "province", "subkind": "tinh", "code": code,
            "name": f"Tỉnh E2E {uuid.uuid4().hex[:6]}", "valid_from": "2017-01-01"}


async def test_registered_unit_appears_in_reporting_tree(
    stack: TestStack, registration_proc: ServiceProcess, reporting_proc: ServiceProcess,
    unique_code: Callable[[], str],
) -> None:
    token = stack.token(Role.ADMIN)
    province = await _register(registration_proc, token, **_province(unique_code()))
    district = await _register(
        registration_proc, token, kind="district", subkind="huyen", code=unique_code(),
        name="Huyện Minh Hóa", parent_id=province["unit_id"], valid_from="2017-01-01")
    async for attempt in eventually(10):
        with attempt:
            tree = await _tree(reporting_proc, token, "2018-01-01")
            node = find(tree, province["unit_id"])
            assert node is not None and node["below"] == {"district": 1}
            assert node["children"][0]["unit_id"] == district["unit_id"]
    assert find(await _tree(reporting_proc, token, "2016-12-31"), province["unit_id"]) is None


async def test_redelivered_event_changes_nothing(
    stack: TestStack, registration_proc: ServiceProcess, reporting_proc: ServiceProcess,
    unique_code: Callable[[], str],
) -> None:
    token = stack.token(Role.ADMIN)
    province = await _register(registration_proc, token, **_province(unique_code()))
    async with registration_proc.client(token) as client:
        r = await client.post(f"/v1/units/{province['unit_id']}/rename",
                              json={"name": "Tỉnh Đổi Tên", "effective_date": "2019-01-01"})
        assert r.status_code == 200, r.text
    async for attempt in eventually(10):
        with attempt:
            node = find(await _tree(reporting_proc, token, "2019-06-01"), province["unit_id"])
            assert node is not None and node["name"] == "Tỉnh Đổi Tên"
    async with reporting_proc.client() as client:
        duplicates_before = await metric(client, "chungtay_events_consumed_total",
                                         outcome="duplicate")
    # Deliver both published events again, the older one last, as a relay crash would.
    settings = stack.settings(RegistrationSettings, "registration")
    conn = await asyncpg.connect(settings.dsn())
    try:
        rows = await conn.fetch("SELECT topic, key, body::text AS body FROM outbox"
                                " WHERE key = $1 ORDER BY id", province["unit_id"])
    finally:
        await conn.close()
    assert [json.loads(r["body"])["event_type"] for r in rows] == [
        "unit.registered", "unit.renamed"]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for r in [*rows, rows[0]]:
            await producer.send_and_wait(r["topic"], r["body"].encode(), key=r["key"].encode())
    finally:
        await producer.stop()
    async for attempt in eventually(10):
        with attempt:
            async with reporting_proc.client() as client:
                duplicates = await metric(client, "chungtay_events_consumed_total",
                                          outcome="duplicate")
            assert duplicates == duplicates_before + 3
    node = find(await _tree(reporting_proc, token, "2019-06-01"), province["unit_id"])
    assert node is not None and node["name"] == "Tỉnh Đổi Tên"
    old = find(await _tree(reporting_proc, token, "2018-06-01"), province["unit_id"])
    assert old is not None and old["name"] == province["versions"][0]["name"]


async def test_malformed_messages_go_to_dead_letter_topic_and_the_next_is_processed(
    stack: TestStack, registration_proc: ServiceProcess, reporting_proc: ServiceProcess,
    unique_code: Callable[[], str],
) -> None:
    settings = stack.settings(ReportingSettings, "reporting")
    source = topic_name("registration", stack.namespace)
    dlq = topic_name("deadletter", stack.namespace)
    marker = uuid.uuid4().hex
    bad_payload = {
        "event_id": str(uuid.uuid4()), "event_type": "unit.registered", "schema_version": 1,
        "occurred_at": "2026-01-01T00:00:00Z", "producer": "test", "subject_id": marker,
        "correlation_id": str(uuid.uuid4()), "actor": {"subject": "test"},
        "payload": {"unit_id": "not-a-uuid", "units": []},
    }
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(source, b"{not json", key=marker.encode())
        await producer.send_and_wait(source, json.dumps(bad_payload).encode(),
                                     key=marker.encode())
    finally:
        await producer.stop()
    token = stack.token(Role.ADMIN)
    good = await _register(registration_proc, token, **_province(unique_code()))
    async for attempt in eventually(15):
        with attempt:
            assert find(await _tree(reporting_proc, token, "2020-01-01"), good["unit_id"])

    consumer = AIOKafkaConsumer(dlq, bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None)
    await consumer.start()
    try:
        found: list[dict[str, str]] = []
        async for attempt in eventually(15):
            with attempt:
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    found.extend(
                        {k: v.decode() for k, v in m.headers} | {"value": m.value.decode()}
                        for m in messages if m.key == marker.encode()
                        # every consumer of the topic dead-letters them: look at reporting's
                        and dict(m.headers).get("x-dlq-consumer") == b"reporting"
                    )
                assert len(found) == 2
    finally:
        await consumer.stop()
    assert found[0]["value"] == "{not json"
    assert found[0]["x-dlq-reason"].startswith("envelope:")
    assert "payload of unit.registered" in found[1]["x-dlq-reason"]
    assert {f["x-dlq-topic"] for f in found} == {source}
    assert {f["x-dlq-consumer"] for f in found} == {"reporting"}
    async with reporting_proc.client() as client:
        assert await metric(client, "chungtay_dead_letters_total", topic=source) >= 2


async def test_merge_gives_old_tree_before_and_new_tree_from_its_date(
    stack: TestStack, registration_proc: ServiceProcess, reporting_proc: ServiceProcess,
    unique_code: Callable[[], str],
) -> None:
    token = stack.token(Role.ADMIN)
    province = await _register(registration_proc, token, **_province(unique_code()))
    district = await _register(
        registration_proc, token, kind="district", subkind="huyen", code=unique_code(),
        name="Huyện Lệ Thủy", parent_id=province["unit_id"], valid_from="2017-01-01")
    a, b = [await _register(
        registration_proc, token, kind="commune", subkind="xa", code=unique_code(),
        name=name, parent_id=district["unit_id"], valid_from="2017-01-01")
        for name in ("Xã Hồng Thủy", "Xã Ngư Thủy")]
    village = await _register(
        registration_proc, token, kind="village", subkind="thon", name="Thôn Bắc",
        parent_id=a["unit_id"], valid_from="2017-01-01")
    async with registration_proc.client(token) as client:
        r = await client.post("/v1/units/merge", json={
            "predecessor_ids": [a["unit_id"], b["unit_id"]], "effective_date": "2025-07-01",
            "successor": {"kind": "commune", "subkind": "xa", "code": unique_code(),
                          "name": "Xã Lệ Ninh", "parent_id": district["unit_id"]}})
        assert r.status_code == 200, r.text
    successor = next(u for u in r.json()["units"] if u["versions"][0]["name"] == "Xã Lệ Ninh")

    def names(node: dict[str, Any] | None) -> set[str]:
        assert node is not None
        return {c["name"] for c in node["children"]}

    async for attempt in eventually(10):
        with attempt:
            before = find(await _tree(reporting_proc, token, "2025-06-30"), district["unit_id"])
            after = find(await _tree(reporting_proc, token, "2025-07-01"), district["unit_id"])
            assert names(before) == {"Xã Hồng Thủy", "Xã Ngư Thủy"}
            assert names(after) == {"Xã Lệ Ninh"}
            assert after is not None and after["below"] == {"commune": 1, "village": 1}
    new = find(await _tree(reporting_proc, token, "2025-07-01"), successor["unit_id"])
    assert new is not None and [c["unit_id"] for c in new["children"]] == [village["unit_id"]]
    old = find(await _tree(reporting_proc, token, "2025-06-30"), a["unit_id"])
    assert old is not None and [c["unit_id"] for c in old["children"]] == [village["unit_id"]]


async def test_reporting_killed_mid_stream_loses_nothing(
    stack: TestStack, registration_proc: ServiceProcess, reporting_proc: ServiceProcess,
    unique_code: Callable[[], str],
) -> None:
    token = stack.token(Role.ADMIN)
    await reporting_proc.stop()  # the events pile up while it is down
    codes = iter(unique_code, None)
    province_code = next(codes)
    text, total = units_csv(province_code, districts=6, communes_per_district=100, code=codes)
    async with registration_proc.client(token) as client:
        r = await client.post("/v1/units/import", params={"valid_from": "2017-01-01"},
                              content=text.encode(), headers={"content-type": "text/csv"})
        assert r.status_code == 200, r.text
        province_id = r.json()["unit_ids_by_code"][province_code]
        async for attempt in eventually(20):
            with attempt:
                assert await metric(client, "chungtay_outbox_backlog") == 0
    await reporting_proc.start()
    async with reporting_proc.client() as client:
        async for attempt in AsyncRetrying(wait=wait_fixed(0.02), stop=stop_after_delay(30),
                                           reraise=True):
            with attempt:
                applied_at_kill = await metric(
                    client, "chungtay_events_consumed_total", outcome="applied")
                assert applied_at_kill >= 20
    await reporting_proc.stop(kill=True)
    assert applied_at_kill < total, "the consumer finished before it could be killed"
    await reporting_proc.start()
    async for attempt in eventually(60):
        with attempt:
            node = find(await _tree(reporting_proc, token, "2018-01-01"), province_id)
            assert node is not None
            assert node["below"] == {"district": 6, "commune": 600}
