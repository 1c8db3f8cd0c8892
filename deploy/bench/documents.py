"""`make bench`, documents: how long the reporting service takes to generate each Word document
(the yearly report of every year, the mid-term and the final review) on the demo data (Quảng
Bình: 8 districts, 159 communes, the SYNTHETIC reports 2016–2020), over HTTP: the reads in the
request's transaction plus writing the document off the event loop.

Registration, indicators and reporting run as their own processes (uvicorn), on databases and a
topic namespace of the run, loaded as deploy/bench/demo_load.py loads them.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo_load as bench
from harness import running, say, timed

RUNS = 5  # requests per document, one after the other
PARALLEL = 4  # then this many yearly reports at once


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
            say(f"{name}: median {statistics.median(seconds) * 1000:.0f} ms, max "
                f"{max(seconds) * 1000:.0f} ms ({RUNS} runs, {runs[0][1] / 1024:.0f} KiB)")
        url = f"{reporting}/v1/documents/yearly-report.docx"
        params = {"campaign_id": campaign, "year": "2020"}
        started = time.perf_counter()
        await asyncio.gather(*(timed(client, url, params) for _ in range(PARALLEL)))
        say(f"{PARALLEL} yearly reports at once: {time.perf_counter() - started:.2f} s in all")


async def main() -> None:
    async with running(bench.SERVICES, 18730, "documents") as run:
        campaign, _, _ = await bench.load(run.urls, run.token, run.dsn("indicators"))
        await measure(run.urls["reporting"], run.token, campaign)


if __name__ == "__main__":
    asyncio.run(main())
