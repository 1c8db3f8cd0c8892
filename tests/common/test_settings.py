from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from chungtay_common.settings import Environment, ServiceSettings


def test_no_secret_has_a_default_outside_development() -> None:
    with pytest.raises(ValidationError, match="CHUNGTAY_PG_PASSWORD"):
        ServiceSettings(environment=Environment.PRODUCTION, jwt_public_key=SecretStr("k"))
    with pytest.raises(ValidationError, match="CHUNGTAY_JWT_PUBLIC_KEY"):
        ServiceSettings(environment=Environment.PRODUCTION, pg_password=SecretStr("p"))
    ok = ServiceSettings(environment=Environment.PRODUCTION, pg_password=SecretStr("p"),
                         jwt_public_key=SecretStr("k"), service_name="registration")
    assert ok.database == "chungtay_registration"
