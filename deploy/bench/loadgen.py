"""wrk, the load generator of the ingest and queries scenarios (Debian's package), driven by
requests.lua over a file of requests; its figures as a dict."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from figures import spread
from harness import BENCH

TIMEOUT_S = 30  # wrk's, per request


async def wrk(url: str, requests: Path, seconds: float, connections: int,
              timeouts_allowed: bool = False) -> dict[str, Any]:
    """One wrk run; its figures (latencies in µs), raising when a response was not 2xx (or
    took longer than 30 s, unless ``timeouts_allowed``: then they are counted)."""
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", "--latency",
        "--timeout", f"{TIMEOUT_S}s", "-s", str(BENCH / "requests.lua"), url, "--",
        str(requests),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    line = next((x for x in out.decode().splitlines() if x.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out.decode()} {err.decode()}")
    figures: dict[str, Any] = json.loads(line.removeprefix("BENCH "))
    errors = {k: figures[k] for k in ("non_2xx", "connect", "read", "write", "timeout")
              if figures[k] and not (k == "timeout" and timeouts_allowed)}
    if errors:
        raise RuntimeError(f"wrk against {url}: errors {errors} of {figures['requests']} "
                           "requests (see the service's log in .local/logs)")
    figures["requests_per_second"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


def _quantile_ms(r: dict[str, Any], q: int) -> float:
    """wrk's quantile of the answered requests; the timeout when more than the rest of the
    requests timed out (a request that never came back is slower than every answered one);
    the round's length when none came back (a lower bound)."""
    if r["requests"] == 0:  # none came back within the round: at least its length
        return float(r["duration_us"]) / 1000
    attempted = r["requests"] + r["timeout"]
    if r["timeout"] / attempted > 1 - q / 100:
        return TIMEOUT_S * 1000.0
    return float(r[f"p{q}_us"]) / 1000


def summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"requests_per_second": spread([r["requests_per_second"] for r in rounds]),
            "p50_ms": spread([_quantile_ms(r, 50) for r in rounds]),
            "p99_ms": spread([_quantile_ms(r, 99) for r in rounds]),
            "requests": sum(r["requests"] for r in rounds),
            "timeouts": sum(r["timeout"] for r in rounds)}


