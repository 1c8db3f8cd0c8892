"""A Python client generated from each service's OpenAPI document with a maintained generator
(openapi-python-client) works against the running service: the operations are there under
their operation ids, the answers parse into the generated models, an error into Problem."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import uuid
from datetime import date
from types import ModuleType
from typing import Any

import pytest

from chungtay_common.auth import Role
from tests.conftest import TestStack, next_code
from tests.fuzz.conftest import SERVICES
from tests.harness import ServiceProcess

pytestmark = pytest.mark.fuzz

# No post hooks (the generator runs ruff on its output by default): generation depends on
# nothing but the generator.
GENERATOR_CONFIG = "post_hooks: []\n"


@pytest.fixture(scope="package")
async def clients(services: dict[str, ServiceProcess],
                  tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each service's client package, generated once from the document the service serves,
    importable from a directory of this run: service name -> package name."""
    root = tmp_path_factory.mktemp("clients")
    config = root / "generator.yaml"
    config.write_text(GENERATOR_CONFIG, encoding="utf-8")
    packages = {}
    for service in SERVICES:
        async with services[service].client() as http:
            document = (await http.get("/openapi.json")).raise_for_status().json()
        path = root / f"{service}.json"
        path.write_text(json.dumps(document), encoding="utf-8")
        package = f"chungtay_{service}_client"
        generator = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "openapi_python_client", "generate", "--path", str(path),
            "--output-path", str(root / package), "--config", str(config), "--meta", "none",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(generator.communicate(), 120)
        assert generator.returncode == 0, out.decode()
        packages[service] = package
    sys.path.insert(0, str(root))
    return packages


def module(clients: dict[str, str], service: str, name: str) -> ModuleType:
    """``name`` (``api.units.registration_get_unit``, ``models``) of a service's client."""
    return importlib.import_module(f"{clients[service]}.{name}")


def client(clients: dict[str, str], services: dict[str, ServiceProcess], service: str,
           token: str) -> Any:
    return module(clients, service, "client").AuthenticatedClient(
        base_url=services[service].url, token=token, raise_on_unexpected_status=True)


async def test_registration_through_its_generated_client(
    stack: TestStack, services: dict[str, ServiceProcess], clients: dict[str, str]
) -> None:
    models = module(clients, "registration", "models")
    units = "api.units.registration_"
    api = client(clients, services, "registration", stack.token(Role.ADMIN, sub="client"))
    async with api:
        created = await module(clients, "registration", units + "register_unit"
                               ).asyncio_detailed(client=api, body=models.NewUnit(
                                   kind=models.UnitKind.PROVINCE, name="Tỉnh Sinh Mã",
                                   code=next_code(), valid_from=date(2020, 1, 1)))
        assert created.status_code == 201, created.content
        assert isinstance(created.parsed, models.UnitOut)
        got = await module(clients, "registration", units + "get_unit").asyncio(
            client=api, unit_id=created.parsed.unit_id)
        assert isinstance(got, models.UnitOut)
        assert got.unit_id == created.parsed.unit_id
        assert got.kind == models.UnitKind.PROVINCE
        assert got.versions[0].name == "Tỉnh Sinh Mã"
        missing = await module(clients, "registration", units + "get_unit").asyncio_detailed(
            client=api, unit_id=uuid.uuid4())
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.Problem)
        assert (missing.parsed.status, missing.parsed.type_) == (404, "not_found")


async def test_a_refused_token_is_a_problem(
    services: dict[str, ServiceProcess], clients: dict[str, str]
) -> None:
    models = module(clients, "indicators", "models")
    api = client(clients, services, "indicators", "not-a-token")
    async with api:
        refused = await module(clients, "indicators", "api.indicators.indicators_list_indicators"
                               ).asyncio_detailed(client=api)
    assert refused.status_code == 401
    assert isinstance(refused.parsed, models.Problem)
    assert refused.parsed.type_ == "unauthorized"


@pytest.mark.parametrize(("service", "operation", "model"), [
    ("indicators", "api.indicators.indicators_list_indicators", "IndicatorOut"),
    ("awards", "api.catalogue.awards_list_forms", "FormOut"),
])
async def test_catalogues_through_the_generated_clients(
    stack: TestStack, services: dict[str, ServiceProcess], clients: dict[str, str],
    service: str, operation: str, model: str,
) -> None:
    api = client(clients, services, service, stack.token(Role.ADMIN, sub="client"))
    async with api:
        listed = await module(clients, service, operation).asyncio(client=api)
    assert listed, "the seeded catalogue"
    assert all(isinstance(item, getattr(module(clients, service, "models"), model))
               for item in listed)


async def test_reporting_freshness_through_its_generated_client(
    stack: TestStack, services: dict[str, ServiceProcess], clients: dict[str, str]
) -> None:
    models = module(clients, "reporting", "models")
    api = client(clients, services, "reporting", stack.token(Role.ADMIN, sub="client"))
    async with api:
        freshness = await module(clients, "reporting", "api.operations.reporting_freshness"
                                 ).asyncio(client=api)
    assert isinstance(freshness, models.Freshness)
