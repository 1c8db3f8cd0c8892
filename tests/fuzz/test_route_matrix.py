"""The route matrix, built from each running service's own routes (its OpenAPI document): every
route states who may call it and which unit its scope is checked against; the roles are
enforced before the body is validated or a file read; a route without a statement cannot start."""

from __future__ import annotations

import re
import uuid
from importlib import import_module
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from chungtay_common.access import AccessRules, any_token, roles
from chungtay_common.auth import Role
from services import access_tables
from tests.conftest import TestStack
from tests.fuzz.conftest import SERVICES
from tests.harness import ServiceProcess
from tests.support import bearer

pytestmark = pytest.mark.fuzz

REFUSED_FOR_ROLE = "this action needs one of the roles"
# a value for each path parameter: any well-formed one will do, the roles come first
PATH_VALUES = {"year": "2020", "kind": "person", "seq": "1", "code": "lao_dong_tien_tien"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in document["paths"].items()
            for method, op in ops.items()]


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m[1], str(uuid.uuid4())), path)


def _request(method: str, path: str, op: dict[str, Any], headers: dict[str, str]
             ) -> dict[str, Any]:
    """The request for one operation: a schema-invalid JSON body (``{}``), or a few bytes of
    the first media type it takes. A role the route refuses is refused before either is read."""
    content = op.get("requestBody", {}).get("content", {})
    kind = next(iter(content), None)
    if kind is None:
        return {"method": method, "url": _url(path), "headers": headers}
    body = b"{}" if kind == "application/json" else b"not a real file"
    return {"method": method, "url": _url(path), "content": body,
            "headers": headers | {"Content-Type": kind, "X-File-Name": "x.pdf"}}


@pytest.mark.parametrize("service", SERVICES)
async def test_every_route_states_who_may_call_it_and_is_held_to_it(
    stack: TestStack, services: dict[str, ServiceProcess], service: str
) -> None:
    async with httpx.AsyncClient(base_url=services[service].url, timeout=30) as client:
        document = (await client.get("/openapi.json")).json()
        operations = _operations(document)
        assert len(operations) > 5
        refused = allowed = 0
        for method, path, op in operations:
            access = op.get("x-access")
            assert access is not None, f"{op['operationId']} states no access rule"
            assert "Who may call: " in op["description"], op["operationId"]
            label = f"{op['operationId']} ({method} {path})"
            r = await client.request(**_request(method, path, op, {}))
            if access["public"]:
                assert r.status_code != 401, label
                continue
            assert r.status_code == 401, (label, r.status_code, r.text)
            for role in Role:
                token = bearer(stack.token(role, unit=uuid.uuid4(), sub=f"matrix-{role}"))
                r = await client.request(**_request(method, path, op, token))
                detail = r.json().get("detail", "") if r.headers.get(
                    "content-type", "").startswith("application/problem+json") else ""
                if access["roles"] is None or role.value in access["roles"]:
                    assert r.status_code != 401 and REFUSED_FOR_ROLE not in detail, (
                        label, role, r.status_code, detail)
                    allowed += 1
                else:
                    assert r.status_code == 403 and REFUSED_FOR_ROLE in detail, (
                        label, role, r.status_code, r.text)
                    refused += 1
        # the matrix is not empty on either side
        assert refused > 0 and allowed > 0, (refused, allowed)


@pytest.mark.parametrize("service", SERVICES)
def test_a_route_without_an_access_rule_does_not_start(
    monkeypatch: pytest.MonkeyPatch, service: str
) -> None:
    api = import_module(f"services.{service}.api")
    table = import_module(f"services.{service}.access").ACCESS
    settings_module = import_module(f"services.{service}.settings")
    settings_class = next(v for k, v in vars(settings_module).items()
                          if k.endswith("Settings") and k != "ServiceSettings")
    settings = settings_class(pg_password=SecretStr("x"))
    assert api.build_app(settings).state.access.table.keys() >= table.keys()
    first = next(iter(table))
    monkeypatch.delitem(table, first)
    with pytest.raises(RuntimeError, match=f"routes without an access rule: \\['{first}'\\]"):
        api.build_app(settings)
    monkeypatch.setitem(table, "no_such_route", any_token())
    monkeypatch.setitem(table, first, roles(Role.ADMIN))
    with pytest.raises(RuntimeError, match="rules without a route: \\['no_such_route'\\]"):
        api.build_app(settings)


def test_the_readme_says_who_may_call_what() -> None:
    """The README's access tables are the services' own, as ``python -m services.access_tables``
    writes them."""
    readme = access_tables.README.read_text(encoding="utf-8")
    assert access_tables.readme_tables() in readme, "run: python -m services.access_tables"


def test_rules_are_checked_by_route_name() -> None:
    rules = AccessRules("x", {"a": roles(Role.BOARD)})
    rules.check_complete(["a", "health", "metrics"])
    with pytest.raises(RuntimeError):
        rules.check_complete(["a", "b", "health", "metrics"])
