"""Bearer JWT authentication and the unit-scope rule.

Tokens are signed with Ed25519 (``EdDSA``); services hold only the public key. Claims:
``sub`` (who), ``roles`` (list of ``Role``), ``unit_id`` (the root of the subtree the caller may
act on; absent only for ``admin``), ``iss``, ``aud``, ``exp``, ``iat``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chungtay_common.errors import Forbidden, Unauthorized
from chungtay_common.events import Actor

log = logging.getLogger(__name__)


class Role(StrEnum):
    ADMIN = "admin"  # operates the system; acts on every unit
    BOARD = "board"  # provincial Emulation-Reward Board
    REGISTRAR = "registrar"  # maintains units in its subtree
    REPORTER = "reporter"  # enters its unit's yearly report
    REVIEWER = "reviewer"  # accepts or returns the reports of the units below it
    COUNCIL = "council"  # district or department emulation-reward council
    CHAIRMAN = "chairman"  # chairman of a People's Committee: grants awards at its level
    VIEWER = "viewer"  # reads


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: str = Field(min_length=1, max_length=200)
    roles: frozenset[Role]
    unit_id: uuid.UUID | None = None

    @property
    def actor(self) -> Actor:
        return Actor(subject=self.subject, roles=sorted(self.roles))

    def has_any(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))


class TokenVerifier:
    """Verifies tokens, and keeps the principals of up to ``cache_size`` verified ones until
    their expiry: a signature check costs more than the rest of a typical request's Python,
    and a client sends the same token with each request. Only valid tokens are kept, never
    past their ``exp``; the oldest entry goes first when the cache is full."""

    def __init__(self, public_key_pem: str, issuer: str, audience: str,
                 max_lifetime: timedelta = timedelta(hours=12), cache_size: int = 10_000
                 ) -> None:
        # parsed once: PyJWT would parse a PEM string again for every token
        key = serialization.load_pem_public_key(public_key_pem.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the token key must be an Ed25519 public key (EdDSA)")
        self._key = key
        self._issuer = issuer
        self._audience = audience
        self._max_lifetime = max_lifetime
        self._cache_size = cache_size
        self._verified: dict[str, tuple[Principal, float]] = {}  # token -> (principal, exp)

    def verify(self, token: str) -> Principal:
        """The caller of a valid token. A refusal says only "invalid token": why is logged, not
        told to whoever is trying tokens."""
        kept = self._verified.get(token)
        if kept is not None:
            if time.time() < kept[1]:
                return kept[0]
            del self._verified[token]
        principal, expires = self._check(token)
        if len(self._verified) >= self._cache_size:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (principal, expires)
        return principal

    def _check(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["EdDSA"],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=30,
            )
            if claims["exp"] - claims["iat"] > self._max_lifetime.total_seconds():
                raise jwt.InvalidTokenError(
                    f"lives longer than {self._max_lifetime} (exp - iat)")
            principal = Principal(
                subject=claims["sub"],
                roles=frozenset(claims.get("roles", [])),
                unit_id=claims.get("unit_id"),
            )
            if principal.unit_id is None and Role.ADMIN not in principal.roles:
                raise jwt.InvalidTokenError("no unit_id claim")
        except (jwt.InvalidTokenError, ValidationError, TypeError) as exc:
            log.info("token refused: %s", exc)
            raise Unauthorized(INVALID_TOKEN) from exc
        return principal, float(claims["exp"])


INVALID_TOKEN = "invalid token"


# Declared so that the OpenAPI document says which operations need the token (``security``);
# the header is read below, where a missing or malformed one is a 401 problem.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="JWT",
                    description="a token of the movement's identity provider (roles, unit)")


async def bearer_principal(
    request: Request,
    declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
) -> Principal:
    # async: a plain ``def`` dependency costs a thread-pool hop on every request
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(token.strip())
    # who may call the route, checked before its body is validated (``chungtay_common.access``)
    access = getattr(request.app.state, "access", None)
    if access is not None:
        access.check(request, principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(bearer_principal)]


def require_role(principal: Principal, *roles: Role) -> None:
    """Refuse (403) unless the caller holds one of ``roles`` (``admin`` always may)."""
    if not principal.has_any(Role.ADMIN, *roles):
        wanted = ", ".join(r.value for r in roles)
        raise Forbidden(f"this action needs one of the roles: {wanted}")


def may_act_on(principal: Principal, ancestry: Iterable[uuid.UUID]) -> bool:
    """True when the unit whose ancestry (itself first, then its parents, on the date that
    matters) is given lies in the caller's subtree."""
    if Role.ADMIN in principal.roles:
        return True
    return principal.unit_id is not None and principal.unit_id in set(ancestry)


def ensure_may_act_on(
    principal: Principal, ancestry: Iterable[uuid.UUID], what: str = "this unit"
) -> None:
    if not may_act_on(principal, ancestry):
        raise Forbidden(f"{what} is outside the caller's unit scope")
