"""The demo data (Quảng Bình: 8 districts, 159 communes, the SYNTHETIC reports 2016–2020)
loaded through the services' HTTP APIs, for the documents and exports benches: the units by the
registration import, the reports by the indicators import within a data migration."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import httpx
from harness import REPO, say
from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

from services.indicators import demo

UNITS = REPO / "services" / "registration" / "data" / "quang_binh_units_2020.csv"
SERVICES = ("registration", "indicators", "reporting")


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
