"""What every `make bench` script needs: the services as their own processes (uvicorn, as
`make run` starts them) on databases and a topic namespace of the run, created for it and
dropped afterwards; an administrator's token; a timed request."""

from __future__ import annotations

import asyncio
import os
import sys
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
from chungtay_common.tokens import keygen, mint  # noqa: E402

LOGS = REPO / ".local" / "logs"


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
async def running(services: Sequence[str], first_port: int, label: str) -> AsyncIterator[Run]:
    """``services`` started on ports from ``first_port`` (logs: ``.local/logs/bench-<label>-*``),
    healthy; stopped, their databases and topics dropped, however the block ends."""
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
    procs: dict[str, asyncio.subprocess.Process] = {}
    LOGS.mkdir(parents=True, exist_ok=True)
    try:
        for i, s in enumerate(services):
            with (LOGS / f"bench-{label}-{s}.log").open("ab") as log:
                procs[s] = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "uvicorn", "--factory", f"services.{s}.api:main",
                    "--host", "127.0.0.1", "--port", str(first_port + i), "--no-access-log",
                    cwd=REPO, env=run.service_env(s), stdout=log, stderr=log)
            run.urls[s] = f"http://127.0.0.1:{first_port + i}"
        for s in services:
            await healthy(run.urls[s], procs[s])
        yield run
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            await asyncio.wait_for(p.wait(), 30)
        for s in services:
            await drop_database(admin, f"{namespace}_{s}")
        await drop_topics(settings, namespace)
        say(f"machine: {os.cpu_count()} cores, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB")


async def timed(client: httpx.AsyncClient, url: str, params: dict[str, str]
                ) -> tuple[float, int]:
    """Seconds one GET took, and the size of its body."""
    started = time.perf_counter()
    r = await client.get(url, params=params)
    r.raise_for_status()
    return time.perf_counter() - started, len(r.content)
