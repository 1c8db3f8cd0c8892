"""`make bench`: the performance scenarios of issue 12 on the national-size data set, each run
several times, side by side with its reference (a bare endpoint, a raw consumer) in the same run.

    .venv/bin/python deploy/bench/perf.py --scenario rebuild --events 200000 --rounds 1
    .venv/bin/python deploy/bench/perf.py --scenario all --docs   # what `make bench` runs
    .venv/bin/python deploy/bench/perf.py --scenario ingest --compare /tmp/old

Every scenario starts what it needs (the services as their own uvicorn processes, as `make run`
starts them, on databases and a topic namespace of the run, dropped afterwards). With
``--docs`` the figures, the machine, the versions and the targets go to docs/benchmarks.md and
docs/benchmarks.json (a scenario run alone replaces only its own part there).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

import report  # noqa: E402
from harness import say  # noqa: E402
from options import Options  # noqa: E402

Scenario = Callable[..., Awaitable[dict[str, Any]]]


# each scenario's module, imported only when it runs (one run alone starts fast), in the
# order of a run: the ones on the national stack share one load of it, the quiet reads first
# and ingest last (what it writes keeps the reporting consumer busy for a while)
SCENARIOS = {"rebuild": "rebuild", "queries": "queries", "freshness": "freshness",
             "import": "bulk", "ingest": "ingest"}
ON_NATIONAL_STACK = {"queries", "freshness", "import", "ingest"}


def scenario(name: str) -> Scenario:
    found: Scenario = importlib.import_module(SCENARIOS[name]).scenario
    return found


def parse(argv: list[str]) -> tuple[list[str], Options, bool]:
    p = argparse.ArgumentParser(prog="deploy/bench/perf.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="all",
                   help="ingest, import, freshness, rebuild, queries, or all (comma-separated)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per scenario (default 3)")
    p.add_argument("--seconds", type=float, default=10, help="seconds per load round")
    p.add_argument("--events", type=int, default=1_000_000, help="events for the rebuild")
    p.add_argument("--rebuild-rounds", type=int, default=None,
                   help="rounds of the rebuild scenario (default: --rounds)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="data set size: 1.0 is 63 provinces, about 10,000 communes")
    p.add_argument("--connections", type=int, default=32, help="wrk's connections")
    p.add_argument("--rate", type=int, default=200, help="reports/s of the freshness stream")
    p.add_argument("--compare", type=Path, default=None,
                   help="another checkout of the project, measured alternately beside this one")
    p.add_argument("--docs", action="store_true",
                   help="write docs/benchmarks.md and docs/benchmarks.json")
    a = p.parse_args(argv)
    known = list(SCENARIOS)
    wanted = known if a.scenario == "all" else a.scenario.split(",")
    unknown = [w for w in wanted if w not in known]
    if unknown:
        p.error(f"unknown scenario {', '.join(unknown)} (one of {', '.join(known)})")
    if a.compare is not None and not (a.compare / "services").is_dir():
        p.error(f"{a.compare} is not a checkout of the project")
    return wanted, Options(a.rounds, a.seconds, a.events, a.rebuild_rounds or a.rounds,
                           a.scale, a.connections, a.rate,
                           a.compare.resolve() if a.compare else None), a.docs


async def _timed(name: str, run: Awaitable[dict[str, Any]], results: dict[str, Any]
                 ) -> None:
    say(f"== {name} ==")
    started = time.perf_counter()
    results[name] = await run
    results[name]["scenario_seconds"] = time.perf_counter() - started
    say(f"== {name}: {results[name]['scenario_seconds']:.0f} s ==")


async def main(argv: list[str]) -> int:
    wanted, opts, docs = parse(argv)
    results: dict[str, Any] = {}
    for name in [n for n in SCENARIOS if n in wanted and n not in ON_NATIONAL_STACK]:
        await _timed(name, scenario(name)(opts), results)
    on_stack = [n for n in SCENARIOS if n in wanted and n in ON_NATIONAL_STACK]
    if on_stack:
        import dataset
        import national

        country = dataset.country(opts.scale)
        say(f"== national data set: {len(country.provinces)} provinces, "
            f"{len(country.districts):,} districts, {len(country.communes):,} communes ==")
        started = time.perf_counter()
        async with national.loaded(country) as nat:
            load = {"seconds": time.perf_counter() - started, "steps": nat.timings}
            for name in on_stack:
                await national.caught_up_quietly(nat)
                await _timed(name, scenario(name)(opts, nat), results)
                results[name]["national_load"] = load
    for line in report.verdicts(results):
        say(f"{'PASS' if line['pass'] else 'FAIL'} {line['scenario']}: {line['target']} "
            f"(measured {line['measured']})")
    if docs:
        await report.write(results, opts, REPO / "docs")
        say("wrote docs/benchmarks.md and docs/benchmarks.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
