"""Problems in the client's language (``chungtay_common.errors``, ``chungtay_common.messages``)
and what every request body does with text (``chungtay_common.request_body``): through a small
app built like every service."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import Field, ValidationError

from chungtay_common.auth import PrincipalDep, Role
from chungtay_common.errors import NotFound
from chungtay_common.http import CsvText, create_app
from chungtay_common.messages import en_vi, prefers_vietnamese
from chungtay_common.refusals import NotAllowed, RuleBroken, StateConflict
from chungtay_common.request_body import RequestModel, ShownName
from chungtay_common.settings import ServiceSettings
from tests.conftest import TestStack
from tests.support import assert_problem, bearer, ok

VI = {"Accept-Language": "vi"}


class Household(RequestModel):
    name: ShownName
    members: int = Field(ge=1, le=50)
    since: date
    note: str = Field(default="", max_length=10)
    tags: list[str] = Field(default_factory=list)


@asynccontextmanager
async def _no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture
async def client(common_settings: ServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    settings = common_settings.model_copy(update={"max_body_bytes": 2048})
    app = create_app(settings, title="test", description="test", lifespan=_no_lifespan,
                     checks=lambda _: {})

    @app.post("/households")
    async def add(body: Household) -> dict[str, Any]:
        return body.model_dump(mode="json")

    @app.get("/secure")
    async def secure(principal: PrincipalDep) -> str:
        return principal.subject

    @app.post("/refuse/{what}")
    async def refuse(what: str) -> None:
        if what == "rule":
            raise RuleBroken("valid_to", en_vi("must be after valid_from",
                                               "phải sau ngày valid_from"))
        if what == "state":
            raise StateConflict(en_vi("the report is accepted", "báo cáo đã được chấp nhận"))
        if what == "role":
            raise NotAllowed("only the province may approve")  # no Vietnamese given
        raise NotFound("nothing here", vi="không có gì ở đây")

    @app.post("/csv")
    async def upload(text: CsvText) -> str:
        return text

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://app") as c:
        yield c


# --------------------------------------------------------------------------- Accept-Language

@pytest.mark.parametrize(("header", "vietnamese"), [
    (None, False), ("", False), ("vi", True), ("vi-VN", True), ("VI", True),
    ("en", False), ("fr", False), ("*", False),
    ("vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7", True),
    ("en-US,en;q=0.9,vi;q=0.8", False),
    ("fr, vi;q=0.5", True), ("en;q=0.4, vi;q=0.5", True), ("vi;q=0.5, en;q=0.5", True),
    ("en;q=0.5, vi;q=0.5", False), ("vi;q=0", False), ("vi;q=0, *", False),
    ("*;q=0.5, en;q=0.1", True), ("vi;q=abc", False), ("vi;q=2", False),
])
def test_the_language_a_request_prefers(header: str | None, vietnamese: bool) -> None:
    assert prefers_vietnamese(header) is vietnamese


# --------------------------------------------------------------------------- problems

async def test_a_problem_is_in_english_unless_vietnamese_is_preferred(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/refuse/rule")
    body = assert_problem(r, 422, "valid_to", type="validation_error")
    assert r.headers["content-language"] == "en"
    assert body["title"] == "Invalid input"
    assert body["detail"] == "valid_to: must be after valid_from"
    for header in ("vi", "vi-VN,vi;q=0.9,en;q=0.8", "en;q=0.3, vi"):
        r = await client.post("/refuse/rule", headers={"Accept-Language": header})
        body = assert_problem(r, 422, "valid_to", type="validation_error")
        assert r.headers["content-language"] == "vi"
        assert "accept-language" in r.headers["vary"].lower()
        assert body == {"type": "validation_error", "title": "Dữ liệu không hợp lệ",
                        "status": 422, "detail": "valid_to: phải sau ngày valid_from",
                        "errors": [{"field": "valid_to", "message": "phải sau ngày valid_from"}]}
        assert int(r.headers["content-length"]) == len(r.content)
    r = await client.post("/refuse/rule", headers={"Accept-Language": "vi;q=0.2, en"})
    assert r.headers["content-language"] == "en" and r.json()["title"] == "Invalid input"


async def test_every_refusal_has_a_vietnamese_title_and_its_own_vietnamese_text(
    client: httpx.AsyncClient,
) -> None:
    body = assert_problem(await client.post("/refuse/state", headers=VI), 409)
    assert (body["title"], body["detail"]) == ("Xung đột với dữ liệu hiện có",
                                               "báo cáo đã được chấp nhận")
    body = assert_problem(await client.post("/refuse/missing", headers=VI), 404)
    assert (body["title"], body["detail"]) == ("Không tìm thấy", "không có gì ở đây")
    # a service that gives no Vietnamese text: the title is Vietnamese, the detail English
    body = assert_problem(await client.post("/refuse/role", headers=VI), 403)
    assert (body["title"], body["detail"]) == ("Không được phép",
                                               "only the province may approve")


async def test_validation_errors_in_vietnamese_by_their_type(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/households", headers=VI, json={
        "name": "", "members": 0, "since": "2020-13-01", "note": "x" * 11, "colour": "red"})
    body = assert_problem(r, 422, type="validation_error")
    messages = {e["field"]: e["message"] for e in body["errors"]}
    assert messages == {
        "name": "phải có ít nhất 1 ký tự",
        "members": "phải lớn hơn hoặc bằng 1",
        "since": "phải là một ngày hợp lệ (YYYY-MM-DD)",
        "note": "chỉ được có tối đa 10 ký tự",
        "colour": "không phải là một trường được chấp nhận",
    }
    assert body["title"] == "Dữ liệu không hợp lệ"
    assert body["detail"] == "; ".join(f"{f}: {m}" for f, m in messages.items())
    body = assert_problem(await client.post("/households", headers=VI, json={}), 422)
    assert {e["message"] for e in body["errors"]} == {"là bắt buộc"}
    body = assert_problem(await client.post("/households", headers=VI,
                                            json={"name": "A", "members": 51,
                                                  "since": "2020-01-01"}), 422, "members")
    assert body["errors"][0]["message"] == "phải nhỏ hơn hoặc bằng 50"
    # in English, pydantic's own messages, as before
    body = assert_problem(await client.post("/households", json={}), 422, "name")
    assert body["errors"][0]["message"] == "Field required"


async def test_shared_messages_in_vietnamese(stack: TestStack,
                                             client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/secure", headers=VI), 401, type="unauthorized")
    assert (body["title"], body["detail"]) == ("Chưa xác thực", "thiếu mã truy cập (bearer token)")
    expired = bearer(stack.token(Role.ADMIN, ttl=timedelta(seconds=-120)))
    body = assert_problem(await client.get("/secure", headers=expired | VI), 401)
    assert body["detail"] == "mã truy cập không hợp lệ"  # never why
    r = await client.post("/households", content=b'{"name": "' + b"x" * 4096 + b'"}',
                          headers=VI | {"content-type": "application/json"})
    body = assert_problem(r, 413, type="payload_too_large")  # sent by a middleware
    assert (body["title"], body["detail"]) == ("Nội dung yêu cầu quá lớn",
                                               "nội dung yêu cầu lớn hơn 2048 byte")
    assert r.headers["content-language"] == "vi"
    body = assert_problem(await client.post("/csv", content=b"a", headers=VI), 415)
    assert body["detail"] == "hãy gửi tệp dạng text/csv (UTF-8)"
    body = assert_problem(await client.post("/csv", content=b"\xff", headers=VI | {
        "content-type": "text/csv"}), 422, "body")
    assert body["errors"][0]["message"] == "phải được mã hoá UTF-8"
    body = assert_problem(await client.post("/households", headers=VI, json={
        "name": "A", "members": 1, "since": "2020-01-01", "note": "a\x00"}), 422, "note")
    assert body["errors"][0]["message"] == "không được chứa ký tự NUL"


# --------------------------------------------------------------------------- text in bodies

async def test_every_text_of_a_body_is_taken_in_nfc_and_names_without_zero_width(
    client: httpx.AsyncClient,
) -> None:
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hồng")
    typed = {"name": f"\ufeff{nfd}\u200b", "members": 3, "since": "2020-01-01",
             "note": unicodedata.normalize("NFD", "hộ mới"), "tags": [nfd]}
    got = ok(await client.post("/households", json=typed))
    assert got["name"] == "Nguyễn Thị Hồng"
    assert got["note"] == "hộ mới" and got["tags"] == ["Nguyễn Thị Hồng"]


def test_a_name_of_zero_width_characters_only_is_empty() -> None:
    with pytest.raises(ValidationError) as info:
        Household(name="\u200b\u200c", members=1, since=date(2020, 1, 1))
    assert info.value.errors()[0]["type"] == "string_too_short"


@pytest.mark.parametrize("name", ["Nguyễn \u202eHồng", "Nguyễn \u2066Hồng\u2069",
                                  "Nguyễn\x07Hồng", "Nguyễn\nHồng"])
async def test_a_shown_name_with_control_or_bidirectional_characters_is_refused(
    client: httpx.AsyncClient, name: str,
) -> None:
    r = await client.post("/households", json={"name": name, "members": 1,
                                               "since": "2020-01-01"})
    body = assert_problem(r, 422, "name")
    assert "control characters" in body["errors"][0]["message"]
    r = await client.post("/households", headers=VI, json={"name": name, "members": 1,
                                                           "since": "2020-01-01"})
    assert "ký tự điều khiển" in assert_problem(r, 422, "name")["errors"][0]["message"]


class _Lax(RequestModel):
    count: int
    share: float | None = None
    flag: bool = False
    day: date | None = None
    label: str | int | None = None


@pytest.mark.parametrize(("body", "field"), [
    ({"count": False}, "count"), ({"count": "12"}, "count"), ({"count": 1, "share": True}, "share"),
    ({"count": 1, "flag": 0}, "flag"), ({"count": 1, "flag": "yes"}, "flag"),
    ({"count": 1, "day": 0}, "day"), ({"count": 1, "day": 1.5e9}, "day"),
])
def test_a_body_is_taken_as_written_never_coerced(body: dict[str, object], field: str) -> None:
    """pydantic's lax mode takes false as 0, "12" as 12, 0 as false and 0 as 1970-01-01: a
    client means none of them, so each is refused, naming the field."""
    with pytest.raises(ValidationError) as refused:
        _Lax.model_validate(body)
    assert [e["loc"][0] for e in refused.value.errors()] == [field]
    ok = _Lax.model_validate({"count": 3, "share": 2, "flag": True, "day": "2020-01-01",
                              "label": 5})
    assert (ok.count, ok.share, ok.flag, ok.day, ok.label) == (3, 2.0, True, date(2020, 1, 1), 5)
