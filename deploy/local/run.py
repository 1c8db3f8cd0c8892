"""`make run`: start the local stack and every service, load the demo data, print how to use it.

The services run under a supervisor: one that exits is started again after a back-off (1 s,
doubling to 30 s; back to 1 s once it has run a minute), while the others keep serving; each
restart is logged and counted in ``.local/run/services-<namespace>.json``. Loading the demo is
idempotent and never stops the system from starting: what cannot be loaded (the local data
changed it) is said, and the system runs on the data it has.

Ctrl-C or SIGTERM stops the services, and the stack too when this script started it.
``CHUNGTAY_TOPIC_NAMESPACE`` (default ``chungtay``) names the topics and the databases
(``<namespace>_<service>``), and ``CHUNGTAY_<SERVICE>_PORT`` the ports: a test runs a second
system beside the developer's so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import local_mail  # noqa: E402  (beside this script)
from demo_awards import Demo as AwardsDemo  # noqa: E402
from demo_reminders import RemindersDemo  # noqa: E402

from chungtay_common.stack import ready, stack_env  # noqa: E402
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
NAMESPACE = os.environ.get("CHUNGTAY_TOPIC_NAMESPACE", "chungtay")
LOGS = REPO / ".local" / "logs"
# the local mailbox the reminders' emails go to (deploy/local/local_mail.py reads it)
SMTP_PORT = int(os.environ.get("CHUNGTAY_SMTP_PORT", "8025"))
MAILDIR = REPO / ".local" / ("mail" if NAMESPACE == "chungtay" else f"mail-{NAMESPACE}")
RUN = REPO / ".local" / "run"
BACKOFF_FIRST, BACKOFF_MAX, STABLE_AFTER = 1.0, 30.0, 60.0


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class Supervisor:
    """Each service in its own uvicorn process, started again whenever it exits."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.restarts = dict.fromkeys(SERVICES, 0)
        self.exits: dict[str, str] = {}
        self.status = RUN / f"services-{NAMESPACE}.json"
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def log_of(self, name: str) -> Path:
        return LOGS / (f"{name}.log" if NAMESPACE == "chungtay" else f"{NAMESPACE}-{name}.log")

    async def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        RUN.mkdir(parents=True, exist_ok=True)
        for name in SERVICES:
            await self._spawn(name)
        self._tasks = [asyncio.create_task(self._keep(name), name=f"supervise-{name}")
                       for name in SERVICES]

    async def _spawn(self, name: str) -> None:
        env = {**self.env, "CHUNGTAY_TOPIC_NAMESPACE": NAMESPACE,
               "CHUNGTAY_PG_DATABASE": f"{NAMESPACE}_{name}",
               # reminders: emails to the local mailbox, links to this machine's API, and a
               # planning round every 10 s (60 s by default) so the demo's go out soon
               "CHUNGTAY_SMTP_HOST": "127.0.0.1", "CHUNGTAY_SMTP_PORT": str(SMTP_PORT),
               "CHUNGTAY_PUBLIC_URL": f"http://127.0.0.1:{SERVICES['indicators']}",
               "CHUNGTAY_REMINDER_CHECK_SECONDS": "10"}
        with self.log_of(name).open("ab") as log:
            self.procs[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "uvicorn", "--factory", f"services.{name}.api:main",
                "--host", "127.0.0.1", "--port", str(SERVICES[name]),
                cwd=REPO, env=env, stdout=log, stderr=log)
        self._write_status()

    async def _keep(self, name: str) -> None:
        backoff = BACKOFF_FIRST
        while True:
            started = time.monotonic()
            code = await self.procs[name].wait()
            if self._stopping:
                return
            if time.monotonic() - started >= STABLE_AFTER:
                backoff = BACKOFF_FIRST
            self.restarts[name] += 1
            self.exits[name] = f"exit code {code}" if code >= 0 else f"signal {-code}"
            say(f"supervisor: {name} exited ({self.exits[name]}); starting it again in "
                f"{backoff:.0f} s (restart {self.restarts[name]}; log {self.log_of(name)})")
            self._write_status()
            while True:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                try:
                    await self._spawn(name)
                    break
                except OSError as exc:  # out of processes or files: try again, later
                    say(f"supervisor: could not start {name} ({exc}); trying again in "
                        f"{backoff:.0f} s")

    def _write_status(self) -> None:
        status = {name: {"pid": proc.pid, "port": SERVICES[name],
                         "restarts": self.restarts[name], "last_exit": self.exits.get(name)}
                  for name, proc in self.procs.items()}
        tmp = self.status.with_suffix(".tmp")
        tmp.write_text(json.dumps(status, indent=2))
        tmp.replace(self.status)

    async def healthy(self, name: str) -> None:
        url = f"http://127.0.0.1:{SERVICES[name]}/health"
        async for attempt in AsyncRetrying(
            wait=wait_fixed(0.5), stop=stop_after_delay(90), reraise=True,
            retry=retry_if_exception_type((httpx.HTTPError, AssertionError)),
        ):
            with attempt:
                assert self.restarts[name] < 3, f"{name} keeps exiting; see {self.log_of(name)}"
                async with httpx.AsyncClient(timeout=2) as client:
                    r = await client.get(url)
                    assert r.status_code == 200, r.text

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self.status.unlink(missing_ok=True)


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
                missing = set(result["unit_ids_by_code"].values()) - set(_ids(tree["roots"]))
                assert not missing, f"{len(missing)} demo units not in the tree yet"
    say(f"reporting tree has the demo hierarchy (province id {province})")
    ids: dict[str, str] = result["unit_ids_by_code"]
    return ids


def _ids(nodes: list[dict[str, object]]) -> list[str]:
    return [i for n in nodes for i in [str(n["unit_id"]), *_ids(n["children"])]]  # type: ignore[arg-type]


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


async def load_all(token: str, reviewer: str, key: bytes) -> None:
    ids = await load_demo(token)
    await load_indicators_demo(token, ids, reviewer)
    await AwardsDemo(
        f"http://127.0.0.1:{SERVICES['awards']}", f"http://127.0.0.1:{SERVICES['indicators']}",
        ids, lambda sub, role, unit: mint(key, subject=sub, roles=[role],
                                          unit_id=uuid.UUID(unit) if unit else None),
        say).load()
    await RemindersDemo(f"http://127.0.0.1:{SERVICES['indicators']}", token, ids, say).load()
    await show_summaries(token, ids)


async def serve() -> int:
    """Start the services, load the demo, and supervise until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    supervisor = Supervisor(stack_env(os.environ))
    mail = local_mail.serve(SMTP_PORT, MAILDIR)
    try:
        starting = asyncio.create_task(start(supervisor))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # stopped while starting
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return 0
        starting.result()
        await stopping
        return 0
    finally:
        say("stopping services ...")
        await supervisor.stop()
        mail.stop()


async def start(supervisor: Supervisor) -> None:
    await ready(NAMESPACE, NAMESPACE)  # databases and topics (idempotent)
    await supervisor.start()
    for name in SERVICES:
        await supervisor.healthy(name)
    private, _ = keygen()
    key = private.read_bytes()
    token = mint(key, subject="demo-admin", roles=["admin"], unit_id=None)
    reviewer = mint(key, subject="demo-reviewer", roles=["admin"], unit_id=None)
    try:
        await load_all(token, reviewer, key)
    except Exception as exc:  # the local data changed what the demo expects: run anyway
        say(f"note: the demo data could not be loaded completely ({type(exc).__name__}: "
            f"{exc}); the system runs on the data it has. `make stack-down` and removing "
            f".local starts afresh.")
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
    say(f"Reminders' emails: {MAILDIR} (SMTP 127.0.0.1:{SMTP_PORT}); "
        ".venv/bin/python deploy/local/local_mail.py lists them, --show 3 prints the newest")
    say(f"Logs: {LOGS}.  A service that exits is started again (restarts in "
        f"{supervisor.status}).  Ctrl-C stops everything this command started.")


def main() -> int:
    # From the first moment, Ctrl-C or SIGTERM (also when started in the background, where
    # SIGINT comes in ignored) lands in the `finally` below, which stops what was started.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    before = subprocess.run([*STACK, "status"], capture_output=True, text=True).stdout
    try:
        subprocess.run([*STACK, "up"], check=True)
        os.environ.update(stack_env(os.environ))
        return asyncio.run(serve())
    except KeyboardInterrupt:
        return 0
    finally:
        # stop only the parts of the stack this command started
        if not re.search(r"^kafka +running", before, re.M):
            subprocess.run([*STACK, "kafka-stop"], check=False)
        if not re.search(r"^postgres +running", before, re.M):
            subprocess.run([*STACK, "pg-stop"], check=False)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
