"""Through HTTP, Kafka and back, with each service in its own process on the real stack."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from chungtay_common.settings import ServiceSettings
from chungtay_common.topics import topic_name
from services.registration.settings import RegistrationSettings
from services.reporting.settings import ReportingSettings
from tests.conftest import TestStack
from tests.harness import ServiceProcess
from tests.support import (
    Json,
    dead_letters,
    eventually,
    find,
    metric,
    ok,
    produce_raw,
    register_unit,
    units_csv,
)

pytestmark = pytest.mark.e2e


async def _tree(reporting: ServiceProcess, admin: dict[str, str], as_of: str) -> Json:
    """The unit tree as the reporting service sees it on ``as_of``."""
    async with reporting.client() as client:
        tree: Json = ok(await client.get("/v1/units/tree", params={"as_of": as_of},
                                         headers=admin), 200)
        return tree


async def _province(registration: httpx.AsyncClient, admin: dict[str, str], code: str) -> Json:
    return await register_unit(registration, admin, kind="province", subkind="tinh", code=code,
                               name=f"Tỉnh E2E {uuid.uuid4().hex[:6]}")


async def _district(registration: httpx.AsyncClient, admin: dict[str, str],
                    code: Callable[[], str], name: str) -> tuple[Json, Json]:
    """A district in a province of its own; returns both."""
    province = await _province(registration, admin, code())
    district = await register_unit(registration, admin, kind="district", subkind="huyen",
                                   code=code(), name=name, parent=province["unit_id"])
    return province, district


async def _outbox_rows(settings: ServiceSettings, key: str) -> list[asyncpg.Record]:
    """What registration published about ``key``, in order."""
    conn = await asyncpg.connect(settings.dsn())
    try:
        return await conn.fetch("SELECT topic, key, body::text AS body FROM outbox"
                                " WHERE key = $1 ORDER BY id", key)
    finally:
        await conn.close()


async def test_registered_unit_appears_in_reporting_tree(
    registration: httpx.AsyncClient, reporting_proc: ServiceProcess, admin: dict[str, str],
    unique_code: Callable[[], str],
) -> None:
    province, district = await _district(registration, admin, unique_code, "Huyện Minh Hóa")
    async for attempt in eventually(10):
        with attempt:
            node = find(await _tree(reporting_proc, admin, "2018-01-01"), province["unit_id"])
            assert node is not None and node["below"] == {"district": 1}
            assert node["children"][0]["unit_id"] == district["unit_id"]
    assert find(await _tree(reporting_proc, admin, "2016-12-31"), province["unit_id"]) is None


async def test_redelivered_event_changes_nothing(
    stack: TestStack, registration: httpx.AsyncClient, reporting_proc: ServiceProcess,
    admin: dict[str, str], unique_code: Callable[[], str],
) -> None:
    province = await _province(registration, admin, unique_code())
    ok(await registration.post(f"/v1/units/{province['unit_id']}/rename", headers=admin,
                               json={"name": "Tỉnh Đổi Tên", "effective_date": "2019-01-01"}),
       200)
    async for attempt in eventually(10):
        with attempt:
            node = find(await _tree(reporting_proc, admin, "2019-06-01"), province["unit_id"])
            assert node is not None and node["name"] == "Tỉnh Đổi Tên"
    async with reporting_proc.client() as client:
        duplicates_before = await metric(client, "chungtay_events_consumed_total",
                                         outcome="duplicate")
    # Deliver both published events again, the older one last, as a relay crash would.
    settings = stack.settings(RegistrationSettings, "registration")
    rows = await _outbox_rows(settings, province["unit_id"])
    assert [json.loads(r["body"])["event_type"] for r in rows] == [
        "unit.registered", "unit.renamed"]
    await produce_raw(settings.kafka_bootstrap,
                      *((r["topic"], r["body"].encode(), r["key"].encode())
                               for r in [*rows, rows[0]]))
    async for attempt in eventually(10):
        with attempt:
            async with reporting_proc.client() as client:
                duplicates = await metric(client, "chungtay_events_consumed_total",
                                          outcome="duplicate")
            assert duplicates == duplicates_before + 3
    node = find(await _tree(reporting_proc, admin, "2019-06-01"), province["unit_id"])
    assert node is not None and node["name"] == "Tỉnh Đổi Tên"
    old = find(await _tree(reporting_proc, admin, "2018-06-01"), province["unit_id"])
    assert old is not None and old["name"] == province["versions"][0]["name"]


async def test_malformed_messages_go_to_dead_letter_topic_and_the_next_is_processed(
    stack: TestStack, registration: httpx.AsyncClient, reporting_proc: ServiceProcess,
    admin: dict[str, str], unique_code: Callable[[], str],
) -> None:
    settings = stack.settings(ReportingSettings, "reporting")
    source = topic_name("registration", stack.namespace)
    marker = uuid.uuid4().hex
    bad_payload = {
        "event_id": str(uuid.uuid4()), "event_type": "unit.registered", "schema_version": 1,
        "occurred_at": "2026-01-01T00:00:00Z", "producer": "test", "subject_id": marker,
        "correlation_id": str(uuid.uuid4()), "actor": {"subject": "test"},
        "payload": {"unit_id": "not-a-uuid", "units": []},
    }
    await produce_raw(settings.kafka_bootstrap, (source, b"{not json", marker.encode()),
                   (source, json.dumps(bad_payload).encode(), marker.encode()))
    good = await _province(registration, admin, unique_code())
    async for attempt in eventually(15):
        with attempt:
            assert find(await _tree(reporting_proc, admin, "2020-01-01"), good["unit_id"])

    # every consumer of the topic dead-letters them: look at reporting's
    found = await dead_letters(settings.kafka_bootstrap, topic_name("deadletter", stack.namespace),
                               marker, expected=2, consumer="reporting", seconds=15)
    assert len(found) == 2, found
    assert found[0]["value"] == "{not json"
    assert found[0]["x-dlq-reason"].startswith("envelope:")
    assert "payload of unit.registered" in found[1]["x-dlq-reason"]
    assert {f["x-dlq-topic"] for f in found} == {source}
    assert {f["x-dlq-consumer"] for f in found} == {"reporting"}
    async with reporting_proc.client() as client:
        assert await metric(client, "chungtay_dead_letters_total", topic=source) >= 2


def _names(node: dict[str, Any] | None) -> set[str]:
    assert node is not None
    return {c["name"] for c in node["children"]}


async def test_merge_gives_old_tree_before_and_new_tree_from_its_date(
    registration: httpx.AsyncClient, reporting_proc: ServiceProcess, admin: dict[str, str],
    unique_code: Callable[[], str],
) -> None:
    _, district = await _district(registration, admin, unique_code, "Huyện Lệ Thủy")
    a, b = [await register_unit(registration, admin, kind="commune", subkind="xa",
                                code=unique_code(), name=name, parent=district["unit_id"])
            for name in ("Xã Hồng Thủy", "Xã Ngư Thủy")]
    village = await register_unit(registration, admin, kind="village", subkind="thon",
                                  code=None, name="Thôn Bắc", parent=a["unit_id"])
    merged = ok(await registration.post("/v1/units/merge", headers=admin, json={
        "predecessor_ids": [a["unit_id"], b["unit_id"]], "effective_date": "2025-07-01",
        "successor": {"kind": "commune", "subkind": "xa", "code": unique_code(),
                      "name": "Xã Lệ Ninh", "parent_id": district["unit_id"]}}), 200)
    successor = next(u for u in merged["units"] if u["versions"][0]["name"] == "Xã Lệ Ninh")

    async for attempt in eventually(10):
        with attempt:
            before = find(await _tree(reporting_proc, admin, "2025-06-30"), district["unit_id"])
            after = find(await _tree(reporting_proc, admin, "2025-07-01"), district["unit_id"])
            assert _names(before) == {"Xã Hồng Thủy", "Xã Ngư Thủy"}
            assert _names(after) == {"Xã Lệ Ninh"}
            assert after is not None and after["below"] == {"commune": 1, "village": 1}
    new = find(await _tree(reporting_proc, admin, "2025-07-01"), successor["unit_id"])
    assert new is not None and [c["unit_id"] for c in new["children"]] == [village["unit_id"]]
    old = find(await _tree(reporting_proc, admin, "2025-06-30"), a["unit_id"])
    assert old is not None and [c["unit_id"] for c in old["children"]] == [village["unit_id"]]


async def test_reporting_killed_mid_stream_loses_nothing(
    registration: httpx.AsyncClient, reporting_proc: ServiceProcess, admin: dict[str, str],
    unique_code: Callable[[], str],
) -> None:
    await reporting_proc.stop()  # the events pile up while it is down
    codes = iter(unique_code, None)
    province_code = next(codes)
    text, total = units_csv(province_code, districts=6, communes_per_district=100, code=codes)
    imported = ok(await registration.post(
        "/v1/units/import", params={"valid_from": "2017-01-01"}, content=text.encode(),
        headers=admin | {"content-type": "text/csv"}), 200)
    province_id = imported["unit_ids_by_code"][province_code]
    async for attempt in eventually(20):
        with attempt:
            assert await metric(registration, "chungtay_outbox_backlog") == 0
    await reporting_proc.start()
    async with reporting_proc.client() as client:
        async for attempt in eventually(30):
            with attempt:
                applied_at_kill = await metric(
                    client, "chungtay_events_consumed_total", outcome="applied")
                assert applied_at_kill >= 20
    await reporting_proc.stop(kill=True)
    assert applied_at_kill < total, "the consumer finished before it could be killed"
    await reporting_proc.start()
    async for attempt in eventually(60):
        with attempt:
            node = find(await _tree(reporting_proc, admin, "2018-01-01"), province_id)
            assert node is not None
            assert node["below"] == {"district": 6, "commune": 600}
