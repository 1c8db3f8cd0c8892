from __future__ import annotations

import pytest
from pydantic import Field, SecretStr, ValidationError

from chungtay_common.settings import Environment, ServiceSettings


def test_no_secret_has_a_default_outside_development() -> None:
    with pytest.raises(ValidationError, match="CHUNGTAY_PG_PASSWORD"):
        ServiceSettings(environment=Environment.PRODUCTION, jwt_public_key=SecretStr("k"))
    with pytest.raises(ValidationError, match="CHUNGTAY_JWT_PUBLIC_KEY"):
        ServiceSettings(environment=Environment.PRODUCTION, pg_password=SecretStr("p"))
    # whose tokens are accepted is said, never a default
    with pytest.raises(ValidationError, match="CHUNGTAY_JWT_ISSUER, CHUNGTAY_JWT_AUDIENCE"):
        ServiceSettings(environment=Environment.PRODUCTION, pg_password=SecretStr("p"),
                        jwt_public_key=SecretStr("k"))
    ok = ServiceSettings(environment=Environment.PRODUCTION, pg_password=SecretStr("p"),
                         jwt_public_key=SecretStr("k"), service_name="registration",
                         jwt_issuer="so-noi-vu-quang-binh", jwt_audience="chungtay")
    assert ok.database == "chungtay_registration"


def test_request_models_refuse_the_nul_character_naming_the_field() -> None:
    from chungtay_common.request_body import RequestModel

    class Body(RequestModel):
        name: str
        tags: list[str] = Field(default_factory=list)
        nested: dict[str, str] = Field(default_factory=dict)

    assert Body(name="Xã Một").name == "Xã Một"
    for bad in ({"name": "a\x00"}, {"name": "a", "tags": ["ok", "b\x00"]},
                {"name": "a", "nested": {"k": "\x00"}}):
        with pytest.raises(ValidationError) as exc:
            Body(**bad)
        assert "NUL" in str(exc.value)
