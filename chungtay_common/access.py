"""Who may call each route: every service states, route by route, the roles that may call it
(or any valid token, or no token at all) and the unit its scope is checked against.

The statement is enforced at the door: the roles are checked as soon as the token is, before
the body is validated and before an uploaded file is read (``auth.bearer_principal`` calls
``AccessRules.check``; FastAPI parses a JSON body, bounded by the body limit, first). The use
case then applies the finer rules (the stage of a dossier, the unit's place in the hierarchy
on the day of the action). The same table is written into the OpenAPI document (``x-access``)
and the README's API tables, and a route without an entry cannot start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from chungtay_common.auth import Principal, Role
from chungtay_common.errors import Forbidden
from chungtay_common.messages import en_vi


@dataclass(frozen=True)
class Access:
    """Who may call one route. ``roles`` None: any valid token; ``public``: no token needed.
    ``scope``: the unit the caller's subtree is checked against ("" when nothing is scoped:
    catalogues and aggregate figures)."""

    roles: frozenset[Role] | None
    scope: str = ""
    public: bool = False

    def document(self) -> dict[str, Any]:
        return {"roles": None if self.roles is None else sorted(r.value for r in self.roles),
                "public": self.public, "scope": self.scope or None}

    def who(self) -> str:
        """For people: "no token", "any valid token", or the roles."""
        if self.public:
            return "no token"
        if self.roles is None:
            return "any valid token"
        return ", ".join(sorted(r.value for r in self.roles))


def public(scope: str = "") -> Access:
    return Access(roles=None, scope=scope, public=True)


def any_token(scope: str = "") -> Access:
    return Access(roles=None, scope=scope)


def roles(*allowed: Role, scope: str = "") -> Access:
    return Access(roles=frozenset(allowed), scope=scope)


# /health and /metrics, which every service has: read by probes and Prometheus, no token
OPERATIONS: dict[str, Access] = {"health": public(), "metrics": public()}


class AccessRules:
    """A service's table, by route name, checked on every request that carries a token."""

    def __init__(self, service: str, table: Mapping[str, Access]) -> None:
        self.service = service
        self.table = {**OPERATIONS, **table}

    def check_complete(self, route_names: Iterable[str]) -> None:
        """Refuse to start with a route no entry covers, or an entry for no route."""
        names = set(route_names)
        missing, extra = names - self.table.keys(), self.table.keys() - names
        if missing or extra:
            raise RuntimeError(f"{self.service}: routes without an access rule: "
                               f"{sorted(missing)}; rules without a route: {sorted(extra)}")

    def rule(self, route_name: str) -> Access:
        return self.table[route_name]

    def check(self, request: Request, principal: Principal) -> None:
        """Refuse (403) a caller holding none of the route's roles. A route unknown to the
        table is refused too (closed by default)."""
        name = getattr(request.scope.get("route"), "name", None)
        rule = self.table.get(name or "")
        if rule is None:
            raise Forbidden(en_vi("no one may call this route",
                                  "không ai được gọi đường dẫn này"))
        if rule.roles is not None and not principal.roles & rule.roles:
            # as ``require_role`` says it (the administrator, when allowed, goes unsaid)
            wanted = ", ".join(r.value for r in Role if r in rule.roles and r is not Role.ADMIN)
            raise Forbidden(f"this action needs one of the roles: {wanted}")
