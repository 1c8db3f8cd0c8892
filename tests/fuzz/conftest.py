"""The contract tests' services, started once for the group, and their figures (operations,
requests, failures per service), printed at the end of the run and kept in
``<pytest's base temp>/contract-summary.txt`` for the record."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from chungtay_common.db import drop_database, ensure_database
from chungtay_common.settings import ServiceSettings
from chungtay_common.stack import ensure_topics
from tests.conftest import TestStack, delete_topics
from tests.harness import ServiceProcess, running

SERVICES = ("registration", "indicators", "awards", "reporting")

SUMMARY = pytest.StashKey[list[str]]()


@pytest.fixture(scope="package")
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
    async with running(*procs.values()):
        yield procs
    for db in databases.values():
        await drop_database(admin, db)
    await delete_topics(settings, namespace)


@pytest.fixture(scope="session")
def contract_summary(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], None]:
    """Adds a line to the summary."""
    lines = request.config.stash.setdefault(SUMMARY, [])
    path = tmp_path_factory.getbasetemp() / "contract-summary.txt"

    def add(line: str) -> None:
        lines.append(line)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    lines = config.stash.get(SUMMARY, [])
    if lines:
        terminalreporter.section("contract tests")
        for line in lines:
            terminalreporter.write_line(line)
