"""Faults on real processes, PostgreSQL and Kafka: after each, the reporting views equal the
indicators service's own figures and a recomputation of every rollup (nothing lost, nothing
counted twice). Registration and indicators run in this process, reporting in its own (and a
second reporting process where said); the reporting process killed mid-stream is in
test_crash.py, Kafka stopped during writes in tests/e2e/test_broker_outage.py."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from chungtay_common.topics import topic_name
from tests.conftest import TestStack
from tests.harness import ServiceProcess, stack_command
from tests.reporting.conftest import (
    Reporting,
    consumed_all,
    figures,
    make_campaign,
    make_tree,
    read_topic,
    report,
    services,
)
from tests.reporting.test_views import (
    YEARS,
    assert_matches_indicators,
    assert_rollups_are_recomputable,
)
from tests.support import assert_problem, dead_letters, eventually, metric, ok, produce_raw

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
async def apart(stack: TestStack) -> AsyncIterator[Reporting]:
    async with services(stack, reporting_process=True) as w:
        yield w


async def _exact(w: Reporting, campaign: uuid.UUID, tree: object, seconds: float = 60) -> float:
    """Wait until the views equal the indicators' figures; how long that took. Then the
    rollups are checked against a recomputation."""
    started = time.monotonic()
    async for attempt in eventually(seconds):
        with attempt:
            await assert_matches_indicators(w, campaign, tree)  # type: ignore[arg-type]
    took = time.monotonic() - started
    await assert_rollups_are_recomputable(w)
    return took


def _indicators_dsn(w: Reporting) -> str:
    return w.settings.model_copy(update={"pg_database": f"{w.namespace}_indicators"}).dsn()


async def test_a_relay_killed_between_publishing_and_marking_only_duplicates(
        apart: Reporting) -> None:
    """A relay that dies after Kafka acked a batch and before its UPDATE committed leaves the
    rows unpublished: the next relay publishes them again. That state is made here exactly
    (the batch's rows unmarked after they were published); the duplicates reach the topic and
    the views skip them."""
    w, rng = apart, random.Random(5)
    tree = await make_tree(w)
    campaign = await make_campaign(w, *YEARS)
    for _ in range(30):
        await report(w, campaign, rng.choice(tree.communes), rng.choice(YEARS),
                     values=figures(1000, rng.randint(10, 300)))
    await _exact(w, campaign, tree)
    assert w.process is not None
    async with w.process.client() as client:
        duplicates_before = await metric(client, "chungtay_events_consumed_total",
                                         outcome="duplicate")
    conn = await asyncpg.connect(_indicators_dsn(w))
    try:
        unmarked = await conn.fetch(
            "UPDATE outbox SET published_at = NULL WHERE id IN (SELECT id FROM outbox"
            " WHERE published_at IS NOT NULL AND event_type = 'report.submitted'"
            " ORDER BY id DESC LIMIT 20) RETURNING event_id")
        assert len(unmarked) == 20
        async for attempt in eventually(20):
            with attempt:
                assert await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    finally:
        await conn.close()
    # the topic holds each of those events twice
    on_topic = Counter(json.loads(r.value)["event_id"] for r in await read_topic(w, "indicators")
                       if r.value is not None)
    assert all(on_topic[str(row["event_id"])] == 2 for row in unmarked)
    # more reports after it, then the views: exact, and the 20 seen as duplicates
    for _ in range(10):
        await report(w, campaign, rng.choice(tree.communes), rng.choice(YEARS),
                     values=figures(1000, rng.randint(10, 300)))
    await _exact(w, campaign, tree)
    async with w.process.client() as client:
        assert await metric(client, "chungtay_events_consumed_total",
                            outcome="duplicate") == duplicates_before + 20


async def test_postgres_restarted_requests_fail_fast_and_the_services_recover_by_themselves(
        apart: Reporting) -> None:
    w = apart
    tree = await make_tree(w)
    campaign = await make_campaign(w, *YEARS)
    for unit in tree.communes:
        await report(w, campaign, unit, 2026, values=figures(1000, 200))
    await _exact(w, campaign, tree)
    refused: list[uuid.UUID] = []
    await stack_command("pg-stop")
    try:
        for unit in tree.communes[:3]:
            started = time.monotonic()
            r = await w.indicators.post(
                f"/v1/campaigns/{campaign}/reports/{unit}/2027/submit",
                json={"values": figures(1000, 150)}, headers=w.board)
            assert time.monotonic() - started < 2, "a request waited for the database"
            body = assert_problem(r, 503, type="service_unavailable")
            assert r.headers["retry-after"] == "5" and "Idempotency-Key" in body["detail"]
            refused.append(unit)
        r = await w.registration.get("/health")
        assert r.status_code == 503 and r.json()["checks"]["database"] is False
        async with w.process.client() as client:  # type: ignore[union-attr]
            r = await client.get("/v1/freshness", headers=w.admin)
            assert_problem(r, 503, type="service_unavailable")
    finally:
        await stack_command("pg-start")
    # no restart of anything: the same processes serve again, and write
    async for attempt in eventually(30):
        with attempt:
            assert (await w.indicators.get("/health")).status_code == 200
    for unit in tree.communes[3:]:
        await report(w, campaign, unit, 2027, values=figures(1000, 150))
    took = await _exact(w, campaign, tree)
    log.info("postgres restarted: views exact %.1f s after the first write after it", took)
    # nothing half written: the refused reports are not there, in the source or the views
    for unit in refused:
        r = await w.indicators.get(f"/v1/campaigns/{campaign}/reports/{unit}/2027",
                                   headers=w.admin)
        assert r.status_code == 404 or r.json()["status"] == "missing", r.text
    assert took < 60


async def test_a_poison_message_on_every_topic_is_dead_lettered_and_the_stream_goes_on(
        apart: Reporting) -> None:
    """Not JSON, and an envelope whose payload is not its event type's, on each topic the
    reporting service reads (and the indicators service reads registration's and awards')."""
    w = apart
    marker = uuid.uuid4().hex
    topics = {owner: topic_name(owner, w.namespace)
              for owner in ("registration", "indicators", "awards")}
    wrong = {"registration": "unit.registered", "indicators": "report.submitted",
             "awards": "nomination.approved"}
    messages = []
    for owner, topic in topics.items():
        envelope = {"event_id": str(uuid.uuid4()), "event_type": wrong[owner],
                    "schema_version": 1, "occurred_at": "2026-11-01T00:00:00Z",
                    "producer": owner, "subject_id": marker,
                    "correlation_id": str(uuid.uuid4()), "actor": {"subject": "test"},
                    "payload": {"unit_id": "không phải uuid"}}
        messages += [(topic, b"\xff{not json", marker.encode()),
                     (topic, json.dumps(envelope).encode(), marker.encode())]
    assert w.process is not None
    async with w.process.client() as client:
        before = {t: await metric(client, "chungtay_dead_letters_total", topic=t)
                  for t in topics.values()}
    await produce_raw(w.settings.kafka_bootstrap, *messages)
    # the stream goes on: units and reports after the poison are applied, exactly
    tree = await make_tree(w)
    campaign = await make_campaign(w, *YEARS)
    for unit in tree.communes:
        await report(w, campaign, unit, 2026, values=figures(1000, 120))
    await _exact(w, campaign, tree)
    found = await dead_letters(w.settings.kafka_bootstrap, topic_name("deadletter", w.namespace),
                               marker, expected=10)
    by_consumer = Counter((f["x-dlq-consumer"], f["x-dlq-topic"]) for f in found)
    assert by_consumer == {**{("reporting", t): 2 for t in topics.values()},
                           ("indicators", topics["registration"]): 2,
                           ("indicators", topics["awards"]): 2}, by_consumer
    assert all(f["x-dlq-reason"] and f["x-dlq-reason-class"] for f in found)
    async with w.process.client() as client:
        for topic in topics.values():
            assert await metric(client, "chungtay_dead_letters_total",
                                topic=topic) == before[topic] + 2


async def test_two_reporting_instances_one_killed_the_other_takes_over(
        apart: Reporting) -> None:
    w, rng = apart, random.Random(17)
    assert w.process is not None
    second = ServiceProcess(w.stack, "reporting", extra_env=w.process.extra_env)
    await second.start()
    try:
        tree = await make_tree(w)
        campaign = await make_campaign(w, *YEARS)
        for step in range(40):
            await report(w, campaign, rng.choice(tree.communes), rng.choice(YEARS),
                         values=figures(1000, rng.randint(10, 300)))
            if step == 15:
                await w.process.stop(kill=True)
        first, w.reporting = w.reporting, second.client()  # the views read through the other
        try:
            took = await _exact(w, campaign, tree, seconds=90)
        finally:
            await w.reporting.aclose()
            w.reporting = first
        await consumed_all(w, "indicators")
        log.info("two instances: views exact %.1f s after the last report", took)
    finally:
        await second.stop()
        await w.process.start()


async def test_a_burst_of_10000_reports_with_the_reporting_process_killed_twice(
        apart: Reporting) -> None:
    """Ten unit-years, each submitted and corrected 1,000 times by its own writer, all ten at
    once; the reporting process is killed (SIGKILL) twice during the burst and started again."""
    w = apart
    assert w.process is not None
    tree = await make_tree(w)
    campaign = await make_campaign(w, *YEARS)
    rng = random.Random(10_000)
    sent = 0
    reached = {3000: asyncio.Event(), 6500: asyncio.Event()}  # the kills, after so many

    async def writer(unit: uuid.UUID, year: int, client: httpx.AsyncClient) -> None:
        nonlocal sent
        for _ in range(1000):
            values = figures(1000, rng.randint(10, 300))
            r = await client.post(f"/v1/campaigns/{campaign}/reports/{unit}/{year}/submit",
                                  json={"values": values}, headers=w.board)
            ok(r)
            sent += 1
            if sent in reached:
                reached[sent].set()

    async def killer() -> None:
        for at in sorted(reached):
            await reached[at].wait()
            await w.process.stop(kill=True)  # type: ignore[union-attr]
            await asyncio.sleep(1)
            await w.process.start()  # type: ignore[union-attr]

    started = time.monotonic()
    await asyncio.gather(killer(), *(writer(unit, year, w.indicators)
                                     for unit in tree.communes for year in YEARS))
    assert sent == 10_000
    took = await _exact(w, campaign, tree, seconds=120)
    await consumed_all(w, "indicators")
    log.info("burst: 10,000 reports in %.1f s, views exact %.1f s after the last",
             time.monotonic() - started - took, took)
