"""docs/benchmarks.md and docs/benchmarks.json: the figures of a `make bench` run, the machine,
the versions and issue 12's targets with pass or fail."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
from figures import shown
from harness import REPO
from options import Options

from chungtay_common.settings import ServiceSettings
from chungtay_common.stack import stack_env

PACKAGES = ("fastapi", "uvicorn", "pydantic", "asyncpg", "aiokafka", "faust-streaming",
            "httpx", "pyjwt")


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 12's targets against the medians measured (only the scenarios that ran)."""
    out: list[dict[str, Any]] = []

    def check(scenario: str, target: str, ok: bool, measured: str) -> None:
        out.append({"scenario": scenario, "target": target, "pass": ok, "measured": measured})

    if (ingest := results.get("ingest")) is not None:
        ratio, p99 = ingest["ratio"]["median"], ingest["service"]["p99_ms"]["median"]
        check("ingest", "at least 0.5 of the bare endpoint's rate", ratio >= 0.5, f"{ratio:.2f}")
        check("ingest", "p99 under 100 ms", p99 < 100, f"{p99:.0f} ms")
    if (bulk := results.get("import")) is not None:
        for name, figures in bulk["files"].items():
            rate = figures["values_per_second"]["median"]
            check("import", f"at least 20,000 values/s ({name}'s file)", rate >= 20_000,
                  f"{rate:,.0f} values/s")
    if (fresh := results.get("freshness")) is not None:
        p50, p99 = fresh["p50_ms"]["median"], fresh["p99_ms"]["median"]
        check("freshness", "p50 under 100 ms", p50 < 100, f"{p50:.0f} ms")
        check("freshness", "p99 under 500 ms", p99 < 500, f"{p99:.0f} ms")
        check("freshness", "every submission answered 2xx and seen", not fresh.get("failed")
              and not fresh.get("not_seen"),
              f"{fresh.get('failed', 0)} failed, {fresh.get('not_seen', 0)} not seen")
    if (rebuild := results.get("rebuild")) is not None:
        r = rebuild["rebuild"]
        ratio, rate = r["ratio_to_raw"]["median"], r["events_per_second"]["median"]
        rss = r["peak_rss_mib"]["max"] * 2**20 / 1e6
        check("rebuild", "at least 0.4 of the raw consumer", ratio >= 0.4, f"{ratio:.2f}")
        check("rebuild", "at least 20,000 events/s", rate >= 20_000, f"{rate:,.0f} events/s")
        check("rebuild", "the reporting process under 500 MB", rss < 500, f"{rss:,.0f} MB")
    if (queries := results.get("queries")) is not None:
        for name, figures in queries["endpoints"].items():
            p99 = figures["p99_ms"]["median"]
            check("queries", f"{name}: p99 under 20 ms", p99 < 20, f"{p99:.1f} ms")
    return out


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                          check=False).stdout.strip()


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _kafka_version() -> str:
    jars = sorted((REPO / ".local" / "kafka" / "libs").glob("kafka_2.*-*.jar"))
    return jars[0].stem.split("-", 1)[1] if jars else "unknown"


async def environment() -> dict[str, Any]:
    """The machine and the versions the figures were measured with."""
    os.environ.update(stack_env(os.environ))
    settings = ServiceSettings()
    conn = await asyncpg.connect(settings.dsn("postgres"))
    try:
        postgres = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    wrk = await asyncio.to_thread(subprocess.run, ["wrk", "--version"], capture_output=True,
                                  text=True, check=False)
    return {
        "machine": {"cores": os.cpu_count(), "cpu": _cpu_model(),
                    "memory_gib": round(os.sysconf("SC_PAGE_SIZE")
                                        * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                    # the machine is shared: how busy it was
                    "load_average_at_end": os.getloadavg()},
        "versions": {"python": platform.python_version(), "postgresql": postgres,
                     "kafka": _kafka_version(),
                     "wrk": (wrk.stdout or wrk.stderr).split("\n", 1)[0].strip(),
                     **{p: metadata.version(p) for p in PACKAGES}},
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(_git("status", "--porcelain")),
    }


async def write(results: dict[str, Any], opts: Options, docs: Path) -> None:
    """Merge ``results`` into docs/benchmarks.json (the scenarios that ran replace theirs)
    and write docs/benchmarks.md from it."""
    path = docs / "benchmarks.json"
    old: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    run = {"at": datetime.now(UTC).isoformat(timespec="seconds"),
           "options": {k: str(v) if isinstance(v, Path) else v
                       for k, v in asdict(opts).items()},
           **await environment()}
    scenarios = {**old.get("scenarios", {}), **{k: {**v, "run": run}
                                                 for k, v in results.items()}}
    data = {"scenarios": scenarios, "targets": verdicts(scenarios)}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n")
    (docs / "benchmarks.md").write_text(markdown(data), encoding="utf-8")


def _hops(hops: dict[str, Any] | None) -> list[str]:
    """Where the time went (freshness): the outbox relay, then Kafka to the views' batch."""
    if not hops or "relay_p50_ms" not in hops or "to_batch_p50_ms" not in hops:
        return []
    return ["", "Per hop (the database's clocks): from the write to the outbox's publication "
            f"p50 {_ms(hops['relay_p50_ms'])} ms, p99 {_ms(hops['relay_p99_ms'])} ms, max "
            f"{_ms(hops['relay_max_ms'])} ms; from the publication to the start of the views' "
            f"batch that applied it p50 {_ms(hops['to_batch_p50_ms'])} ms, p99 "
            f"{_ms(hops['to_batch_p99_ms'])} ms, max {_ms(hops['to_batch_max_ms'])} ms; the "
            "rest of a lag is the batch itself and the 5 ms polling."]


def _ms(s: dict[str, Any]) -> str:
    return shown(s, "{:.1f}")


def markdown(data: dict[str, Any]) -> str:
    sc = data["scenarios"]
    lines = ["# Benchmarks", "",
             "Written by `make bench` (`deploy/bench/perf.py --docs`); do not edit by hand. "
             "Each figure is the median of the rounds, with the lowest and highest round in "
             "brackets. Every comparison (service against bare endpoint, rebuild against raw "
             "consumer, this tree against another) was measured side by side in the same run. "
             "The machine is shared with other work: figures move between runs.", "",
             "## Targets (issue 12)", "", "| scenario | target | measured | |",
             "|---|---|---|---|"]
    for v in data["targets"]:
        lines.append(f"| {v['scenario']} | {v['target']} | {v['measured']} | "
                     f"{'pass' if v['pass'] else '**fail**'} |")
    runs: list[dict[str, Any]] = []
    for body in sc.values():
        if body["run"] not in runs:
            runs.append(body["run"])
    runs.sort(key=lambda run: str(run["at"]))
    if (load := next((b["national_load"] for b in sc.values() if "national_load" in b), None)):
        lines += ["", "## The national data set", "",
                  f"Loaded in {load['seconds']:.0f} s before the scenarios on it:", "",
                  *[f"- {step}: {seconds:.1f} s" for step, seconds in load["steps"].items()]]
    for name, body in sc.items():
        lines += ["", f"## {name}", "", *_section(name, body), "",
                  f"Scenario time {body['scenario_seconds']:.0f} s (run "
                  f"{runs.index(body['run']) + 1})."]
    lines += ["", "## Runs", ""]
    lines += [f"{i}. {_run_line(run)}" for i, run in enumerate(runs, 1)]
    return "\n".join(lines) + "\n"


def _run_line(run: dict[str, Any]) -> str:
    m, v = run["machine"], run["versions"]
    return (f"{run['at']}, commit {run['commit'][:10]}"
            f"{' (with uncommitted changes)' if run['uncommitted_changes'] else ''}; "
            f"{m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, load average at the end "
            f"{m['load_average_at_end'][0]:.1f}; Python {v['python']}, "
            f"PostgreSQL {v['postgresql']}, Kafka {v['kafka']}, "
            f"{v['wrk'].split(' Copyright')[0]}, "
            + ", ".join(f"{p} {v[p]}" for p in PACKAGES)
            + f"; options {json.dumps(run['options'])}.")


def _section(name: str, b: dict[str, Any]) -> list[str]:
    if name == "ingest":
        rows = ["| endpoint | requests/s | p50 ms | p99 ms |", "|---|---|---|---|"]
        for label in ("service", "bare", "compared"):
            if label in b:
                f = b[label]
                rows.append(f"| {label} | {shown(f['requests_per_second'])} | "
                            f"{_ms(f['p50_ms'])} | {_ms(f['p99_ms'])} |")
        return [f"Report submissions by {b['tokens']} commune clerks' tokens to random "
                f"communes, `wrk -t2 -c{b['connections']}`, {b['seconds']:.0f} s a round; "
                f"ratio service/bare {shown(b['ratio'], '{:.2f}')}.", "", *rows]
    if name == "import":
        rows = ["| file | reports | values | seconds | values/s |", "|---|---|---|---|---|"]
        for label, f in b["files"].items():
            rows.append(f"| {label} | {f['reports']} | {f['values']} | "
                        f"{shown(f['seconds'], '{:.2f}')} | {shown(f['values_per_second'])} |")
        return ["Indicators import (CSV, submitted), one new campaign per round.", "", *rows]
    if name == "freshness":
        lost = (f"; {b['not_seen']} not seen within 120 s" if b.get("not_seen") else "") + (
            f"; **{b['failed']} submissions failed**" if b.get("failed") else "")
        return [f"{b['rate']} reports/s for {b['seconds']:.0f} s a round ({b['reports']} "
                f"reports in all), time from the HTTP response to the provincial rollup "
                f"reflecting the report: p50 {_ms(b['p50_ms'])} ms, p99 {_ms(b['p99_ms'])} ms, "
                f"max {_ms(b['max_ms'])} ms; rate of the responses {shown(b['achieved_rate'])}/s"
                f"{lost}.", *_hops(b.get("hops"))]
    if name == "rebuild":
        out = [f"{b['events']:,} events ({b['reports']:,} reports, {b['corrections']:,} "
               f"corrections, {b['bytes'] / 2**20:,.0f} MiB). Raw aiokafka consumer: "
               f"{shown(b['raw_events_per_second'])} events/s.", "",
               "| | events/s | events/s (process wall) | peak RSS MiB | ratio to raw |",
               "|---|---|---|---|---|"]
        for label in ("rebuild", "compared"):
            if label in b:
                f = b[label]
                out.append(f"| {label} | {shown(f['events_per_second'])} | "
                           f"{shown(f['events_per_second_wall'])} | "
                           f"{shown(f['peak_rss_mib'])} | {shown(f['ratio_to_raw'], '{:.2f}')}"
                           " |")
        return out
    if name == "queries":
        rows = ["| endpoint | alone ms | requests/s | p50 ms | p99 ms | timeouts (30 s) |",
                "|---|---|---|---|---|---|"]
        for label, f in b["endpoints"].items():
            alone = f"{f['alone_ms']:.1f}" if "alone_ms" in f else ""
            rows.append(f"| {label} | {alone} | {shown(f['requests_per_second'])} | "
                        f"{_ms(f['p50_ms'])} | {_ms(f['p99_ms'])} | {f.get('timeouts', 0)} |")
        return [f"`wrk -t2 -c{b['connections']}`, {b['seconds']:.0f} s a round, year "
                f"{b.get('year', '')} of {b['communes']:,} communes' reports; the summaries of "
                "the first province, the rankings of every commune (first page of 100). "
                "\"alone\": one request at a time (median of 3); a request that timed out "
                "counts as 30 s in the quantiles; when no request came back within a round, its "
                "quantiles are the round's length (a lower bound).", "",
                *rows]
    return ["```", json.dumps(b, indent=1, default=str), "```"]
