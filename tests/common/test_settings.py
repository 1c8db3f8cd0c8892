from __future__ import annotations

import asyncpg
import pytest
from pydantic import Field, SecretStr, ValidationError

from chungtay_common.db import create_pool
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
    # reminders' links point where users reach the indicators service: said, never a default
    from services.indicators.settings import IndicatorsSettings
    given = {"environment": Environment.PRODUCTION, "pg_password": SecretStr("p"),
             "jwt_public_key": SecretStr("k"), "jwt_issuer": "i", "jwt_audience": "a"}
    with pytest.raises(ValidationError, match="CHUNGTAY_PUBLIC_URL"):
        IndicatorsSettings(**given)  # type: ignore[arg-type]
    assert IndicatorsSettings(**given, public_url="https://chungtay.quangbinh.gov.vn"  # type: ignore[arg-type]
                              ).public_url.startswith("https://")


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


async def test_a_pool_keeps_the_plan_cache_mode_it_is_given(
        pool: asyncpg.Pool, common_settings: ServiceSettings) -> None:
    """The indicators service's sessions plan a statement once (see its settings); a
    statement over parameter arrays is then executed on its generic plan."""
    from services.indicators.settings import IndicatorsSettings

    mode = IndicatorsSettings().pg_plan_cache_mode
    assert mode == "force_generic_plan"
    generic = await create_pool(common_settings.dsn(), 1, plan_cache_mode=mode)
    try:
        async with generic.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == mode
            statement = await conn.prepare(
                "SELECT count(*) FROM unnest($1::int[]) AS n WHERE n > $2")
            for _ in range(6):  # past the five custom plans "auto" would make
                assert await statement.fetchval([1, 2, 3], 1) == 2
            plan = await conn.fetchval(
                "SELECT generic_plans FROM pg_prepared_statements"
                " WHERE statement LIKE 'SELECT count(*) FROM unnest(%'")
            assert plan is not None and plan >= 6
    finally:
        await generic.close()
    default = await create_pool(common_settings.dsn(), 1)
    try:
        async with default.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
    finally:
        await default.close()
