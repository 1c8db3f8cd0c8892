"""Scenario 3, freshness: an open-loop stream of 2020 report submissions at a steady rate
(``--rate``, 200/s) through the indicators API, each by its commune's clerk; for each, the time
from its HTTP response to the moment the provincial summary reflects it: its fact stored in the
reporting views at that version or later, and the province's rollup (what the provincial
summary reads) refreshed at or after it. The views are polled every 5 ms, so a figure carries up
to 5 ms of polling."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import paced
from figures import quantile, shown, spread
from harness import say
from national import YEAR, National, caught_up_quietly
from options import Options

from chungtay_common.tokens import mint

POLL = 0.005
PATIENCE = 120.0  # seconds after the last response before an unseen report counts as lost


class Watch:
    """The moments reports became visible in the provincial rollups."""

    def __init__(self, nat: National) -> None:
        self.nat = nat
        self.province_of = {nat.ids[c.code]: nat.ids[p.unit.code]
                            for p in nat.country.provinces for c in p.communes}
        self.answered: dict[tuple[str, int], float] = {}
        self.seen: dict[tuple[str, int], float] = {}
        self.pending: dict[str, set[int]] = {}  # versions answered, not yet seen, by unit
        self.done = asyncio.Event()

    def answer(self, unit: str, version: int) -> None:
        self.answered[(unit, version)] = time.perf_counter()
        self.pending.setdefault(unit, set()).add(version)

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.nat.run.dsn("reporting"),
                                     server_settings={"search_path": "views, public"})

    async def _poll(self, conn: asyncpg.Connection, campaign: uuid.UUID
                    ) -> tuple[list[asyncpg.Record], dict[str, datetime]]:
        """The facts of the year of the units with a version answered and not seen yet (a
        few hundred rows at most: the poll loads the machine it measures no more than it
        must); each province rollup's refresh."""
        waiting = [u for u, versions in self.pending.items() if versions]
        facts = await conn.fetch(
            "SELECT unit_id::text AS u, version, updated_at FROM facts"
            " WHERE campaign_id = $1 AND year = $2 AND unit_id = ANY($3::uuid[])",
            campaign, YEAR, waiting) if waiting else []
        rollups = {r["u"]: r["refreshed_at"] for r in await conn.fetch(
            "SELECT unit_id::text AS u, refreshed_at FROM rollups"
            " WHERE campaign_id = $1 AND year = $2 AND kind = 'province'", campaign, YEAR)}
        return list(facts), rollups

    async def run(self) -> None:
        conn = await self._connect()
        campaign = uuid.UUID(self.nat.campaign)
        deadline = float("inf")
        try:
            while len(self.seen) < len(self.answered) or not self.done.is_set():
                if self.done.is_set() and deadline == float("inf"):
                    deadline = time.perf_counter() + PATIENCE
                if time.perf_counter() > deadline:
                    break
                try:
                    facts, rollups = await self._poll(conn, campaign)
                except (asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError):
                    # seen once under load: the connection left in a bad state; a new one
                    conn.terminate()
                    conn = await self._connect()
                    continue
                now = time.perf_counter()
                for f in facts:
                    refreshed = rollups.get(self.province_of.get(f["u"], ""))
                    if refreshed is None or refreshed < f["updated_at"]:
                        continue
                    versions = self.pending.get(f["u"], set())
                    for version in [v for v in versions if v <= f["version"]]:
                        versions.discard(version)
                        self.seen[(f["u"], version)] = now
                await asyncio.sleep(POLL)
        finally:
            await conn.close()


async def hops(nat: National, since: float) -> dict[str, float]:
    """Where the time of the round's submissions went, per hop, in ms (quantiles over the
    round's ``report.submitted`` events): the indicators outbox from the write to its
    publication (``relay``), then from the publication to the start of the views' batch that
    applied it (``to_batch``, both clocks the database's). What is left of a lag is the
    batch itself and the watcher's polling."""
    indicators = await asyncpg.connect(nat.run.dsn("indicators"))
    reporting = await asyncpg.connect(nat.run.dsn("reporting"),
                                      server_settings={"search_path": "views, public"})
    try:
        published = await indicators.fetch(
            "SELECT event_id, extract(epoch FROM published_at - created_at) AS relay,"
            "       extract(epoch FROM published_at) AS at FROM outbox"
            " WHERE event_type = 'report.submitted' AND published_at IS NOT NULL"
            "   AND created_at >= to_timestamp($1)", since)
        applied = {r["event_id"]: float(r["at"]) for r in await reporting.fetch(
            "SELECT event_id, extract(epoch FROM processed_at) AS at FROM processed_events"
            " WHERE event_id = ANY($1::uuid[])", [r["event_id"] for r in published])}
    finally:
        await indicators.close()
        await reporting.close()
    relay = [float(r["relay"]) for r in published]
    to_batch = [applied[r["event_id"]] - float(r["at"]) for r in published
                if r["event_id"] in applied]
    out: dict[str, float] = {}
    for name, values in (("relay", relay), ("to_batch", to_batch)):
        if values:
            out |= {f"{name}_p50_ms": quantile(values, 0.5) * 1000,
                    f"{name}_p99_ms": quantile(values, 0.99) * 1000,
                    f"{name}_max_ms": max(values) * 1000}
    return out


async def stream(nat: National, rate: int, seconds: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    communes = nat.country.communes
    reports = {r.unit_code: r for p in nat.country.provinces
               for r in nat.country.reports(p, [YEAR])}
    tokens: dict[str, str] = {}
    watch = Watch(nat)
    failures: list[str] = []
    watcher = asyncio.create_task(watch.run())
    url = nat.run.urls["indicators"]

    async def submit(client: paced.Client, code: str) -> None:
        unit = nat.ids[code]
        if code not in tokens:
            tokens[code] = mint(nat.run.key, subject=f"clerk-{code}", roles=["reporter"],
                                unit_id=uuid.UUID(unit))
        values = dict(reports[code].values)
        values["poor_households"] = abs(values["poor_households"]
                                        + rng.choice((-1, 1)) * rng.randint(1, 5))
        try:
            status, body = await client.post(
                f"/v1/campaigns/{nat.campaign}/reports/{unit}/{YEAR}/submit",
                json.dumps({"values": values}).encode(),
                {"authorization": f"Bearer {tokens[code]}"})
        except (OSError, paced.HttpError) as exc:
            failures.append(repr(exc))
            return
        if status >= 300:
            failures.append(f"{status} {body[:300]!r}")
            return
        watch.answer(unit, json.loads(body)["version"])

    await asyncio.sleep(0.5)  # the watcher's first poll
    since = time.time()
    # the requests go out at the rate whatever the answers take (up to 64 at a time): the
    # client is lean (see paced.py), so that the stream is the one asked for
    client = paced.Client(url, connections=64)
    try:
        tasks = []
        started = time.perf_counter()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(submit(client, rng.choice(communes).code)))
        await asyncio.gather(*tasks)
        answered_in = time.perf_counter() - started
    finally:
        await client.close()
    watch.done.set()
    await watcher
    if failures:  # counted and shown (the run goes on: the others' freshness still counts)
        say(f"  !! {len(failures)} submissions failed, e.g. {failures[0]}")
    lags = [watch.seen[k] - watch.answered[k] for k in watch.seen]
    lost = len(watch.answered) - len(watch.seen)
    if not lags:
        raise RuntimeError("no report became visible in the provincial rollups")
    return {"reports": len(watch.answered), "not_seen": lost, "failed": len(failures),
            "achieved_rate": len(watch.answered) / answered_in,
            "p50": quantile(lags, 0.5), "p99": quantile(lags, 0.99), "max": max(lags),
            "hops": await hops(nat, since - 1)}


async def scenario(opts: Options, nat: National) -> dict[str, Any]:
    rounds = []
    for i in range(opts.rounds):
        if i:
            await caught_up_quietly(nat)
        rounds.append(await stream(nat, opts.rate, opts.seconds, seed=i))
        r = rounds[-1]
        say(f"  round {i + 1}: {r['reports']} reports at {r['achieved_rate']:.0f}/s answered; "
            f"p50 {r['p50'] * 1000:.0f} ms, p99 {r['p99'] * 1000:.0f} ms, max "
            f"{r['max'] * 1000:.0f} ms" + (f"; {r['not_seen']} not seen within "
                                           f"{PATIENCE:.0f} s" if r["not_seen"] else ""))
        say("    hops: " + ", ".join(f"{k.removesuffix('_ms')} {v:.0f}"
                                     for k, v in r["hops"].items()) + " (ms)")
    out = {"rate": opts.rate, "seconds": opts.seconds,
           "reports": sum(r["reports"] for r in rounds),
           "not_seen": sum(r["not_seen"] for r in rounds),
           "failed": sum(r["failed"] for r in rounds),
           "achieved_rate": spread([r["achieved_rate"] for r in rounds]),
           **{f"{q}_ms": spread([r[q] * 1000 for r in rounds]) for q in ("p50", "p99", "max")},
           "hops": {k: spread([r["hops"][k] for r in rounds if k in r["hops"]])
                    for k in sorted({k for r in rounds for k in r["hops"]})}}
    say(f"  freshness: p50 {shown(out['p50_ms'])} ms, p99 {shown(out['p99_ms'])} ms, max "
        f"{shown(out['max_ms'])} ms")
    return out
