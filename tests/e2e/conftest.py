from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from chungtay_common.auth import Role
from tests.conftest import TestStack
from tests.harness import ServiceProcess, running
from tests.support import bearer


@pytest.fixture(scope="module")
async def registration_proc(stack: TestStack) -> AsyncIterator[ServiceProcess]:
    proc = ServiceProcess(stack, "registration")
    async with running(proc):
        yield proc


@pytest.fixture(scope="module")
async def reporting_proc(stack: TestStack) -> AsyncIterator[ServiceProcess]:
    proc = ServiceProcess(stack, "reporting")
    async with running(proc):
        yield proc


@pytest.fixture
async def registration(registration_proc: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the registration process (no token: pass ``admin`` or another)."""
    async with registration_proc.client() as client:
        yield client


@pytest.fixture
def admin(stack: TestStack) -> dict[str, str]:
    """The Authorization header of an administrator."""
    return bearer(stack.token(Role.ADMIN))
