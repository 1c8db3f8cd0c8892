"""Scenario 5, queries: ``wrk -t2 -c32`` against the reporting service's provincial summary,
central summary and rankings (communes, by reduction, first page) of 2019, with the national
data set loaded, one endpoint at a time, as the board's administrator."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from figures import shown
from harness import say
from loadgen import summary, wrk
from national import HISTORY, National
from options import Options

YEAR = HISTORY[-1]


def endpoints(nat: National) -> dict[str, str]:
    """Each endpoint's path and query, for the first province of the data set."""
    province = nat.ids[nat.country.provinces[0].unit.code]
    common = {"campaign_id": nat.campaign, "year": str(YEAR)}
    return {
        "provincial summary": "/v1/summaries/provincial?"
                              + urlencode({**common, "province_id": province}),
        "central summary": "/v1/summaries/central?"
                           + urlencode({**common, "province_id": province}),
        "rankings": "/v1/rankings?" + urlencode({**common, "level": "commune",
                                                  "by": "reduction", "limit": "100"}),
    }


async def _alone(url: str, token: str, times: int = 3) -> float:
    """The median latency of a request with nothing else running, ms (after one warm-up)."""
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {token}"},
                                 timeout=300) as client:
        (await client.get(url)).raise_for_status()
        took = []
        for _ in range(times):
            started = time.perf_counter()
            (await client.get(url)).raise_for_status()
            took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


async def scenario(opts: Options, nat: National) -> dict[str, Any]:
    url = nat.run.urls["reporting"]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in endpoints(nat).items():
            requests = Path(tmp) / "requests.tsv"
            requests.write_text(f"GET\t{path}\t{nat.run.token}\t\n")
            say(f"  {name}: {path}")
            alone = await _alone(url + path, nat.run.token)
            await wrk(url, requests, 2, opts.connections, True)  # warm up
            rounds = [await wrk(url, requests, opts.seconds, opts.connections, True)
                      for _ in range(opts.rounds)]
            out[name] = summary(rounds)
            out[name].update(path=path, alone_ms=alone)
            say(f"  {name}: alone {alone:.0f} ms; "
                f"{shown(out[name]['requests_per_second'])} req/s, p50 "
                f"{shown(out[name]['p50_ms'], '{:.1f}')} ms, p99 "
                f"{shown(out[name]['p99_ms'], '{:.1f}')} ms")
    return {"endpoints": out, "connections": opts.connections, "seconds": opts.seconds,
            "communes": len(nat.country.communes), "year": YEAR}
