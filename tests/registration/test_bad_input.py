"""Refused requests: a clear 4xx problem naming the field, and nothing written anywhere."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chungtay_common.auth import Role
from chungtay_common.tokens import mint
from tests.conftest import TestStack
from tests.registration.conftest import Json, Register
from tests.support import assert_problem, bearer, ok

Counts = Callable[[], Awaitable[dict[str, int]]]
MiB = 1_048_576


@pytest.fixture
def refused(registration: httpx.AsyncClient, admin_headers: dict[str, str],
            row_counts: Counts) -> Callable[..., Awaitable[Json]]:
    """POST ``body``; expect the problem, and that no table gained or lost a row."""

    async def do(body: Json, status: int, field: str | None = None, *,
                 path: str = "/v1/units", headers: dict[str, str] | None = None) -> Json:
        before = await row_counts()
        r = await registration.post(path, json=body, headers=admin_headers
                                    if headers is None else headers)
        problem = assert_problem(r, status, field)
        assert set(problem) == {"type", "title", "status", "detail", "errors"}
        assert problem["title"] and all(e["message"] for e in problem["errors"])
        assert await row_counts() == before
        return problem

    return do


async def no_unit_with_code(client: httpx.AsyncClient, headers: dict[str, str], code: str,
                            as_of: str = "2020-06-01") -> None:
    r = await client.get("/v1/units", params={"code": code, "as_of": as_of}, headers=headers)
    assert ok(r, 200)["items"] == []


@pytest.fixture
async def district(register: Register) -> Json:
    province = await register()
    return await register(kind="district", subkind="huyen", name="Huyện Thử",
                          parent_id=province["unit_id"])


def commune_body(parent: Json, code: str, **fields: Any) -> Json:
    return {"kind": "commune", "subkind": "xa", "code": code, "name": "Xã Thử",
            "valid_from": "2018-01-01", "parent_id": parent["unit_id"], **fields}


# ---------------------------------------------------------------------------------------------
# what the unit is


async def test_unknown_kind(refused: Callable[..., Awaitable[Json]], district: Json,
                            unique_code: Callable[[], str]) -> None:
    problem = await refused(commune_body(district, unique_code(), kind="hamlet"), 422, "kind")
    assert "commune" in problem["errors"][0]["message"]  # lists what is allowed


async def test_a_name_typed_decomposed_is_registered_in_nfc(
    district: Json, unique_code: Callable[[], str], registration: httpx.AsyncClient,
    admin_headers: dict[str, str],
) -> None:
    """Unikey's "Unicode tổ hợp" types "Xã Đồng Trạch" decomposed: the same name, kept in NFC
    (and without the zero-width space a copy from a web page leaves)."""
    code, tag = unique_code(), uuid.uuid4().hex[:6]
    name = f"Xã Đồng Trạch {tag}"
    typed = unicodedata.normalize("NFD", f"Xã Đồng\u200b Trạch {tag}")
    assert typed != name
    unit = ok(await registration.post("/v1/units", json=commune_body(district, code, name=typed),
                                      headers=admin_headers), 201)
    assert unit["versions"][0]["name"] == name
    stored = ok(await registration.get(f"/v1/units/{unit['unit_id']}", headers=admin_headers))
    assert stored["versions"][0]["name"] == name
    for q in (f"Đồng Trạch {tag}", f"dong trach {tag}",
              unicodedata.normalize("NFD", f"Đồng Trạch {tag}")):
        found = ok(await registration.get("/v1/units", params={"q": q, "as_of": "2020-06-01"},
                                          headers=admin_headers))
        assert [u["unit_id"] for u in found["items"]] == [unit["unit_id"]], q


@pytest.mark.parametrize(("name", "why"), [("Xã \u202eĐồng Trạch", "bidirectional control"),
                                           ("Xã \u2067Đồng\u2069 Trạch", "bidirectional control"),
                                           ("Xã Đồng\nTrạch", "control characters")])
async def test_a_name_with_control_or_bidirectional_characters(
    refused: Callable[..., Awaitable[Json]], district: Json, unique_code: Callable[[], str],
    registration: httpx.AsyncClient, admin_headers: dict[str, str], name: str, why: str,
) -> None:
    """The public list shows unit names: one that reads otherwise than it is stored is
    refused, saying why."""
    code = unique_code()
    problem = await refused(commune_body(district, code, name=name), 422, "name")
    assert why in problem["errors"][0]["message"]
    await no_unit_with_code(registration, admin_headers, code)


async def test_extra_unknown_field(refused: Callable[..., Awaitable[Json]], district: Json,
                                   unique_code: Callable[[], str]) -> None:
    await refused(commune_body(district, unique_code(), population=1200), 422, "population")


async def test_blank_name_and_bad_code(refused: Callable[..., Awaitable[Json]],
                                       district: Json, unique_code: Callable[[], str]) -> None:
    await refused(commune_body(district, unique_code(), name=""), 422, "name")
    await refused(commune_body(district, unique_code(), name=" Xã Thử"), 422, "name")
    await refused(commune_body(district, "18 853"), 422, "code")


# ---------------------------------------------------------------------------------------------
# codes over dates


async def test_duplicate_code_on_overlapping_dates(
    refused: Callable[..., Awaitable[Json]], register: Register, district: Json,
    unique_code: Callable[[], str],
) -> None:
    code = unique_code()
    holder = await register(**commune_body(district, code, valid_to="2021-01-01"))
    problem = await refused(commune_body(district, code, name="Xã Trùng",
                                         valid_from="2020-12-31"), 409)
    assert problem["type"] == "conflict"
    assert code in problem["detail"] and holder["unit_id"] in problem["detail"]


async def test_rename_of_an_unknown_unit(refused: Callable[..., Awaitable[Json]]) -> None:
    problem = await refused({"name": "Xã Không Có", "effective_date": "2020-01-01"}, 404,
                            path=f"/v1/units/{uuid.uuid4()}/rename")
    assert problem["type"] == "not_found"


# ---------------------------------------------------------------------------------------------
# the body itself


async def test_malformed_json(registration: httpx.AsyncClient, admin_headers: dict[str, str],
                              row_counts: Counts) -> None:
    before = await row_counts()
    r = await registration.post("/v1/units", content=b'{"kind": "province", "name": ',
                                headers={**admin_headers, "content-type": "application/json"})
    problem = assert_problem(r, 422)
    assert "JSON" in problem["detail"]
    assert await row_counts() == before


@pytest.mark.parametrize("path", ["/v1/units/%00", "/v1/units/%00/subtree",
                                  "/v1/units/a%00b/audit"])
async def test_a_nul_in_the_path_is_refused_naming_the_path(
    registration: httpx.AsyncClient, admin_headers: dict[str, str], path: str
) -> None:
    problem = assert_problem(await registration.get(path, headers=admin_headers), 422,
                             type="validation_error")
    assert problem["errors"] == [{"field": "path",
                                  "message": "must not contain the NUL character"}]


async def test_a_nul_in_the_path_of_a_write_is_refused_and_writes_nothing(
    refused: Callable[..., Awaitable[Json]]
) -> None:
    await refused({"name": "Xã Mới", "effective_date": "2020-01-01"}, 422, "path",
                  path="/v1/units/%00/rename")


def oversized(code: str) -> bytes:
    return (b'{"kind": "province", "code": "' + code.encode() + b'", "valid_from": "2018-01-01",'
            b' "name": "' + b"x" * (MiB + 1) + b'"}')


async def test_oversized_body(registration: httpx.AsyncClient, admin_headers: dict[str, str],
                              row_counts: Counts, unique_code: Callable[[], str]) -> None:
    before = await row_counts()
    code = unique_code()
    r = await registration.post("/v1/units", content=oversized(code),
                                headers={**admin_headers, "content-type": "application/json"})
    assert_problem(r, 413)
    assert await row_counts() == before
    await no_unit_with_code(registration, admin_headers, code)


async def test_oversized_body_without_content_length(
    registration: httpx.AsyncClient, admin_headers: dict[str, str], row_counts: Counts,
    unique_code: Callable[[], str],
) -> None:
    body = oversized(unique_code())

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 64 * 1024):
            yield body[i:i + 64 * 1024]

    before = await row_counts()
    r = await registration.post("/v1/units", content=chunks(),
                                headers={**admin_headers, "content-type": "application/json"})
    assert "content-length" not in r.request.headers
    assert_problem(r, 413)
    assert await row_counts() == before


async def test_oversized_import(registration: httpx.AsyncClient, admin_headers: dict[str, str],
                                row_counts: Counts) -> None:
    before = await row_counts()
    r = await registration.post("/v1/units/import", params={"valid_from": "2020-01-01"},
                                content=b"x" * (MiB + 1),
                                headers={**admin_headers, "content-type": "text/csv"})
    assert_problem(r, 413)
    assert await row_counts() == before


async def test_an_import_with_a_field_over_the_csv_limit_names_its_line(
    registration: httpx.AsyncClient, admin_headers: dict[str, str], row_counts: Counts
) -> None:
    """csv reads at most 131,072 characters a field: a longer one is a 422, not a 500."""
    before = await row_counts()
    header = ("province_code,province_name,district_code,district_name,commune_code,"
              "commune_name,commune_kind\n")
    row = "44,Tỉnh Quảng Bình,452,Huyện Minh Hóa,18901,Xã Một,xa\n"
    long = '44,Tỉnh Quảng Bình,452,Huyện Minh Hóa,18902,"' + "x" * 140_000 + '",xa\n'
    r = await registration.post("/v1/units/import", params={"valid_from": "2020-01-01"},
                                content=(header + row + long).encode(),
                                headers={**admin_headers, "content-type": "text/csv"})
    problem = assert_problem(r, 422, field="body")
    assert problem["errors"] == [{"field": "body",
                                  "message": "line 3: a field is longer than 131072 characters"}]
    assert await row_counts() == before


# ---------------------------------------------------------------------------------------------
# who may


def other_key_token() -> str:
    key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    return mint(key, subject="mallory", roles=["admin"], unit_id=None)


BAD_TOKENS: dict[str, Callable[[TestStack], str]] = {
    "garbage": lambda s: "not-a-jwt",
    "expired": lambda s: s.token(Role.ADMIN, ttl=timedelta(seconds=-120)),
    "other key": lambda s: other_key_token(),
    "wrong audience": lambda s: s.token(Role.ADMIN, audience="someone-else"),
    "wrong issuer": lambda s: s.token(Role.ADMIN, issuer="https://evil.example"),
    "no unit scope": lambda s: s.token(Role.REGISTRAR),
}


@pytest.mark.parametrize("case", ["no token", "not bearer", *BAD_TOKENS])
async def test_unauthenticated(case: str, stack: TestStack, registration: httpx.AsyncClient,
                               admin_headers: dict[str, str], row_counts: Counts,
                               unique_code: Callable[[], str]) -> None:
    if case == "no token":
        headers: dict[str, str] = {}
    elif case == "not bearer":
        headers = {"authorization": "Basic YWRtaW46YWRtaW4="}
    else:
        headers = bearer(BAD_TOKENS[case](stack))
    code = unique_code()
    body = {"kind": "province", "code": code, "name": "Tỉnh Lạ", "valid_from": "2018-01-01"}
    before = await row_counts()
    r = await registration.post("/v1/units", json=body, headers=headers)
    problem = assert_problem(r, 401)
    assert problem["type"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    if case not in ("no token", "not bearer"):  # a bad token is only "invalid", whatever its fault
        assert problem["detail"] == "invalid token"
    assert await row_counts() == before
    await no_unit_with_code(registration, admin_headers, code)
    # reads need a valid token too
    r = await registration.get("/v1/units", params={"code": code}, headers=headers)
    assert_problem(r, 401)


async def test_viewer_may_read_but_not_register(
    stack: TestStack, district: Json, refused: Callable[..., Awaitable[Json]],
    registration: httpx.AsyncClient, unique_code: Callable[[], str],
) -> None:
    viewer = bearer(stack.token(Role.VIEWER, unit=uuid.UUID(district["unit_id"])))
    problem = await refused(commune_body(district, unique_code()), 403, headers=viewer)
    assert problem["type"] == "forbidden" and "registrar" in problem["detail"]
    ok(await registration.get(f"/v1/units/{district['unit_id']}", headers=viewer), 200)


async def test_registrar_of_another_district(
    stack: TestStack, register: Register, district: Json,
    refused: Callable[..., Awaitable[Json]], unique_code: Callable[[], str],
    registration: httpx.AsyncClient,
) -> None:
    other = await register(kind="district", subkind="huyen", name="Huyện Khác",
                           parent_id=district["versions"][0]["parent_id"])
    foreign = bearer(stack.token(Role.REGISTRAR, unit=uuid.UUID(other["unit_id"])))
    problem = await refused(commune_body(district, unique_code()), 403, headers=foreign)
    assert "scope" in problem["detail"]
    own = bearer(stack.token(Role.REGISTRAR, unit=uuid.UUID(district["unit_id"])))
    ok(await registration.post("/v1/units", json=commune_body(district, unique_code()),
                               headers=own), 201)
    # nor may it rename the other district's unit itself
    await refused({"name": "Huyện Đổi Tên", "effective_date": "2020-01-01"}, 403,
                  path=f"/v1/units/{district['unit_id']}/rename", headers=foreign)


# ---------------------------------------------------------------------------------------------
# refusals in Vietnamese


async def test_refusals_in_vietnamese_when_the_caller_prefers_it(
    stack: TestStack, refused: Callable[..., Awaitable[Json]], register: Register,
    district: Json, admin_headers: dict[str, str], unique_code: Callable[[], str],
) -> None:
    vi = admin_headers | {"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.8"}
    # the request's own validation, by pydantic's error type
    problem = await refused({"name": "Xã Thử", "valid_from": "2018-01-01"}, 422, "kind",
                            headers=vi)
    assert problem["title"] == "Dữ liệu không hợp lệ"
    assert problem["errors"] == [{"field": "kind", "message": "là bắt buộc"}]
    problem = await refused(commune_body(district, unique_code(), kind="hamlet"), 422, "kind",
                            headers=vi)
    assert problem["errors"][0]["message"].startswith("phải là một trong: ")
    # the domain's refusals, in the registration service's Vietnamese
    problem = await refused({"kind": "commune", "subkind": "xa", "name": "Xã Thử",
                             "valid_from": "2018-01-01", "code": unique_code()}, 422,
                            "parent_id", headers=vi)
    assert problem["errors"] == [{"field": "parent_id",
                                  "message": "xã cần có đơn vị cấp trên (huyện hoặc tỉnh)"}]
    problem = await refused(commune_body(district, unique_code(), valid_to="2017-01-01"), 422,
                            "valid_to", headers=vi)
    assert problem["detail"] == "valid_to: phải sau ngày valid_from"
    code = unique_code()
    holder = await register(**commune_body(district, code))
    problem = await refused(commune_body(district, code, name="Xã Trùng"), 409, headers=vi)
    assert problem["title"] == "Xung đột với dữ liệu hiện có"
    assert problem["detail"] == (f"mã {code} đang thuộc đơn vị {holder['unit_id']} trong "
                                 "khoảng thời gian trùng lặp")
    unknown = uuid.uuid4()
    problem = await refused({"name": "Xã Không Có", "effective_date": "2020-01-01"}, 404,
                            path=f"/v1/units/{unknown}/rename", headers=vi)
    assert (problem["title"], problem["detail"]) == ("Không tìm thấy",
                                                     f"không tìm thấy đơn vị {unknown}")
    # the shared messages (roles, scope)
    viewer = bearer(stack.token(Role.VIEWER, unit=uuid.UUID(district["unit_id"])))
    problem = await refused(commune_body(district, unique_code()), 403,
                            headers=viewer | {"Accept-Language": "vi"})
    assert (problem["title"], problem["detail"]) == (
        "Không được phép", "thao tác này cần một trong các vai trò: cán bộ đăng ký")
    # English otherwise, as before
    problem = await refused(commune_body(district, unique_code(), valid_to="2017-01-01"), 422,
                            "valid_to", headers=admin_headers | {"Accept-Language": "en, vi"})
    assert problem["detail"] == "valid_to: must be after valid_from"
