"""`make bench`, exports: how long each CSV and XLSX export takes on the demo data (Quảng Bình:
8 districts, 159 communes, the SYNTHETIC reports 2016–2020; per commune one collective's
dossier drafted and one person's approved), over HTTP: the use case in the request's
transaction plus writing the file off the event loop.

Registration, indicators, reporting and awards run as their own processes (uvicorn), on
databases and a topic namespace of the run, loaded as deploy/bench/demo_load.py loads them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo_load as bench
from harness import running, say, timed

from chungtay_common.tokens import mint

RUNS = 5  # requests per export and format, one after the other
SERVICES = (*bench.SERVICES, "awards")
PORT = 18790
YEAR = 2017  # the awards demo's year (the real targets)


async def measure(client: httpx.AsyncClient, name: str, url: str, params: dict[str, str]
                  ) -> None:
    for fmt in ("xlsx", "csv"):
        await timed(client, url.format(fmt=fmt), params)  # warm up (imports)
        runs = [await timed(client, url.format(fmt=fmt), params) for _ in range(RUNS)]
        seconds = [r[0] for r in runs]
        say(f"{name} .{fmt}: median {statistics.median(seconds) * 1000:.0f} ms, max "
                  f"{max(seconds) * 1000:.0f} ms ({RUNS} runs, {runs[0][1] / 1024:.1f} KiB)")


async def dossiers(awards: str, key: bytes) -> tuple[int, int]:
    """Per commune: a collective's Giấy khen drafted, and a person's Lao động tiên tiến taken
    through every step to an approved decision (the public list's rows)."""
    rows = list(csv.DictReader(io.StringIO(bench.UNITS.read_text(encoding="utf-8"))))

    def headers(role: str, unit: str) -> dict[str, str]:
        token = mint(key, subject=f"bench-{role}-{unit}", roles=[role], unit_id=uuid.UUID(unit))
        return {"authorization": f"Bearer {token}"}

    async with httpx.AsyncClient(base_url=awards, timeout=60) as client:
        async def call(role: str, unit: str, path: str, body: dict[str, object]) -> str:
            r = await client.post(path, headers=headers(role, unit), json=body)
            r.raise_for_status()
            return str(r.json()["nomination_id"])

        for row in rows:
            commune, district = IDS[row["commune_code"]], IDS[row["district_code"]]
            await call("reporter", commune, "/v1/nominations", {
                "form_code": "giay_khen_chu_tich_huyen", "year": YEAR,
                "nominee": {"kind": "unit", "unit_id": commune}, "proposing_unit_id": commune,
                "achievements": "Hoàn thành tốt nhiệm vụ giảm nghèo (SYNTHETIC)."})
            n = await call("reporter", commune, "/v1/nominations", {
                "form_code": "lao_dong_tien_tien", "year": YEAR, "proposing_unit_id": commune,
                "nominee": {"kind": "person", "unit_id": commune, "position": "cán bộ",
                            "name": f"Nguyễn Văn {row['commune_code']} (SYNTHETIC)"},
                "achievements": "Hoàn thành xuất sắc nhiệm vụ (SYNTHETIC)."})
            step = f"/v1/nominations/{n}"
            await call("reporter", commune, f"{step}/submit", {})
            await call("council", district, f"{step}/review", {
                "votes_for": 7, "votes_against": 1, "votes_abstain": 1, "members": 9,
                "comment": "Hội đồng nhất trí"})
            await call("board", IDS["44"], f"{step}/appraise", {"comment": "Đủ điều kiện"})
            await call("chairman", district, f"{step}/approve", {
                "number": f"{row['commune_code']}/QĐ-UBND", "signed_on": f"{YEAR + 1}-01-20",
                "signer": "Trần Văn A (SYNTHETIC)"})
    return 2 * len(rows), len(rows)


IDS: dict[str, str] = {}


async def main() -> None:
    async with running(SERVICES, PORT, "exports") as run:
        campaign, ids, _ = await bench.load(run.urls, run.token, run.dsn("indicators"))
        IDS.update(ids)
        started = time.perf_counter()
        async for attempt in AsyncRetrying(wait=wait_fixed(0.5), stop=stop_after_delay(300),
                                           reraise=True):  # the awards service holds the units
            with attempt:
                async with httpx.AsyncClient(timeout=60) as client:
                    r = await client.get(f"{run.urls['awards']}/v1/nominations",
                                         headers={"authorization": f"Bearer {run.token}"},
                                         params={"unit_id": ids["44"], "limit": "1"})
                    assert r.status_code == 200, r.text
        made, approved = await dossiers(run.urls["awards"], run.key)
        say(f"{made} dossiers, {approved} of them approved, in "
            f"{time.perf_counter() - started:.0f} s")
        base = {"campaign_id": campaign, "year": "2020"}
        reporting = run.urls["reporting"] + "/v1/exports/"
        async with httpx.AsyncClient(headers={"authorization": f"Bearer {run.token}"},
                                     timeout=300) as client:
            await measure(client, "provincial summary 2020", reporting
                          + "provincial-summary.{fmt}", base)
            await measure(client, "provincial summary 2020 restated", reporting
                          + "provincial-summary.{fmt}", {**base, "hierarchy": "current"})
            await measure(client, "central summary 2020", reporting + "central-summary.{fmt}",
                          base)
            await measure(client, "compliance 2020 (every unit)", reporting
                          + "compliance.{fmt}", base)
            await measure(client, "rankings 2020 (159 communes)", reporting
                          + "rankings.{fmt}", base)
            await measure(client, "trend 2016–2020 of the province", reporting
                          + f"trends/{ids['44']}" + ".{fmt}", {"campaign_id": campaign})
            await measure(client, f"nominations {YEAR} (board, audited)", run.urls["awards"]
                          + "/v1/exports/nominations.{fmt}", {"year": str(YEAR)})
        async with httpx.AsyncClient(timeout=300) as public:
            await measure(public, f"public awards {YEAR} (no token)", run.urls["awards"]
                          + "/v1/exports/awards.{fmt}", {"year": str(YEAR)})


if __name__ == "__main__":
    asyncio.run(main())
