"""Services run as real processes (uvicorn) for end-to-end tests, and in-process clients."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from tests.conftest import REPO, TestStack
from tests.support import eventually

LOG_DIR = REPO / ".local" / "logs" / "tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServiceProcess:
    """One service in its own uvicorn process, configured for this test run."""

    def __init__(self, stack: TestStack, service: str, extra_env: dict[str, str] | None = None
                 ) -> None:
        self.stack = stack
        self.service = service
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = extra_env or {}
        self.proc: asyncio.subprocess.Process | None = None
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path: Path = LOG_DIR / f"{stack.namespace}-{service}.log"

    async def start(self, timeout: float = 60) -> None:
        env = {**os.environ, **self.stack.settings_env(self.service), **self.extra_env}
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "uvicorn", "--factory", f"services.{self.service}.api:main",
            "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
            cwd=REPO, env=env, stdout=log, stderr=log,
        )
        log.close()
        async for attempt in eventually(timeout):
            with attempt:
                assert self.proc.returncode is None, f"{self.service} exited: see {self.log_path}"
                async with httpx.AsyncClient(base_url=self.url, timeout=2) as client:
                    r = await client.get("/health")
                    assert r.status_code == 200, r.text

    async def stop(self, kill: bool = False) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()

    def client(self) -> httpx.AsyncClient:
        """A client of the process; requests carry their own ``bearer(...)`` header."""
        return httpx.AsyncClient(base_url=self.url, timeout=30)


@asynccontextmanager
async def running(*procs: ServiceProcess) -> AsyncIterator[None]:
    """The services started side by side for the block, and stopped however it ends."""
    try:
        await asyncio.gather(*(proc.start() for proc in procs))
        yield
    finally:
        await asyncio.gather(*(proc.stop() for proc in procs))


@asynccontextmanager
async def in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``app`` served in this process, with its lifespan run."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app",
                                     timeout=30) as client:
            yield client


async def stack_command(*args: str) -> None:
    """Run ``deploy/local/stack.sh`` (e.g. ``kafka-stop``) and fail loudly if it fails. A part
    started again keeps the durability it was running with (``make run``'s stack stays
    durable)."""
    env = dict(os.environ)
    for part in ("kafka", "pg"):
        mode = REPO / ".local" / "run" / f"{part}.durability"
        if args and args[0].startswith(part) and mode.exists():
            env["CHUNGTAY_STACK_DURABILITY"] = mode.read_text().strip()
    proc = await asyncio.create_subprocess_exec(
        "bash", str(REPO / "deploy" / "local" / "stack.sh"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
