from __future__ import annotations

import uuid

import pytest

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
    with pytest.raises(Unauthorized, match=r"(?i)issuer"):
        verifier.verify(stack.token(Role.ADMIN, issuer="someone-else"))
    with pytest.raises(Unauthorized, match=r"(?i)audience"):
        verifier.verify(stack.token(Role.ADMIN, audience="other"))
    with pytest.raises(Unauthorized, match="unit_id"):
        verifier.verify(stack.token(Role.REGISTRAR))
    with pytest.raises(Unauthorized, match="claims"):
        verifier.verify(stack.token("emperor", unit=DISTRICT))
