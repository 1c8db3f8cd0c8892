from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import TestStack
from tests.harness import ServiceProcess


@pytest.fixture(scope="module")
async def registration_proc(stack: TestStack) -> AsyncIterator[ServiceProcess]:
    proc = ServiceProcess(stack, "registration")
    await proc.start()
    yield proc
    await proc.stop()


@pytest.fixture(scope="module")
async def reporting_proc(stack: TestStack) -> AsyncIterator[ServiceProcess]:
    proc = ServiceProcess(stack, "reporting")
    await proc.start()
    yield proc
    await proc.stop()
