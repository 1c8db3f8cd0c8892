"""`make bench`, exports: how long each CSV and XLSX export takes on the demo data (Quảng Bình:
8 districts, 159 communes, the SYNTHETIC reports 2016–2020; per commune one collective's
dossier drafted and one person's approved), over HTTP: the use case in the request's
transaction plus writing the file off the event loop.

Registration, indicators, reporting and awards run as their own processes (uvicorn), on
databases and a topic namespace of the run, loaded as deploy/bench/reporting.py loads them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import reporting as bench  # noqa: E402
from tenacity import AsyncRetrying, stop_after_delay, wait_fixed  # noqa: E402

from chungtay_common.db import drop_database, ensure_database  # noqa: E402
from chungtay_common.settings import ServiceSettings  # noqa: E402
from chungtay_common.stack import ensure_topics, stack_env, wait_for_kafka, wait_for_postgres  # noqa: E402
from chungtay_common.tokens import keygen, mint  # noqa: E402

RUNS = 5  # requests per export and format, one after the other
SERVICES = (*bench.SERVICES, "awards")
PORT = 18790
YEAR = 2017  # the awards demo's year (the real targets)


async def timed(client: httpx.AsyncClient, url: str, params: dict[str, str]
                ) -> tuple[float, int]:
    started = time.perf_counter()
    r = await client.get(url, params=params)
    r.raise_for_status()
    return time.perf_counter() - started, len(r.content)


async def measure(client: httpx.AsyncClient, name: str, url: str, params: dict[str, str]
                  ) -> None:
    for fmt in ("xlsx", "csv"):
        await timed(client, url.format(fmt=fmt), params)  # warm up (imports)
        runs = [await timed(client, url.format(fmt=fmt), params) for _ in range(RUNS)]
        seconds = [r[0] for r in runs]
        bench.say(f"{name} .{fmt}: median {statistics.median(seconds) * 1000:.0f} ms, max "
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
    env = stack_env(os.environ)
    os.environ.update(env)
    namespace = f"bench{uuid.uuid4().hex[:6]}"
    settings = ServiceSettings(topic_namespace=namespace)
    await wait_for_postgres(settings)
    await wait_for_kafka(settings)
    admin = settings.dsn("postgres")
    for s in SERVICES:
        await ensure_database(admin, f"{namespace}_{s}")
    await ensure_topics(settings, namespace)
    private, _ = keygen()
    key = private.read_bytes()
    token = mint(key, subject="bench", roles=["admin"], unit_id=None)
    procs: dict[str, asyncio.subprocess.Process] = {}
    urls: dict[str, str] = {}
    bench.LOGS.mkdir(parents=True, exist_ok=True)
    try:
        for i, s in enumerate(SERVICES):
            service_env = {**env, "CHUNGTAY_TOPIC_NAMESPACE": namespace,
                           "CHUNGTAY_PG_DATABASE": f"{namespace}_{s}"}
            with (bench.LOGS / f"bench-exports-{s}.log").open("ab") as log:
                procs[s] = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "uvicorn", "--factory", f"services.{s}.api:main",
                    "--host", "127.0.0.1", "--port", str(PORT + i), "--no-access-log",
                    cwd=REPO, env=service_env, stdout=log, stderr=log)
            urls[s] = f"http://127.0.0.1:{PORT + i}"
        for s in SERVICES:
            await bench.healthy(urls[s], procs[s])
        campaign, ids, _ = await bench.load(urls, token, settings.model_copy(
            update={"pg_database": f"{namespace}_indicators"}).dsn())
        IDS.update(ids)
        started = time.perf_counter()
        async for attempt in AsyncRetrying(wait=wait_fixed(0.5), stop=stop_after_delay(300),
                                           reraise=True):  # the awards service holds the units
            with attempt:
                async with httpx.AsyncClient(timeout=60) as client:
                    r = await client.get(f"{urls['awards']}/v1/nominations",
                                         headers={"authorization": f"Bearer {token}"},
                                         params={"unit_id": ids["44"], "limit": "1"})
                    assert r.status_code == 200, r.text
        made, approved = await dossiers(urls["awards"], key)
        bench.say(f"{made} dossiers, {approved} of them approved, in "
                  f"{time.perf_counter() - started:.0f} s")
        base = {"campaign_id": campaign, "year": "2020"}
        reporting = urls["reporting"] + "/v1/exports/"
        async with httpx.AsyncClient(headers={"authorization": f"Bearer {token}"},
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
            await measure(client, f"nominations {YEAR} (board, audited)", urls["awards"]
                          + "/v1/exports/nominations.{fmt}", {"year": str(YEAR)})
        async with httpx.AsyncClient(timeout=300) as public:
            await measure(public, f"public awards {YEAR} (no token)", urls["awards"]
                          + "/v1/exports/awards.{fmt}", {"year": str(YEAR)})
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            await asyncio.wait_for(p.wait(), 30)
        for s in SERVICES:
            await drop_database(admin, f"{namespace}_{s}")
        await bench.drop_topics(settings, namespace)
        bench.say(f"machine: {os.cpu_count()} cores")


if __name__ == "__main__":
    asyncio.run(main())
