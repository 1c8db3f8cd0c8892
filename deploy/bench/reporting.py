"""`make bench`, reporting: how fresh the summaries are under a steady stream of reports, and how
fast the views are rebuilt from the topics, on the demo data (Quảng Bình: 8 districts, 159
communes, the SYNTHETIC reports 2016–2020).

Registration, indicators and reporting run as their own processes (uvicorn, as `make run` starts
them) on databases of their own (created for the run, dropped afterwards) and a topic namespace
of the run. Freshness is measured from the moment the HTTP response to a submission arrives to
the moment the corrected figures are visible in the reporting views (polled every 5 ms, so a
figure carries up to 5 ms of that polling).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import REPO, running, say

from services.indicators import demo

UNITS = REPO / "services" / "registration" / "data" / "quang_binh_units_2020.csv"
SERVICES = ("registration", "indicators", "reporting")
RATES = (20, 50)  # reports per second of the steady streams
SECONDS = 15  # each stream lasts this long
REBUILDS = 3


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def load(urls: dict[str, str], token: str, indicators_dsn: str
               ) -> tuple[str, dict[str, str], list[Any]]:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=300) as client:
        r = await client.post(f"{urls['registration']}/v1/units/import",
                              params={"valid_from": "2016-01-01"}, content=UNITS.read_bytes(),
                              headers={"content-type": "text/csv"})
        r.raise_for_status()
        ids: dict[str, str] = r.json()["unit_ids_by_code"]
        r = await client.post(f"{urls['indicators']}/v1/campaigns", json={
            "code": "bench", "name": "Chung tay vì người nghèo (bench)",
            "first_year": demo.BASELINE, "last_year": 2020})
        r.raise_for_status()
        campaign = r.json()["campaign_id"]
        conn = await asyncpg.connect(indicators_dsn)
        try:  # the indicators service takes reports of the units it holds (from the events)
            async for attempt in AsyncRetrying(wait=wait_fixed(0.5),
                                               stop=stop_after_delay(120), reraise=True):
                with attempt:
                    assert await conn.fetchval("SELECT count(*) FROM units") >= len(ids)
        finally:
            await conn.close()
        data = demo.generate(demo.communes_from_csv(UNITS.read_text(encoding="utf-8")))
        r = await client.post(f"{urls['indicators']}/v1/data-migrations",
                              json={"reference": "bench", "reason": demo.SYNTHETIC_NOTE})
        r.raise_for_status()
        r = await client.post(f"{urls['indicators']}/v1/campaigns/{campaign}/reports/import",
                              params={"submit": "true", "migration_id": r.json()["migration_id"]},
                              content=demo.import_csv(data.reports),
                              headers={"content-type": "text/csv"})
        r.raise_for_status()
        started = time.perf_counter()
        await caught_up(client, urls["reporting"])
        say(f"demo loaded: {len(data.reports)} reports; the views caught up "
            f"{time.perf_counter() - started:.1f} s after the import's response")
        return campaign, ids, data.reports


async def caught_up(client: httpx.AsyncClient, reporting: str) -> None:
    async for attempt in AsyncRetrying(wait=wait_fixed(0.2), stop=stop_after_delay(600),
                                       reraise=True):
        with attempt:
            fresh = (await client.get(f"{reporting}/v1/freshness")).json()
            assert all(t["lag"] == 0 for t in fresh["topics"]), fresh


async def stream(urls: dict[str, str], token: str, dsn: str, campaign: str,
                 ids: dict[str, str], reports: list[Any], rate: int) -> list[float]:
    """Corrections of 2020 reports at ``rate`` a second; each one's freshness in seconds."""
    rng = random.Random(rate)
    mine = [r for r in reports if r.year == 2020]
    answered: dict[tuple[str, int], float] = {}
    seen: dict[tuple[str, int], float] = {}
    done = asyncio.Event()

    async def watch() -> None:
        conn = await asyncpg.connect(dsn, server_settings={"search_path": "views, public"})
        try:
            while not done.is_set() or len(seen) < len(answered):
                rows = await conn.fetch("SELECT unit_id::text AS u, version FROM facts"
                                        " WHERE year = 2020 AND campaign_id = $1",
                                        uuid.UUID(campaign))
                now = time.perf_counter()
                for r in rows:
                    key = (r["u"], r["version"])
                    if key in answered and key not in seen:
                        seen[key] = now
                await asyncio.sleep(0.005)
        finally:
            await conn.close()

    async def submit(client: httpx.AsyncClient, report: Any) -> None:
        unit = ids[report.unit_code]
        values = dict(report.values)
        values["poor_households"] = max(0, values["poor_households"] + rng.randint(-3, 3))
        r = await client.post(
            f"{urls['indicators']}/v1/campaigns/{campaign}/reports/{unit}/2020/submit",
            json={"values": values})
        r.raise_for_status()
        answered[(unit, r.json()["version"])] = time.perf_counter()

    watcher = asyncio.create_task(watch())
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {token}"},
                                 timeout=30) as client:
        tasks = []
        started = time.perf_counter()
        for i in range(rate * SECONDS):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(submit(client, rng.choice(mine))))
        await asyncio.gather(*tasks)
    done.set()
    await asyncio.wait_for(watcher, 120)
    return [seen[k] - answered[k] for k in answered]


def rebuild(env: dict[str, str]) -> tuple[float, float, int]:
    out = subprocess.run([sys.executable, "-m", "services.reporting", "rebuild"], cwd=REPO,
                         env=env, capture_output=True, text=True, check=True).stdout
    # "rebuilt the views from N events (M applied) in S s: R events/s"
    words = out.split()
    events = int(words[4])
    seconds = float(words[words.index("in") + 1])
    return seconds, events / seconds, events


async def main() -> None:
    async with running(SERVICES, 18700, "reporting") as run:
        campaign, ids, reports = await load(run.urls, run.token, run.dsn("indicators"))
        runs = [await asyncio.to_thread(rebuild, run.service_env("reporting"))
                for _ in range(REBUILDS)]
        seconds = statistics.median(r[0] for r in runs)
        say(f"rebuild of the views from {runs[0][2]} events: median {seconds:.2f} s, "
            f"{statistics.median(r[1] for r in runs):,.0f} events/s "
            f"(runs: {', '.join(f'{r[0]:.2f} s' for r in runs)})")
        for rate in RATES:
            lags = await stream(run.urls, run.token, run.dsn("reporting"), campaign, ids,
                                reports, rate)
            say(f"freshness at {rate} reports/s for {SECONDS} s ({len(lags)} reports): "
                f"p50 {quantile(lags, 0.5) * 1000:.0f} ms, p99 {quantile(lags, 0.99) * 1000:.0f}"
                f" ms, max {max(lags) * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
