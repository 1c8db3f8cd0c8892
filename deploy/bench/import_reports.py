"""`make bench`: how long the bulk import of one year of reports of Quảng Bình's 159 communes
(13 entered indicators each, submitted) takes through HTTP, against the local stack.

The indicators service runs as its own process (uvicorn, as `make run` starts it) on a database
of its own (created for the run, dropped afterwards) and the topic namespace ``bench``; the
units are put straight into its copy of the hierarchy. The values are the synthetic demo figures.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import asyncpg
import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from chungtay_common import hierarchy  # noqa: E402
from chungtay_common.contracts.registration import (  # noqa: E402
    UnitKind,
    UnitSnapshot,
    UnitVersion,
)
from chungtay_common.db import drop_database, ensure_database  # noqa: E402
from chungtay_common.settings import ServiceSettings  # noqa: E402
from chungtay_common.stack import (  # noqa: E402
    ensure_topics,
    stack_env,
    wait_for_kafka,
    wait_for_postgres,
)
from chungtay_common.tokens import keygen, mint  # noqa: E402
from services.indicators import demo  # noqa: E402

UNITS = REPO / "services" / "registration" / "data" / "quang_binh_units_2020.csv"
YEAR = 2019
ROUNDS = 3  # one campaign per round, so every round writes 159 new reports
LOGS = REPO / ".local" / "logs"


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def seed_units(dsn: str, communes: list[demo.Commune]) -> None:
    ids: dict[str, uuid.UUID] = {}
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            def snap(kind: UnitKind, code: str, name: str, subkind: str,
                     parent: uuid.UUID | None) -> UnitSnapshot:
                ids[code] = uuid.uuid4()
                return UnitSnapshot(unit_id=ids[code], kind=kind, revision=1, versions=[
                    UnitVersion(valid_from=date(2017, 1, 1), code=code, name=name,
                                subkind=subkind, parent_id=parent)])

            await hierarchy.apply_snapshot(conn, snap(UnitKind.PROVINCE, "44", "Tỉnh Quảng Bình",
                                                      "tinh", None))
            for c in communes:
                if c.district_code not in ids:
                    await hierarchy.apply_snapshot(conn, snap(
                        UnitKind.DISTRICT, c.district_code, c.district_name, "huyen", ids["44"]))
                await hierarchy.apply_snapshot(conn, snap(
                    UnitKind.COMMUNE, c.code, c.name, c.subkind, ids[c.district_code]))
    finally:
        await conn.close()


async def bench(url: str, token: str, body: bytes) -> list[float]:
    timings = []
    async with httpx.AsyncClient(base_url=url, timeout=300,
                                 headers={"authorization": f"Bearer {token}"}) as client:
        for i in range(ROUNDS):
            r = await client.post("/v1/campaigns", json={
                "code": f"bench-{uuid.uuid4().hex[:8]}", "name": f"Bench {i}",
                "first_year": YEAR, "last_year": YEAR,
                "participating_kinds": ["commune"]})
            r.raise_for_status()
            campaign = r.json()["campaign_id"]
            started = time.perf_counter()
            r = await client.post(
                f"/v1/campaigns/{campaign}/reports/import", params={"submit": "true"},
                content=body, headers={"content-type": "text/csv",
                                       "idempotency-key": uuid.uuid4().hex})
            elapsed = time.perf_counter() - started
            r.raise_for_status()
            summary = r.json()
            assert summary["reports"] == 159, summary
            timings.append(elapsed)
            say(f"  round {i + 1}: {summary['reports']} reports, {summary['values']} values "
                f"in {elapsed:.2f} s")
    return timings


def main() -> int:
    env = stack_env(os.environ)
    run = uuid.uuid4().hex[:8]
    database = f"chungtay_bench_{run}"
    env.update({"CHUNGTAY_PG_DATABASE": database, "CHUNGTAY_TOPIC_NAMESPACE": "bench",
                "CHUNGTAY_OVERDUE_CHECK_SECONDS": "3600"})
    os.environ.update({k: v for k, v in env.items() if k.startswith("CHUNGTAY_")})
    settings = ServiceSettings(service_name="indicators")
    communes = demo.communes_from_csv(UNITS.read_text(encoding="utf-8"))
    reports = [r for r in demo.generate(communes).reports
               if r.year == YEAR and r.kind == "commune"]
    # every commune, the demo's missing ones included
    body = demo.import_csv(reports, backfill=False)
    private, _ = keygen()
    token = mint(private.read_bytes(), subject="bench-admin", roles=["admin"], unit_id=None)

    async def prepare() -> None:
        await wait_for_postgres(settings)
        await wait_for_kafka(settings)
        await ensure_database(settings.dsn("postgres"), database)
        await ensure_topics(settings, "bench")

    asyncio.run(prepare())
    port = 18700 + os.getpid() % 200
    LOGS.mkdir(parents=True, exist_ok=True)
    (REPO / ".local" / "faust").mkdir(parents=True, exist_ok=True)
    log = (LOGS / "bench-indicators.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "services.indicators.api:main",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        cwd=REPO, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        async def wait_and_run() -> list[float]:
            async for attempt in AsyncRetrying(
                wait=wait_fixed(0.5), stop=stop_after_delay(90), reraise=True,
                retry=retry_if_exception_type((httpx.HTTPError, AssertionError)),
            ):
                with attempt:
                    assert proc.poll() is None, "the service exited; see its log"
                    async with httpx.AsyncClient(timeout=2) as client:
                        assert (await client.get(f"{url}/health")).status_code == 200
            await seed_units(settings.dsn(database), communes)
            return await bench(url, token, body)

        say(f"import of {YEAR}: 159 communes x {len(demo.ENTERED)} indicators "
            f"({len(body)} bytes of CSV), submitted, {ROUNDS} rounds, {os.cpu_count()} CPUs")
        timings = asyncio.run(wait_and_run())
        say(f"median {statistics.median(timings):.2f} s, best {min(timings):.2f} s")
        return 0
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        asyncio.run(drop_database(settings.dsn("postgres"), database))


if __name__ == "__main__":
    raise SystemExit(main())
