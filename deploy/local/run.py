"""`make run`: start the local stack and every service, load the demo data, print how to use it.

Ctrl-C stops the services, and the stack too when this script started it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from demo_awards import Demo as AwardsDemo  # noqa: E402  (beside this script)

from chungtay_common.stack import stack_env  # noqa: E402
from chungtay_common.tokens import keygen, mint  # noqa: E402
from services.indicators import demo  # noqa: E402

STACK = ["bash", str(REPO / "deploy" / "local" / "stack.sh")]
SERVICES = {
    "registration": int(os.environ.get("CHUNGTAY_REGISTRATION_PORT", "8001")),
    "reporting": int(os.environ.get("CHUNGTAY_REPORTING_PORT", "8002")),
    "indicators": int(os.environ.get("CHUNGTAY_INDICATORS_PORT", "8003")),
    "awards": int(os.environ.get("CHUNGTAY_AWARDS_PORT", "8004")),
}
DEMO_UNITS = REPO / "services" / "registration" / "data" / "quang_binh_units_2020.csv"
# The campaign's baseline is 2016, so the demo units exist from the start of that year.
DEMO_VALID_FROM = "2016-01-01"
OLD_DEMO_VALID_FROM = "2017-01-01"  # what an older `make run` registered them from
LOGS = REPO / ".local" / "logs"


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], name: str) -> None:
    async for attempt in AsyncRetrying(
        wait=wait_fixed(0.5), stop=stop_after_delay(90), reraise=True,
        retry=retry_if_exception_type((httpx.HTTPError, AssertionError)),
    ):
        with attempt:
            assert proc.poll() is None, f"{name} exited; see {LOGS / (name + '.log')}"
            async with httpx.AsyncClient(timeout=2) as client:
                r = await client.get(f"{url}/health")
                assert r.status_code == 200, r.text


async def load_demo(token: str) -> dict[str, str]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{SERVICES['registration']}",
        headers={"authorization": f"Bearer {token}"}, timeout=60,
    ) as client:
        valid_from = DEMO_VALID_FROM
        r = await client.post(
            "/v1/units/import", params={"valid_from": valid_from},
            content=DEMO_UNITS.read_bytes(), headers={"content-type": "text/csv"},
        )
        if r.status_code == 409:  # local state of an older `make run`: codes held from 2017
            valid_from = OLD_DEMO_VALID_FROM
            r = await client.post(
                "/v1/units/import", params={"valid_from": valid_from},
                content=DEMO_UNITS.read_bytes(), headers={"content-type": "text/csv"},
            )
            say(f"note: the local state has the demo units from {valid_from} (an older "
                f"`make run`), so the 2016 baseline reports cannot be loaded; `make stack-down` "
                f"and removing .local starts afresh")
        r.raise_for_status()
        result = r.json()
        say(f"demo units: {result['created']} registered, {result['unchanged']} already there "
            f"(Quảng Bình, 8 districts, 159 communes, valid from {valid_from})")
        province = result["unit_ids_by_code"]["44"]
    # the reporting service builds its tree from the events: wait until it has them all
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{SERVICES['reporting']}",
        headers={"authorization": f"Bearer {token}"}, timeout=10,
    ) as client:
        async for attempt in AsyncRetrying(wait=wait_fixed(0.5), stop=stop_after_delay(60),
                                           reraise=True):
            with attempt:
                tree = (await client.get("/v1/units/tree",
                                         params={"as_of": "2020-01-01"})).json()
                assert tree["totals"].get("commune") == 159, tree["totals"]
    say(f"reporting tree has the demo hierarchy (province id {province})")
    ids: dict[str, str] = result["unit_ids_by_code"]
    return ids


DEMO_TARGETS = REPO / "services" / "indicators" / "data" / "quang_binh_targets_2017.csv"
DEMO_CAMPAIGN = {
    "code": "chung-tay-2017-2020",
    "name": "Phong trào thi đua “Cả nước chung tay vì người nghèo – Không để ai bị bỏ lại "
            "phía sau” trên địa bàn tỉnh Quảng Bình giai đoạn 2017–2020 (năm 2016 là năm gốc)",
    "first_year": demo.BASELINE, "last_year": 2020,
    "legal_basis": [
        {"number": "1258/QĐ-TTg", "issued_on": "2017-08-21",
         "title": "Quyết định của Thủ tướng Chính phủ về việc ban hành Kế hoạch tổ chức thực hiện "
                  "phong trào thi đua “Cả nước chung tay vì người nghèo - không để ai bị bỏ lại "
                  "phía sau” giai đoạn 2016-2020"},
        {"number": "3630/QĐ-UBND", "issued_on": "2017-10-16",
         "title": "Quyết định của Ủy ban nhân dân tỉnh Quảng Bình về việc ban hành Quy chế khen "
                  "thưởng thực hiện Chương trình Giảm nghèo bền vững và giải quyết việc làm giai "
                  "đoạn 2016-2020"},
    ],
}
NATIONAL_AVERAGES = {
    2015: (9.88, "MOLISA yearly count: 9.88% of households poor at end-2015 (2,338,569)"),
    2016: (8.23, "MOLISA yearly count: 8.23% of households poor at end-2016 (1,986,697)"),
    2020: (3.0, "MOLISA: \"under 3%\" at end-2020; 3.0 is that bound, not a measured rate"),
}


async def load_indicators_demo(token: str, ids: dict[str, str], reviewer_token: str) -> None:
    """The campaign, national averages, 2017 district targets and the SYNTHETIC yearly reports
    2016-2020, through the indicators API (``reviewer_token``: another person accepts what
    ``token``'s submitted)."""
    communes = demo.communes_from_csv(DEMO_UNITS.read_text(encoding="utf-8"))
    data = demo.generate(communes)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{SERVICES['indicators']}",
        headers={"authorization": f"Bearer {token}"}, timeout=300,
    ) as client:
        existing = [c for c in (await client.get("/v1/campaigns")).json()
                    if c["code"] == DEMO_CAMPAIGN["code"]]
        if existing:
            campaign_id = existing[0]["campaign_id"]
        else:
            r = await client.post("/v1/campaigns", json=DEMO_CAMPAIGN)
            r.raise_for_status()
            campaign_id = r.json()["campaign_id"]
        # the indicators service builds its copy of the units from the events: wait for it
        async for attempt in AsyncRetrying(wait=wait_fixed(0.5), stop=stop_after_delay(60),
                                           reraise=True):
            with attempt:
                board = (await client.get(f"/v1/campaigns/{campaign_id}/status",
                                          params={"year": 2020})).json()
                assert len(board["units"]) >= 167, len(board["units"])
        baseline = (await client.get(f"/v1/campaigns/{campaign_id}/status",
                                     params={"year": demo.BASELINE})).json()
        if len(baseline["units"]) < 167:  # units registered from 2017 (an older local state)
            data.reports = [rep for rep in data.reports if rep.year > demo.BASELINE]
        if board["counts"].get("on_time", 0) + board["counts"].get("late", 0):
            say(f"indicators demo already loaded (campaign {campaign_id})")
            await _print_boards(client, campaign_id)
            return
        for year, (rate, source) in NATIONAL_AVERAGES.items():
            (await client.put(f"/v1/national-averages/{year}",
                              json={"poor_rate_pct": rate, "source": source})).raise_for_status()
        # the plan's province-wide target: 2-2.5 points a year; by 2020 at most the national rate
        for year in range(2017, 2021):
            (await client.put(
                f"/v1/campaigns/{campaign_id}/targets/{year}/{ids['44']}",
                json={"reduction_pp_min": 2.0, "reduction_pp_max": 2.5,
                      "at_most_national_average": year == 2020,
                      "source": "Kế hoạch của UBND tỉnh Quảng Bình, mục I.1"},
            )).raise_for_status()
        (await client.post(
            f"/v1/campaigns/{campaign_id}/targets/2017/import",
            params={"source": "Báo Quảng Bình, 3/2017 (chỉ tiêu giảm nghèo năm 2017)"},
            content=DEMO_TARGETS.read_bytes(), headers={"content-type": "text/csv"},
        )).raise_for_status()
        started = time.perf_counter()
        # historical submission times are back-filled within a recorded data migration
        r = await client.post("/v1/data-migrations", json={
            "reference": f"demo-{campaign_id}", "reason": demo.SYNTHETIC_NOTE},
            headers={"idempotency-key": f"demo-migration-{campaign_id}"})
        r.raise_for_status()
        migration = r.json()
        r = await client.post(
            f"/v1/campaigns/{campaign_id}/reports/import",
            params={"submit": "true", "note": demo.SYNTHETIC_NOTE,
                    "migration_id": migration["migration_id"]},
            content=demo.import_csv(data.reports),
            headers={"content-type": "text/csv", "idempotency-key": f"demo-{campaign_id}"})
        r.raise_for_status()
        closed = await client.post(f"/v1/data-migrations/{migration['migration_id']}/close")
        if closed.status_code != 409:  # 409: closed by an earlier run already
            closed.raise_for_status()
        summary = r.json()
        say(f"demo reports (SYNTHETIC): {summary['reports']} reports, {summary['values']} values "
            f"imported and submitted in {time.perf_counter() - started:.1f} s, with their "
            f"historical submission dates back-filled")
        # the level above accepts most of them (the demo admin stands in for the reviewers)
        limit = asyncio.Semaphore(8)

        async def accept(unit_id: str, year: int) -> None:
            async with limit:
                (await client.post(
                    f"/v1/campaigns/{campaign_id}/reports/{unit_id}/{year}/accept",
                    headers={"idempotency-key": f"demo-accept-{unit_id}-{year}",
                             "authorization": f"Bearer {reviewer_token}"},
                )).raise_for_status()

        to_accept = [(ids[rep.unit_code], rep.year) for rep in data.reports if rep.accepted]
        await asyncio.gather(*(accept(u, y) for u, y in to_accept))
        say(f"demo reports accepted: {len(to_accept)}; the others stay submitted, and a few "
            f"communes never reported (missing)")
        await _print_boards(client, campaign_id)


async def _print_boards(client: httpx.AsyncClient, campaign_id: str) -> None:
    for year in demo.YEARS:
        counts = (await client.get(f"/v1/campaigns/{campaign_id}/status",
                                   params={"year": year})).json()["counts"]
        say(f"  {year}: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                             or "no units in the local hierarchy that year"))


async def show_summaries(token: str, ids: dict[str, str]) -> None:
    """The demo campaign's years in the reporting views (fed by the events), the 2020 central
    summary published to the ministry feed, and a curl for each."""
    province = ids["44"]
    base = f"http://127.0.0.1:{SERVICES['reporting']}"
    async with httpx.AsyncClient(base_url=base, headers={"authorization": f"Bearer {token}"},
                                 timeout=30) as client:
        started = time.perf_counter()
        async for attempt in AsyncRetrying(wait=wait_fixed(0.5), stop=stop_after_delay(300),
                                           reraise=True):
            with attempt:
                fresh = (await client.get("/v1/freshness")).json()
                assert all(t["lag"] == 0 for t in fresh["topics"]), fresh
                campaigns = [c for c in (await client.get("/v1/campaigns")).json()
                             if c["code"] == DEMO_CAMPAIGN["code"]]
                assert campaigns, "the demo campaign is not in the views yet"
        campaign_id = campaigns[0]["campaign_id"]
        say(f"reporting views caught up with the event stream in "
            f"{time.perf_counter() - started:.1f} s")
        say("  year  poor rate  reduction  target met  on time / late / missing")
        for year in demo.YEARS:
            r = await client.get("/v1/summaries/provincial", params={
                "campaign_id": campaign_id, "year": year, "province_id": province})
            if r.status_code != 200:
                continue
            p = r.json()["province"]
            c = p["compliance"]
            rate = f"{p['poor_rate_pct']:.2f} %" if p["poor_rate_pct"] is not None else "-"
            cut = f"{p['reduction_pp']:.2f} pp" if p["reduction_pp"] is not None else "-"
            met = "-" if p["target"] is None or p["target"]["met"] is None else (
                "yes" if p["target"]["met"] else "no")
            say(f"  {year}  {rate:>9}  {cut:>9}  {met:>10}  "
                f"{c['on_time']} / {c['late']} / {c['missing']}")
        published = await client.post("/v1/feed", json={
            "campaign_id": campaign_id, "year": 2020, "province_id": province})
        if published.status_code == 201:
            say(f"central summary 2020 published to the ministry feed as snapshot "
                f"{published.json()['seq']}")
    q = f"campaign_id={campaign_id}&province_id={province}"
    say("Summaries (any valid token reads them):")
    for path in (f"/v1/summaries/provincial?{q}&year=2020",
                 f"/v1/summaries/provincial?{q}&year=2019&hierarchy=current",
                 f"/v1/summaries/central?{q}&year=2020",
                 f"/v1/compliance?campaign_id={campaign_id}&year=2020&punctuality=missing",
                 f"/v1/rankings?campaign_id={campaign_id}&year=2020&level=district",
                 f"/v1/trends/{province}?campaign_id={campaign_id}",
                 "/v1/feed?after=0", "/v1/freshness"):
        say(f"  curl -H \"Authorization: Bearer $TOKEN\" '{base}{path}'")
    awards = f"http://127.0.0.1:{SERVICES['awards']}"
    say("Documents and files (any valid token; -o saves them):")
    for name, path in (
            ("bao-cao-2020.docx", f"/v1/documents/yearly-report.docx?{q}&year=2020"),
            ("tong-ket-2017-2020.docx", f"/v1/documents/final-review.docx?{q}"),
            ("tong-hop-2020.xlsx", f"/v1/exports/provincial-summary.xlsx?{q}&year=2020"),
            ("bieu-0603-2017-2020.xlsx",
             f"/v1/statistics/0603.xlsx?campaign_id={campaign_id}&from_year=2017"
             "&to_year=2020")):
        say(f"  curl -H \"Authorization: Bearer $TOKEN\" -o {name} '{base}{path}'")
    say(f"Public page (no token): {awards}/public/2017  feed: {awards}/public/feed.atom")


def main() -> int:
    # From the first moment, Ctrl-C or SIGTERM (also when started in the background, where
    # SIGINT comes in ignored) lands in the `finally` below, which stops what was started.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    before = subprocess.run([*STACK, "status"], capture_output=True, text=True).stdout
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        subprocess.run([*STACK, "up"], check=True)
        env = stack_env(os.environ)
        LOGS.mkdir(parents=True, exist_ok=True)
        for name, port in SERVICES.items():
            log = (LOGS / f"{name}.log").open("ab")
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", f"services.{name}.api:main",
                 "--host", "127.0.0.1", "--port", str(port)],
                cwd=REPO, env=env, stdout=log, stderr=log,
            )
        for name, port in SERVICES.items():
            asyncio.run(wait_healthy(f"http://127.0.0.1:{port}", procs[name], name))
        private, _ = keygen()
        token = mint(private.read_bytes(), subject="demo-admin", roles=["admin"], unit_id=None)
        ids = asyncio.run(load_demo(token))
        asyncio.run(load_indicators_demo(token, ids, mint(
            private.read_bytes(), subject="demo-reviewer", roles=["admin"], unit_id=None)))
        key = private.read_bytes()
        asyncio.run(AwardsDemo(
            f"http://127.0.0.1:{SERVICES['awards']}", f"http://127.0.0.1:{SERVICES['indicators']}",
            ids, lambda sub, role, unit: mint(key, subject=sub, roles=[role],
                                              unit_id=uuid.UUID(unit) if unit else None),
            say).load())
        asyncio.run(show_summaries(token, ids))
        say("")
        say("The yearly reports 2016-2020 of campaign chung-tay-2017-2020 are SYNTHETIC demo "
            "data (invented figures; see services/indicators/demo.py).")
        say("chungtay is running. Services (OpenAPI docs at /docs, metrics at /metrics):")
        for name, port in SERVICES.items():
            say(f"  {name:<13} http://127.0.0.1:{port}/docs   http://127.0.0.1:{port}/metrics")
        say("")
        say("A development token for each role (valid 8 hours):")
        say("  .venv/bin/python -m chungtay_common.tokens mint --sub me --role admin")
        say("  .venv/bin/python -m chungtay_common.tokens mint --sub me --role registrar "
            "--unit <unit id>")
        say("  roles: admin, board, registrar, reporter, reviewer, council, chairman, viewer")
        say("")
        say("Try:  TOKEN=$(.venv/bin/python -m chungtay_common.tokens mint --sub me --role admin)")
        say(f"      curl -H \"Authorization: Bearer $TOKEN\" "
            f"'http://127.0.0.1:{SERVICES['reporting']}/v1/units/tree?as_of=2020-01-01'")
        say("Rebuild the reporting views from the topics: make rebuild")
        say(f"Logs: {LOGS}.  Ctrl-C stops everything this command started.")
        while all(p.poll() is None for p in procs.values()):
            time.sleep(1)
        say("a service exited; see its log")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        say("stopping services ...")
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        # stop only the parts of the stack this command started
        if not re.search(r"^kafka +running", before, re.M):
            subprocess.run([*STACK, "kafka-stop"], check=False)
        if not re.search(r"^postgres +running", before, re.M):
            subprocess.run([*STACK, "pg-stop"], check=False)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
