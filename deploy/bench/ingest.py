"""Scenario 1, ingest: ``wrk -t2 -c32`` posting yearly-report submissions (2020) of random
communes to the indicators service, each with the token of that commune's clerk (role
reporter, a few hundred of them); alternately, in the same run and on the same PostgreSQL, the
same requests to a bare FastAPI + asyncpg endpoint (bare.py), and with ``--compare`` to the
indicators service of another checkout. Any non-2xx response fails the scenario."""

from __future__ import annotations

import json
import random
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from figures import shown, spread
from harness import Run, say, serve
from loadgen import summary, wrk
from national import YEAR, National
from options import Options

from chungtay_common.tokens import mint

CLERKS = 300  # communes whose clerk posts (one token each)
BODIES = 4  # variants of each commune's report (the poor households moved a little)
BARE_PORT = 18790
COMPARE_PORT = 18791


def requests_file(nat: National, directory: Path, seed: int = 12) -> Path:
    """Lines for requests.lua: ``CLERKS`` communes' 2020 reports, each with its clerk's token."""
    rng = random.Random(seed)
    lines = []
    communes = rng.sample(nat.country.communes, min(CLERKS, len(nat.country.communes)))
    by_code = {r.unit_code: r for p in nat.country.provinces
               for r in nat.country.reports(p, [YEAR])}
    for c in communes:
        unit = nat.ids[c.code]
        token = mint(nat.run.key, subject=f"clerk-{c.code}", roles=["reporter"],
                     unit_id=uuid.UUID(unit))
        for _ in range(BODIES):
            values = dict(by_code[c.code].values)
            values["poor_households"] = max(0, values["poor_households"] + rng.randint(-3, 3))
            submit = f"/v1/campaigns/{nat.campaign}/reports/{unit}/{YEAR}/submit"
            lines.append(f"POST\t{submit}\t{token}\t"
                         + json.dumps({"values": values}, separators=(",", ":")))
    path = directory / "requests.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


@asynccontextmanager
async def compared(opts: Options, run: Run) -> AsyncIterator[str | None]:
    """With ``--compare``: the other tree's indicators service beside this one, on the same
    database and topics (its consumer shares the run's consumer group); its URL."""
    if opts.compare is None:
        yield None
        return
    async with serve(run, ["indicators"], COMPARE_PORT, "ingest-compare", tree=opts.compare,
                     ) as urls:
        yield urls["indicators"]


async def scenario(opts: Options, nat: National) -> dict[str, Any]:
    run: Run = nat.run
    urls = dict(run.urls)  # serve() adds the other tree's under the same name
    with tempfile.TemporaryDirectory() as tmp:
        requests = requests_file(nat, Path(tmp))
        async with serve(run, ["bare"], BARE_PORT, "ingest",
                         targets={"bare": "bare:main"}) as bare, compared(opts, run) as other:
            targets = {"service": urls["indicators"], "bare": bare["bare"],
                       **({"compared": other} if other else {})}
            for url in targets.values():  # warm up: connections, first requests
                await wrk(url, requests, 2, opts.connections)
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
            for i in range(opts.rounds):
                for name, url in targets.items():
                    rounds[name].append(await wrk(url, requests, opts.seconds,
                                                  opts.connections))
                say(f"  round {i + 1}: " + "; ".join(
                    f"{name} {r[-1]['requests_per_second']:,.0f} req/s p99 "
                    f"{r[-1]['p99_us'] / 1000:.0f} ms" for name, r in rounds.items()))
    run.urls.update(urls)
    result: dict[str, Any] = {name: summary(r) for name, r in rounds.items()}
    result.update({
        "ratio": spread([s["requests_per_second"] / b["requests_per_second"]
                         for s, b in zip(rounds["service"], rounds["bare"], strict=True)]),
        "tokens": min(CLERKS, len(nat.country.communes)),
        "connections": opts.connections, "seconds": opts.seconds})
    say(f"  ingest: service {shown(result['service']['requests_per_second'])} req/s, p50 "
        f"{shown(result['service']['p50_ms'], '{:.0f}')} ms, p99 "
        f"{shown(result['service']['p99_ms'], '{:.0f}')} ms; bare "
        f"{shown(result['bare']['requests_per_second'])} req/s, p99 "
        f"{shown(result['bare']['p99_ms'], '{:.0f}')} ms; ratio "
        f"{shown(result['ratio'], '{:.2f}')}"
        + (f"; compared tree {shown(result['compared']['requests_per_second'])} req/s, p99 "
           f"{shown(result['compared']['p99_ms'], '{:.0f}')} ms" if "compared" in result else ""))
    return result
