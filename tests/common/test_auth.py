from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest

from chungtay_common import auth
from chungtay_common.auth import Principal, Role, TokenVerifier, may_act_on
from chungtay_common.errors import Unauthorized
from tests.conftest import TestStack

PROVINCE, DISTRICT, COMMUNE, OTHER = (uuid.uuid4() for _ in range(4))


def test_a_unit_in_the_callers_subtree_may_be_acted_on() -> None:
    district_registrar = Principal(subject="d", roles=frozenset({Role.REGISTRAR}),
                                   unit_id=DISTRICT)
    assert may_act_on(district_registrar, [COMMUNE, DISTRICT, PROVINCE])
    assert may_act_on(district_registrar, [DISTRICT, PROVINCE])
    assert not may_act_on(district_registrar, [PROVINCE])
    assert not may_act_on(district_registrar, [OTHER, PROVINCE])
    assert not may_act_on(district_registrar, [])


def test_admin_acts_everywhere() -> None:
    admin = Principal(subject="a", roles=frozenset({Role.ADMIN}))
    assert may_act_on(admin, []) and may_act_on(admin, [OTHER])


async def test_tokens_are_checked_for_signature_issuer_audience_and_scope(
    stack: TestStack,
) -> None:
    verifier = TokenVerifier(stack.public_key, "chungtay-dev", "chungtay")
    p = verifier.verify(stack.token(Role.REGISTRAR, unit=DISTRICT, sub="lan"))
    assert p.subject == "lan" and p.roles == {Role.REGISTRAR} and p.unit_id == DISTRICT
    # each refusal says only "invalid token"; why is in the cause (and the log), not the answer
    for token, why in ((stack.token(Role.ADMIN, issuer="someone-else"), r"(?i)issuer"),
                       (stack.token(Role.ADMIN, audience="other"), r"(?i)audience"),
                       (stack.token(Role.REGISTRAR), "unit_id"),
                       (stack.token("emperor", unit=DISTRICT), "roles"),
                       (stack.token(Role.ADMIN, ttl=timedelta(seconds=-120)), "(?i)expired"),
                       (stack.token(Role.ADMIN, ttl=timedelta(hours=13)), "lives longer")):
        with pytest.raises(Unauthorized, match=r"^invalid token$") as refused:
            verifier.verify(token)
        assert re.search(why, str(refused.value.__cause__)), refused.value.__cause__
    # a deployment whose service accounts need longer tokens says so
    TokenVerifier(stack.public_key, "chungtay-dev", "chungtay", timedelta(days=30)).verify(
        stack.token(Role.ADMIN, ttl=timedelta(days=29)))


async def test_a_verified_token_is_kept_until_its_expiry_and_no_longer(
    stack: TestStack, monkeypatch: pytest.MonkeyPatch,
) -> None:
    verifier = TokenVerifier(stack.public_key, "chungtay-dev", "chungtay", cache_size=2)
    token = stack.token(Role.REPORTER, unit=DISTRICT, sub="mai", ttl=timedelta(minutes=10))
    first = verifier.verify(token)
    checks: list[str] = []
    real_check = verifier._check

    def counted(t: str) -> tuple[Principal, float]:
        checks.append(t)
        return real_check(t)

    monkeypatch.setattr(verifier, "_check", counted)
    assert verifier.verify(token) is first and checks == []  # kept: no second signature check
    # past its expiry the kept principal is not used: the token is checked again (and PyJWT,
    # on its own clock, refuses it then)
    now = auth.time.time()
    monkeypatch.setattr(auth.time, "time", lambda: now + 11 * 60)
    verifier.verify(token)
    assert checks == [token]
    monkeypatch.undo()
    # a full cache lets its oldest entry go
    others = [stack.token(Role.VIEWER, unit=DISTRICT, sub=f"v{i}") for i in range(3)]
    for t in others:
        verifier.verify(t)
    assert list(verifier._verified) == others[1:]
