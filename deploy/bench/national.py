"""The national data set loaded through the services' HTTP APIs, as a province would: the units
by the registration import (one file per province: the import takes up to 5,000 rows), then the
five years of commune reports by the indicators import within a data migration (the historical
submission times back-filled), one file per province. Each step is timed: the load is itself a
measurement of the import paths and of the consumers that follow them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
import events
import httpx
from aiokafka import AIOKafkaProducer
from dataset import YEARS, Country, units_csv
from harness import Run, prepared, say, serve
from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

SERVICES = ("registration", "indicators", "reporting")
PORT = 18760
VALID_FROM = "2016-01-01"
HISTORY = YEARS[:-1]  # the years loaded before the scenarios run (2020 is theirs)
YEAR = YEARS[-1]


@dataclass
class National:
    """A run with the national data set loaded; ``timings`` of each loading step, seconds."""

    run: Run
    country: Country
    ids: dict[str, str]  # unit id by code
    campaign: str
    timings: dict[str, float] = field(default_factory=dict)

    def client(self, timeout: float = 300) -> httpx.AsyncClient:
        return httpx.AsyncClient(headers={"authorization": f"Bearer {self.run.token}"},
                                 timeout=timeout)


async def _units(client: httpx.AsyncClient, run: Run, country: Country) -> dict[str, str]:
    ids: dict[str, str] = {}
    for p in country.provinces:
        r = await client.post(f"{run.urls['registration']}/v1/units/import",
                              params={"valid_from": VALID_FROM}, content=units_csv(p),
                              headers={"content-type": "text/csv"})
        r.raise_for_status()
        ids.update(r.json()["unit_ids_by_code"])
    return ids


async def wait_for_units(run: Run, count: int) -> None:
    """The indicators service takes reports of the units it holds (from the events)."""
    conn = await asyncpg.connect(run.dsn("indicators"))
    try:
        async for attempt in AsyncRetrying(wait=wait_fixed(0.5), stop=stop_after_delay(1800),
                                           reraise=True):
            with attempt:
                assert await conn.fetchval("SELECT count(*) FROM units") >= count
    finally:
        await conn.close()


async def caught_up(client: httpx.AsyncClient, run: Run, timeout: float = 1800) -> None:
    """The reporting views have applied everything on their topics."""
    async for attempt in AsyncRetrying(wait=wait_fixed(0.5), stop=stop_after_delay(timeout),
                                       reraise=True):
        with attempt:
            fresh = (await client.get(f"{run.urls['reporting']}/v1/freshness")).json()
            assert all(t["lag"] == 0 for t in fresh["topics"]), fresh


async def settled(client: httpx.AsyncClient, run: Run, timeout: float = 1800) -> None:
    """Nothing left to do after the last write: the indicators outbox all published, then
    the reporting views caught up with it (``caught_up``)."""
    conn = await asyncpg.connect(run.dsn("indicators"))
    try:
        async for attempt in AsyncRetrying(wait=wait_fixed(0.05), stop=stop_after_delay(timeout),
                                           reraise=True):
            with attempt:
                assert not await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL")
    finally:
        await conn.close()
    await caught_up(client, run, timeout)


async def new_campaign(client: httpx.AsyncClient, run: Run, code: str,
                       years: Sequence[int] = YEARS) -> str:
    r = await client.post(f"{run.urls['indicators']}/v1/campaigns", json={
        "code": code, "name": f"Chung tay vì người nghèo ({code})",
        "first_year": years[0], "last_year": years[-1], "participating_kinds": ["commune"]})
    r.raise_for_status()
    campaign: str = r.json()["campaign_id"]
    return campaign


async def import_file(client: httpx.AsyncClient, run: Run, campaign: str, body: bytes,
                      migration: str | None = None) -> tuple[int, int, float]:
    """Reports and values imported (submitted) from ``body``, and the seconds it took."""
    params = {"submit": "true", **({"migration_id": migration} if migration else {})}
    started = time.perf_counter()
    r = await client.post(f"{run.urls['indicators']}/v1/campaigns/{campaign}/reports/import",
                          params=params, content=body,
                          headers={"content-type": "text/csv",
                                   "idempotency-key": uuid.uuid4().hex})
    seconds = time.perf_counter() - started
    r.raise_for_status()
    return r.json()["reports"], r.json()["values"], seconds


async def _step(timings: dict[str, float], name: str, started: float) -> float:
    now = time.perf_counter()
    timings[name] = now - started
    say(f"  load: {name} {timings[name]:.1f} s")
    return now


async def _history(run: Run, country: Country, ids: dict[str, str], campaign: str,
                   years: Sequence[int]) -> int:
    """The commune reports of ``years`` put on the indicators topic as the service publishes
    them (a ``report.submitted`` each), for the campaign and units the services hold."""
    producer = AIOKafkaProducer(bootstrap_servers=run.settings.kafka_bootstrap, acks=1,
                                linger_ms=50, max_batch_size=512 * 1024,
                                **run.settings.kafka_security())
    await producer.start()
    n = 0
    try:
        pending = []
        for p in country.provinces:
            for report in country.reports(p, years):
                topic, key, event_type, value = events.submission(
                    run.namespace, uuid.UUID(campaign), uuid.UUID(ids[report.unit_code]),
                    report, 1)
                pending.append(await producer.send(
                    topic, value=value, key=key.encode(),
                    headers=[("event_type", event_type.encode())]))
                n += 1
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return n


@asynccontextmanager
async def loaded(country: Country) -> AsyncIterator[National]:
    """A run of the three services with ``country`` loaded, the reporting views caught up.

    The units go through the registration import (HTTP) and the campaign through the
    indicators API; the reports of 2016-2019 are put on the indicators topic as events
    (loading them through the indicators import and the live reporting consumer takes far
    longer than a bench run: see the report of issue 12), and the reporting service starts
    after them, so its start-up rebuild builds the views; 2020 is left to the scenarios."""
    async with prepared((*SERVICES, "bare")) as run, serve(run, SERVICES[:2], PORT, "national"):
        timings: dict[str, float] = {}
        async with httpx.AsyncClient(headers={"authorization": f"Bearer {run.token}"},
                                     timeout=600) as client:
            t = time.perf_counter()
            ids = await _units(client, run, country)
            t = await _step(timings, f"registration import of {len(ids):,} units "
                            f"({len(country.provinces)} files)", t)
            await wait_for_units(run, len(ids))
            t = await _step(timings, "indicators consumer has the units", t)
            campaign = await new_campaign(client, run, "bench-national")
            n = await _history(run, country, ids, campaign, HISTORY)
            t = await _step(timings, f"{n:,} reports of {HISTORY[0]}-{HISTORY[-1]} put on the "
                            "indicators topic", t)
            async with serve(run, SERVICES[2:], PORT + 2, "national"):
                t = await _step(timings, "reporting service started (views rebuilt)", t)
                await caught_up(client, run)
                t = await _step(timings, "reporting consumer caught up", t)
                yield National(run, country, ids, campaign, timings)


async def caught_up_quietly(nat: National) -> None:
    """Before a scenario: the reporting consumer has applied what the last one wrote."""
    started = time.perf_counter()
    async with nat.client() as client:
        await caught_up(client, nat.run)
    if (waited := time.perf_counter() - started) > 1:
        say(f"  (waited {waited:.0f} s for the reporting consumer to catch up)")
