"""`make bench`, documents: how long the reporting service takes to generate each Word document
(the yearly report of every year, the mid-term and the final review) on the demo data (Quảng
Bình: 8 districts, 159 communes, the SYNTHETIC reports 2016–2020), over HTTP: the reads in the
request's transaction plus writing the document off the event loop.

Registration, indicators and reporting run as their own processes (uvicorn), on databases and a
topic namespace of the run, loaded as deploy/bench/reporting.py loads them.
"""

from __future__ import annotations

import asyncio
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

from chungtay_common.db import drop_database, ensure_database  # noqa: E402
from chungtay_common.settings import ServiceSettings  # noqa: E402
from chungtay_common.stack import ensure_topics, stack_env, wait_for_kafka, wait_for_postgres  # noqa: E402
from chungtay_common.tokens import keygen, mint  # noqa: E402

RUNS = 5  # requests per document, one after the other
PARALLEL = 4  # then this many yearly reports at once


async def timed(client: httpx.AsyncClient, url: str, params: dict[str, str]
                ) -> tuple[float, int]:
    started = time.perf_counter()
    r = await client.get(url, params=params)
    r.raise_for_status()
    return time.perf_counter() - started, len(r.content)


async def measure(reporting: str, token: str, campaign: str) -> None:
    docs = {f"yearly report {y}": ("yearly-report.docx", {"year": str(y)})
            for y in range(2017, 2021)}
    docs["mid-term review 2016–2017"] = ("mid-term-review.docx", {})
    docs["final review 2016–2020"] = ("final-review.docx", {})
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {token}"},
                                 timeout=300) as client:
        for name, (path, extra) in docs.items():
            url = f"{reporting}/v1/documents/{path}"
            params = {"campaign_id": campaign, **extra}
            await timed(client, url, params)  # warm up (fonts, imports)
            runs = [await timed(client, url, params) for _ in range(RUNS)]
            seconds = [r[0] for r in runs]
            bench.say(f"{name}: median {statistics.median(seconds) * 1000:.0f} ms, max "
                      f"{max(seconds) * 1000:.0f} ms ({RUNS} runs, {runs[0][1] / 1024:.0f} KiB)")
        url = f"{reporting}/v1/documents/yearly-report.docx"
        params = {"campaign_id": campaign, "year": "2020"}
        started = time.perf_counter()
        await asyncio.gather(*(timed(client, url, params) for _ in range(PARALLEL)))
        bench.say(f"{PARALLEL} yearly reports at once: {time.perf_counter() - started:.2f} s "
                  f"in all")


async def main() -> None:
    env = stack_env(os.environ)
    os.environ.update(env)
    namespace = f"bench{uuid.uuid4().hex[:6]}"
    settings = ServiceSettings(topic_namespace=namespace)
    await wait_for_postgres(settings)
    await wait_for_kafka(settings)
    admin = settings.dsn("postgres")
    for s in bench.SERVICES:
        await ensure_database(admin, f"{namespace}_{s}")
    await ensure_topics(settings, namespace)
    private, _ = keygen()
    token = mint(private.read_bytes(), subject="bench", roles=["admin"], unit_id=None)
    procs: dict[str, asyncio.subprocess.Process] = {}
    urls: dict[str, str] = {}
    bench.LOGS.mkdir(parents=True, exist_ok=True)
    try:
        for i, s in enumerate(bench.SERVICES):
            port = 18730 + i
            service_env = {**env, "CHUNGTAY_TOPIC_NAMESPACE": namespace,
                           "CHUNGTAY_PG_DATABASE": f"{namespace}_{s}"}
            with (bench.LOGS / f"bench-documents-{s}.log").open("ab") as log:
                procs[s] = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "uvicorn", "--factory", f"services.{s}.api:main",
                    "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                    cwd=REPO, env=service_env, stdout=log, stderr=log)
            urls[s] = f"http://127.0.0.1:{port}"
        for s in bench.SERVICES:
            await bench.healthy(urls[s], procs[s])
        campaign, _, _ = await bench.load(urls, token, settings.model_copy(
            update={"pg_database": f"{namespace}_indicators"}).dsn())
        await measure(urls["reporting"], token, campaign)
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            await asyncio.wait_for(p.wait(), 30)
        for s in bench.SERVICES:
            await drop_database(admin, f"{namespace}_{s}")
        await bench.drop_topics(settings, namespace)
        bench.say(f"machine: {os.cpu_count()} cores")


if __name__ == "__main__":
    asyncio.run(main())
