"""What every `make bench` script needs: the services as their own processes (uvicorn, as
`make run` starts them) on databases and a topic namespace of the run, created for it and
dropped afterwards; an administrator's token; a timed request."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from chungtay_common.db import drop_database, ensure_database  # noqa: E402
from chungtay_common.settings import ServiceSettings  # noqa: E402
from chungtay_common.stack import ensure_topics, stack_env, wait_for_kafka, wait_for_postgres  # noqa: E402
from chungtay_common.tokens import KEY_DIR as KEYS  # noqa: E402
from chungtay_common.tokens import keygen, mint  # noqa: E402

LOGS = REPO / ".local" / "logs"
BENCH = Path(__file__).resolve().parent


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class Run:
    """The run's services: their URLs, its namespace, settings and environment, a token."""

    namespace: str
    settings: ServiceSettings
    env: dict[str, str]  # the local stack's, for a process of the run
    urls: dict[str, str]
    key: bytes
    token: str  # an administrator's

    def dsn(self, service: str) -> str:
        return self.settings.model_copy(
            update={"pg_database": f"{self.namespace}_{service}"}).dsn()

    def service_env(self, service: str) -> dict[str, str]:
        return {**self.env, "CHUNGTAY_TOPIC_NAMESPACE": self.namespace,
                "CHUNGTAY_PG_DATABASE": f"{self.namespace}_{service}"}


async def healthy(url: str, proc: asyncio.subprocess.Process) -> None:
    async for attempt in AsyncRetrying(wait=wait_fixed(0.25), stop=stop_after_delay(90),
                                       retry=retry_if_exception_type(
                                           (httpx.HTTPError, AssertionError)), reraise=True):
        with attempt:
            assert proc.returncode is None, "a service exited: see .local/logs/bench-*.log"
            async with httpx.AsyncClient(timeout=2) as client:
                assert (await client.get(f"{url}/health")).status_code == 200


async def drop_topics(settings: ServiceSettings, namespace: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(namespace)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


@asynccontextmanager
async def prepared(services: Sequence[str]) -> AsyncIterator[Run]:
    """A namespace of the run: a database per service in ``services`` and the topics, created
    for it; dropped, however the block ends. No service started (see ``serve``)."""
    env = stack_env(os.environ)
    os.environ.update(env)
    namespace = f"bench{uuid.uuid4().hex[:6]}"
    settings = ServiceSettings(topic_namespace=namespace)
    await wait_for_postgres(settings)
    await wait_for_kafka(settings)
    admin = settings.dsn("postgres")
    for s in services:
        await ensure_database(admin, f"{namespace}_{s}")
    await ensure_topics(settings, namespace)
    private, _ = keygen()
    key = private.read_bytes()
    run = Run(namespace, settings, env, {}, key,
              mint(key, subject="bench", roles=["admin"], unit_id=None))
    try:
        yield run
    finally:
        for s in services:
            await drop_database(admin, f"{namespace}_{s}")
        await drop_topics(settings, namespace)


@asynccontextmanager
async def serve(run: Run, services: Sequence[str], first_port: int, label: str,
                tree: Path = REPO, extra_env: dict[str, str] | None = None,
                targets: dict[str, str] | None = None) -> AsyncIterator[dict[str, str]]:
    """``services`` of the source tree ``tree`` (another checkout: the same venv, that tree's
    code) started on ports from ``first_port`` (logs: ``.local/logs/bench-<label>-*``) on the
    run's databases, healthy; their URLs (also put in ``run.urls``). Stopped however the block
    ends. ``targets`` names the app factory of a process that is not a service (default:
    ``services.<name>.api:main``; a module of deploy/bench may be named)."""
    procs: dict[str, asyncio.subprocess.Process] = {}
    urls: dict[str, str] = {}
    LOGS.mkdir(parents=True, exist_ok=True)
    try:
        for i, s in enumerate(services):
            env = {**run.service_env(s), "PYTHONPATH": f"{tree}:{BENCH}", **(extra_env or {})}
            if tree != REPO:  # another checkout: this one's keys and local state
                env.setdefault("CHUNGTAY_JWT_PUBLIC_KEY_FILE",
                               str(KEYS / "jwt_public.pem"))
                env.setdefault("CHUNGTAY_STATE_DIR", str(REPO / ".local"))
            target = (targets or {}).get(s, f"services.{s}.api:main")
            with (LOGS / f"bench-{label}-{s}.log").open("ab") as log:
                procs[s] = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "uvicorn", "--factory", target,
                    "--host", "127.0.0.1", "--port", str(first_port + i), "--no-access-log",
                    cwd=tree, env=env, stdout=log, stderr=log)
            urls[s] = f"http://127.0.0.1:{first_port + i}"
        for s in services:
            await healthy(urls[s], procs[s])
        run.urls.update(urls)
        yield urls
    finally:
        for p in procs.values():
            if p.returncode is None:
                p.terminate()
        for p in procs.values():
            await asyncio.wait_for(p.wait(), 30)


@asynccontextmanager
async def running(services: Sequence[str], first_port: int, label: str) -> AsyncIterator[Run]:
    """``services`` started on ports from ``first_port`` (logs: ``.local/logs/bench-<label>-*``),
    healthy; stopped, their databases and topics dropped, however the block ends."""
    async with prepared(services) as run, serve(run, services, first_port, label):
        yield run
    say(f"machine: {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB")


@dataclass(frozen=True)
class Finished:
    """A command run to its end: its output, status, peak resident memory and duration."""

    stdout: str
    stderr: str
    returncode: int
    max_rss_bytes: int
    seconds: float


def measured(command: Sequence[str], env: dict[str, str], cwd: Path = REPO) -> Finished:
    """Run ``command`` and read its own peak RSS from ``wait4`` (not the largest of every
    child the harness ever had, as ``RUSAGE_CHILDREN`` would give). Blocking: call it in a
    thread."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Finished(out.read().decode(), err.read().decode(), proc.returncode,
                        usage.ru_maxrss * 1024, seconds)


async def timed(client: httpx.AsyncClient, url: str, params: dict[str, str]
                ) -> tuple[float, int]:
    """Seconds one GET took, and the size of its body."""
    started = time.perf_counter()
    r = await client.get(url, params=params)
    r.raise_for_status()
    return time.perf_counter() - started, len(r.content)
