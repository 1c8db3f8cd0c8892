"""`make run`: start the local stack and every service, load the demo data, print how to use it.

Ctrl-C stops the services, and the stack too when this script started it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from chungtay_common.tokens import keygen, mint  # noqa: E402

STACK = ["bash", str(REPO / "deploy" / "local" / "stack.sh")]
SERVICES = {
    "registration": int(os.environ.get("CHUNGTAY_REGISTRATION_PORT", "8001")),
    "reporting": int(os.environ.get("CHUNGTAY_REPORTING_PORT", "8002")),
}
DEMO_UNITS = REPO / "services" / "registration" / "data" / "quang_binh_units_2020.csv"
DEMO_VALID_FROM = "2017-01-01"
LOGS = REPO / ".local" / "logs"


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def stack_env() -> dict[str, str]:
    env = dict(os.environ)
    for line in (REPO / ".local" / "stack.env").read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = value
    return env


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


async def load_demo(token: str) -> None:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{SERVICES['registration']}",
        headers={"authorization": f"Bearer {token}"}, timeout=60,
    ) as client:
        r = await client.post(
            "/v1/units/import", params={"valid_from": DEMO_VALID_FROM},
            content=DEMO_UNITS.read_bytes(), headers={"content-type": "text/csv"},
        )
        r.raise_for_status()
        result = r.json()
        say(f"demo units: {result['created']} registered, {result['unchanged']} already there "
            f"(Quảng Bình, 8 districts, 159 communes, valid from {DEMO_VALID_FROM})")
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


def main() -> int:
    started_stack = subprocess.run([*STACK, "status"], capture_output=True).returncode != 0
    subprocess.run([*STACK, "up"], check=True)
    env = stack_env()
    LOGS.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
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
        asyncio.run(load_demo(token))
        say("")
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
        say(f"Logs: {LOGS}.  Ctrl-C stops everything this command started.")
        signal.signal(signal.SIGTERM, _interrupt)
        try:
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
        if started_stack:
            subprocess.run([*STACK, "down"], check=False)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
