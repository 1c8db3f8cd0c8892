"""Generated requests from each service's own OpenAPI document (schemathesis): whatever the
input, the answer is never a server error. Bad input is a 4xx naming the field."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chungtay_common.auth import Role
from chungtay_common.db import drop_database, ensure_database
from chungtay_common.settings import ServiceSettings
from chungtay_common.stack import ensure_topics
from tests.conftest import TestStack, delete_topics
from tests.harness import ServiceProcess

pytestmark = pytest.mark.fuzz

SERVICES = ("registration", "indicators", "awards", "reporting")
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.fixture(scope="module")
async def services(stack: TestStack) -> AsyncIterator[dict[str, ServiceProcess]]:
    """The services on databases and topics of their own: generated requests retire
    indicators, create campaigns and more, which must not reach the other tests."""
    namespace = f"{stack.namespace}fz"
    settings = stack.settings(ServiceSettings, "registration")
    admin = settings.dsn("postgres")
    databases = {name: f"{namespace}_{name}" for name in SERVICES}
    for db in databases.values():
        await ensure_database(admin, db)
    await ensure_topics(settings, namespace)
    procs = {name: ServiceProcess(stack, name, extra_env={
        "CHUNGTAY_PG_DATABASE": databases[name], "CHUNGTAY_TOPIC_NAMESPACE": namespace})
        for name in SERVICES}
    await asyncio.gather(*(p.start() for p in procs.values()))
    yield procs
    await asyncio.gather(*(p.stop() for p in procs.values()))
    for db in databases.values():
        await drop_database(admin, db)
    await delete_topics(settings, namespace)


@pytest.mark.parametrize("service", SERVICES)
async def test_no_generated_request_gets_a_server_error(
    stack: TestStack, services: dict[str, ServiceProcess], service: str
) -> None:
    proc = services[service]
    token = stack.token(Role.ADMIN, sub="fuzz")
    run = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "run", f"{proc.url}/openapi.json",
        "--checks", "not_a_server_error", "--max-examples", "12", "--seed", "20261127",
        "--header", f"Authorization: Bearer {token}", "--no-color",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(run.communicate(), 300)
    report = out.decode(errors="replace")
    assert run.returncode == 0, report[-6000:]
    assert " passed" in report and "generated" in report, report[-2000:]
