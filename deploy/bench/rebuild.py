"""Scenario 4, rebuild: ``--events`` events of the national data set put on the run's topics
(see events.py), then ``python -m services.reporting rebuild`` into fresh views, timed with its
peak RSS; in the same run, alternately, a raw aiokafka consumer that only reads the same topics
from the beginning (the pipeline's limit). The reporting service itself is not running: its
database is migrated and the rebuild is the only reader."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import dataset
import events
from aiokafka import AIOKafkaConsumer, TopicPartition
from figures import shown, spread
from harness import REPO, Finished, Run, measured, prepared, say
from options import Options

from chungtay_common.consumer import partitions_of
from chungtay_common.db import COMMON_MIGRATIONS, apply_migrations, create_pool
from chungtay_common.settings import ServiceSettings
from chungtay_common.topics import topic_name

SUBSCRIBED = ("registration", "indicators", "awards")  # the reporting service's topics
BATCH = 500  # what the rebuild asks for per getmany
# the command's own line: "rebuilt the views from N events (M applied) in S s: R events/s"
OUTCOME = re.compile(r"from (\d+) events .* in ([\d.]+) s")


async def migrate(run: Run, tree: Path = REPO) -> None:
    """The reporting database as the service leaves it at start-up, views not yet built."""
    pool = await create_pool(run.dsn("reporting"), 2, "views, public")
    try:
        await apply_migrations(pool, COMMON_MIGRATIONS, tree / "services" / "reporting"
                               / "migrations")
    finally:
        await pool.close()


async def raw_read(settings: ServiceSettings) -> tuple[int, int, float]:
    """Messages and bytes of the subscribed topics read from offset 0 to their ends; seconds."""
    topics = [topic_name(owner, settings.topic_namespace) for owner in SUBSCRIBED]
    partitions = await partitions_of(settings.kafka_bootstrap, topics,
                                     settings.kafka_security())
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **settings.kafka_security())
    loop = asyncio.get_running_loop()
    await consumer.start()
    try:
        started = loop.time()
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        total = sum(ends.values())
        messages = size = 0
        while messages < total:
            for records in (await consumer.getmany(timeout_ms=500, max_records=BATCH)).values():
                messages += len(records)
                size += sum(len(r.value or b"") for r in records)
        return messages, size, loop.time() - started
    finally:
        await consumer.stop()


def rebuild_once(run: Run, tree: Path) -> tuple[Finished, int | None, float | None]:
    """One ``rebuild`` of ``tree``'s code; its own count of events and seconds when it prints
    them (None otherwise: the process's wall time is used)."""
    env = {**run.service_env("reporting"), "PYTHONPATH": str(tree)}
    done = measured([sys.executable, "-m", "services.reporting", "rebuild"], env, tree)
    if done.returncode != 0:
        raise RuntimeError(f"rebuild of {tree} failed ({done.returncode}): "
                           f"{done.stderr[-2000:]}")
    found = OUTCOME.search(done.stdout)
    return done, (int(found[1]) if found else None), (float(found[2]) if found else None)


def _rebuild_figures(label: str, finished: list[tuple[Finished, int | None, float | None]],
                     total: int, raw_rates: list[float]) -> dict[str, Any]:
    # the command's own seconds (the replay and the swap) when printed; the wall time of the
    # process (interpreter start, imports) beside it
    rates = [(n or total) / (s or f.seconds) for f, n, s in finished]
    wall = [total / f.seconds for f, _, _ in finished]
    rss = [f.max_rss_bytes / 2**20 for f, _, _ in finished]
    ratio = [r / raw for r, raw in zip(rates, raw_rates, strict=True)]
    out = {"events_per_second": spread(rates), "events_per_second_wall": spread(wall),
           "seconds_wall": spread([f.seconds for f, _, _ in finished]),
           "peak_rss_mib": spread(rss), "ratio_to_raw": spread(ratio)}
    say(f"  {label}: {shown(out['events_per_second'])} events/s "
        f"(process wall time: {shown(out['events_per_second_wall'])}), "
        f"peak RSS {shown(out['peak_rss_mib'])} MiB, "
        f"{shown(out['ratio_to_raw'], '{:.2f}')} of the raw consumer")
    return out


async def scenario(opts: Options) -> dict[str, Any]:
    country = dataset.country(opts.scale)
    async with prepared(["reporting"]) as run:
        await migrate(run)
        produced = await events.produce(run.settings, country, opts.events)
        say(f"rebuild: {produced.events:,} events ({produced.reports:,} reports, "
            f"{produced.corrections:,} corrections; {produced.bytes / 2**20:,.0f} MiB) put on "
            f"the topics in {produced.seconds:.1f} s ({produced.events / produced.seconds:,.0f}"
            f" events/s)")
        raw: list[tuple[int, int, float]] = []
        mine: list[tuple[Finished, int | None, float | None]] = []
        theirs: list[tuple[Finished, int | None, float | None]] = []
        for i in range(opts.rebuild_rounds):
            raw.append(await raw_read(run.settings))
            mine.append(await asyncio.to_thread(rebuild_once, run, REPO))
            if opts.compare is not None:
                theirs.append(await asyncio.to_thread(rebuild_once, run, opts.compare))
            say(f"  round {i + 1}: raw {raw[-1][0] / raw[-1][2]:,.0f} events/s; rebuild "
                f"{mine[-1][0].seconds:.1f} s, {mine[-1][0].max_rss_bytes / 2**20:,.0f} MiB"
                + (f"; compared tree {theirs[-1][0].seconds:.1f} s" if theirs else ""))
        raw_rates = [n / s for n, _, s in raw]
        result: dict[str, Any] = {
            "events": produced.events, "reports": produced.reports,
            "corrections": produced.corrections, "bytes": produced.bytes,
            "produce_seconds": produced.seconds,
            "raw_events_per_second": spread(raw_rates),
            "raw_bytes_per_second": spread([b / s for _, b, s in raw]),
        }
        say(f"  raw consumer: {shown(result['raw_events_per_second'])} events/s")
        result["rebuild"] = _rebuild_figures("rebuild", mine, produced.events, raw_rates)
        if theirs:
            result["compared"] = _rebuild_figures(f"rebuild of {opts.compare}", theirs,
                                                  produced.events, raw_rates)
        return result
