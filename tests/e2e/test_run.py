"""`make run` as a new user meets it: it starts again on the data it left (their own units in
it), and its supervisor starts a killed service again, which catches up with what it missed."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from chungtay_common.db import drop_database
from chungtay_common.settings import ServiceSettings
from chungtay_common.stack import SERVICES
from chungtay_common.tokens import keygen, mint
from tests.conftest import REPO, TestStack, delete_topics, next_code
from tests.harness import LOG_DIR, free_port
from tests.support import Json, bearer, eventually, find, ok, register_unit

pytestmark = pytest.mark.e2e

RUNNING = "chungtay is running."


@dataclass
class Run:
    """``deploy/local/run.py`` in a namespace of its own, on ports of its own."""

    namespace: str
    ports: dict[str, int]
    log: Path
    smtp_port: int = field(default_factory=free_port)
    lines: list[str] = field(default_factory=list)
    proc: asyncio.subprocess.Process | None = None
    _reader: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 300) -> None:
        self.lines = []
        env = {**os.environ, "CHUNGTAY_TOPIC_NAMESPACE": self.namespace,
               "CHUNGTAY_SMTP_PORT": str(self.smtp_port),
               **{f"CHUNGTAY_{name.upper()}_PORT": str(port) for name, port in self.ports.items()}}
        env.pop("CHUNGTAY_ENVIRONMENT", None)  # a developer's `make run`: development
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(REPO / "deploy" / "local" / "run.py"), cwd=REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self._reader = asyncio.create_task(self._read())
        async for attempt in eventually(timeout):
            with attempt:
                assert self.proc.returncode is None, f"run.py exited: see {self.log}"
                assert any(line.startswith(RUNNING) for line in self.lines)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with self.log.open("a") as out:
            async for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                self.lines.append(line)
                out.write(line + "\n")
                out.flush()

    async def stop(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 60)
        if self._reader is not None:
            await self._reader
        return code

    def status(self) -> Json:
        path = REPO / ".local" / "run" / f"services-{self.namespace}.json"
        status: Json = json.loads(path.read_text())
        return status

    def client(self, service: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.ports[service]}", timeout=30)


@pytest.fixture
async def run(stack: TestStack) -> AsyncIterator[Run]:
    namespace = f"{stack.namespace}run"
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    it = Run(namespace, {name: free_port() for name in SERVICES}, LOG_DIR / f"{namespace}.log")
    try:
        yield it
    finally:
        if it.proc is not None and it.proc.returncode is None:
            it.proc.kill()
            await it.proc.wait()
        settings = stack.settings(ServiceSettings, "registration")
        for service in SERVICES:
            await drop_database(settings.dsn("postgres"), f"{namespace}_{service}")
        await delete_topics(settings, namespace)
        shutil.rmtree(REPO / ".local" / f"mail-{namespace}", ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_make_run_starts_again_on_its_data_and_restarts_a_killed_service(
    run: Run,
) -> None:
    private, _ = keygen()  # the development key `make run`'s services trust
    admin = bearer(mint(private.read_bytes(), subject="new-user", roles=["admin"], unit_id=None))

    await run.start()
    assert not [line for line in run.lines if "could not be loaded" in line], run.lines
    # the demo's reminders reached the local mailbox, one to each district and commune
    assert any("reminders (SYNTHETIC): 167 contact points added" in line
               and "167 reminder emails sent" in line for line in run.lines), run.lines
    maildir = REPO / ".local" / f"mail-{run.namespace}" / "new"
    assert len(list(maildir.iterdir())) == 167
    async with run.client("reporting") as reporting, run.client("registration") as registration:
        tree: Json = ok(await reporting.get("/v1/units/tree", params={"as_of": "2020-01-01"},
                                            headers=admin), 200)
        district = tree["roots"][0]["children"][0]
        # a new user registers a commune of their own in the demo province
        mine = await register_unit(registration, admin, kind="commune", subkind="xa",
                                   code=next_code(), name="Xã Của Tôi", parent=district["unit_id"])

        # the reporting service killed: the supervisor starts it again, the others keep serving
        killed = run.status()["reporting"]["pid"]
        os.kill(killed, signal.SIGKILL)
        while_down = await register_unit(registration, admin, kind="commune", subkind="xa",
                                         code=next_code(), name="Xã Đăng Ký Khi Báo Cáo Dừng",
                                         parent=district["unit_id"])
        async for attempt in eventually(60):
            with attempt:
                status = run.status()["reporting"]
                assert status["restarts"] == 1 and status["last_exit"] == "signal 9", status
                assert status["pid"] != killed
                tree = ok(await reporting.get("/v1/units/tree", params={"as_of": "2020-01-01"},
                                              headers=admin), 200)
                assert find(tree, mine["unit_id"]) and find(tree, while_down["unit_id"])
        assert any("supervisor: reporting exited (signal 9)" in line for line in run.lines)
        assert all(s["restarts"] == 0 for name, s in run.status().items() if name != "reporting")
    pids = [s["pid"] for s in run.status().values()]

    assert await run.stop() == 0
    assert not [pid for pid in pids if _alive(pid)], "services left running"

    # `make run` again, on the data it left: it starts, the demo is there once, so are theirs
    await run.start()
    assert not [line for line in run.lines if "could not be loaded" in line], run.lines
    assert any(line.startswith("demo units: 0 registered") for line in run.lines), run.lines
    assert any("indicators demo already loaded" in line for line in run.lines), run.lines
    assert any("reminders (SYNTHETIC): 0 contact points added" in line
               for line in run.lines), run.lines
    assert len(list(maildir.iterdir())) == 167  # nothing sent twice
    async with run.client("reporting") as reporting:
        tree = ok(await reporting.get("/v1/units/tree", params={"as_of": "2020-01-01"},
                                      headers=admin), 200)
        assert find(tree, mine["unit_id"]) and find(tree, while_down["unit_id"])
        assert tree["totals"]["commune"] == 161
    assert await run.stop() == 0
