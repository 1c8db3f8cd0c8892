"""Messages in English and Vietnamese: the language a client prefers, a message that carries
both texts, and the Vietnamese of the messages shared by every service (titles, pydantic's
validation messages, the messages of ``chungtay_common``).

A service gives both texts of a refusal it builds with ``en_vi``::

    raise RuleBroken("valid_to", en_vi("must be after valid_from", "phải sau ngày valid_from"))

``en_vi`` is a ``str`` (the English text) that also carries ``.vi``, so it passes through every
refusal and error unchanged; ``chungtay_common.errors`` shows ``.vi`` to a client that prefers
Vietnamese. A message without a Vietnamese text is shown in English.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

VI = "vi"
EN = "en"


class Bilingual(str):
    """An English message that also carries its Vietnamese text (``.vi``)."""

    vi: str

    def __new__(cls, en: str, vi: str) -> Bilingual:
        text = super().__new__(cls, en)
        text.vi = vi
        return text


def en_vi(en: str, vi: str) -> Bilingual:
    """A message in English (the ``str`` itself) and in Vietnamese (``.vi``)."""
    return Bilingual(en, vi)


# --------------------------------------------------------------------------- Accept-Language

def prefers_vietnamese(accept_language: str | None) -> bool:
    """Whether an ``Accept-Language`` header (RFC 9110, q-values) prefers Vietnamese to
    English; English when it says nothing about either."""
    best: dict[str, tuple[float, int]] = {}  # language -> (q, position), specific ranges
    wildcard = 0.0
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = _quality(params)
        if not tag or q is None:
            continue
        if tag == "*":
            wildcard = q
            continue
        language = tag.split("-")[0]
        if language in (VI, EN) and (language not in best or q > best[language][0]):
            best[language] = (q, position)
    vi = best.get(VI, (wildcard, 1_000))
    en = best.get(EN, (wildcard, 1_000))
    if vi[0] <= 0:
        return False
    return vi[0] > en[0] or (vi[0] == en[0] and vi[1] < en[1])


def _quality(params: str) -> float | None:
    """The q-value of a language range's parameters (1 when absent; None when malformed)."""
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return None
            return q if 0 <= q <= 1 else None
    return 1.0


# --------------------------------------------------------------------------- titles

TITLES_VI: dict[str, str] = {
    "bad_request": "Yêu cầu không hợp lệ",
    "validation_error": "Dữ liệu không hợp lệ",
    "not_found": "Không tìm thấy",
    "conflict": "Xung đột với dữ liệu hiện có",
    "unauthorized": "Chưa xác thực",
    "forbidden": "Không được phép",
    "payload_too_large": "Nội dung yêu cầu quá lớn",
    "unsupported_media_type": "Kiểu nội dung không được hỗ trợ",
    "internal_error": "Lỗi hệ thống",
}

# --------------------------------------------------------------------------- shared messages

# The messages raised by chungtay_common itself (auth, http, idempotency, errors), by their
# English text: exact texts, then patterns whose groups are kept.
_SHARED_VI: dict[str, str] = {
    "missing bearer token": "thiếu mã truy cập (bearer token)",
    "invalid token": "mã truy cập không hợp lệ",
    "token expired": "mã truy cập đã hết hạn",
    "invalid token claims": "thông tin trong mã truy cập không hợp lệ",
    "token has no unit_id claim": "mã truy cập không có unit_id",
    "must be UTF-8": "phải được mã hoá UTF-8",
    "must not contain the NUL character": "không được chứa ký tự NUL",
    "send the file as text/csv (UTF-8)": "hãy gửi tệp dạng text/csv (UTF-8)",
    "was already used for a different request": "đã được dùng cho một yêu cầu khác",
    "another change to the same data was made at the same time; try again":
        "có một thay đổi khác trên cùng dữ liệu vào cùng lúc; hãy thử lại",
    "an unexpected error; it is logged": "lỗi không mong đợi; lỗi đã được ghi lại",
}
# the roles as people call them
ROLE_VI: dict[str, str] = {
    "reporter": "cán bộ báo cáo", "registrar": "cán bộ đăng ký", "council": "Hội đồng thi đua",
    "board": "Ban Thi đua - Khen thưởng", "chairman": "Chủ tịch", "admin": "quản trị",
    "reviewer": "cán bộ xét duyệt báo cáo", "viewer": "người xem",
}
_WHAT_VI = {
    "this unit": "đơn vị này",
    "the parent unit": "đơn vị cấp trên",
    "the new parent": "đơn vị cấp trên mới",
    "a unit without a parent": "một đơn vị không có cấp trên",
}
_SHARED_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"invalid token: (.*)", re.S),
     lambda m: f"mã truy cập không hợp lệ: {m[1]}"),
    (re.compile(r"request body is larger than (\d+) bytes"),
     lambda m: f"nội dung yêu cầu lớn hơn {m[1]} byte"),
    (re.compile(r"this action needs one of the roles: (.*)"),
     lambda m: "thao tác này cần một trong các vai trò: "
               + ", ".join(ROLE_VI.get(r, r) for r in m[1].split(", "))),
    (re.compile(r"(.*) is outside the caller's unit scope"),
     lambda m: f"{_WHAT_VI.get(m[1], m[1])} nằm ngoài phạm vi đơn vị của người gọi"),
    (re.compile(r"send the file as (\S+) \(UTF-8\) or as (\S+)"),
     lambda m: f"hãy gửi tệp dạng {m[1]} (UTF-8) hoặc dạng {m[2]}"),
]


def vietnamese(message: str) -> str | None:
    """The Vietnamese of a message: its own (``en_vi``), or that of a shared message; None
    when none is known."""
    if isinstance(message, Bilingual):
        return message.vi
    known = _SHARED_VI.get(message)
    if known is not None:
        return known
    for pattern, say in _SHARED_PATTERNS:
        match = pattern.fullmatch(message)
        if match:
            return say(match)
    return None


# --------------------------------------------------------------------------- pydantic

def _or(values: Any) -> str:
    return str(values).replace(" or ", " hoặc ")


# pydantic's validation errors by their ``type``, with the error's context values
_PYDANTIC_VI: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda c: "là bắt buộc",
    "extra_forbidden": lambda c: "không phải là một trường được chấp nhận",
    "string_type": lambda c: "phải là một chuỗi ký tự",
    "string_too_short": lambda c: f"phải có ít nhất {c['min_length']} ký tự",
    "string_too_long": lambda c: f"chỉ được có tối đa {c['max_length']} ký tự",
    "string_pattern_mismatch": lambda c: f"phải khớp với mẫu {c['pattern']!r}",
    "int_type": lambda c: "phải là một số nguyên",
    "int_parsing": lambda c: "phải là một số nguyên",
    "int_from_float": lambda c: "phải là một số nguyên",
    "float_type": lambda c: "phải là một số",
    "float_parsing": lambda c: "phải là một số",
    "finite_number": lambda c: "phải là một số hữu hạn",
    "decimal_type": lambda c: "phải là một số thập phân",
    "decimal_parsing": lambda c: "phải là một số thập phân",
    "bool_type": lambda c: "phải là true hoặc false",
    "bool_parsing": lambda c: "phải là true hoặc false",
    "greater_than": lambda c: f"phải lớn hơn {c['gt']}",
    "greater_than_equal": lambda c: f"phải lớn hơn hoặc bằng {c['ge']}",
    "less_than": lambda c: f"phải nhỏ hơn {c['lt']}",
    "less_than_equal": lambda c: f"phải nhỏ hơn hoặc bằng {c['le']}",
    "multiple_of": lambda c: f"phải là bội số của {c['multiple_of']}",
    "too_short": lambda c: f"phải có ít nhất {c['min_length']} phần tử "
                           f"(có {c['actual_length']})",
    "too_long": lambda c: f"chỉ được có tối đa {c['max_length']} phần tử",
    "list_type": lambda c: "phải là một danh sách",
    "dict_type": lambda c: "phải là một đối tượng",
    "model_type": lambda c: "phải là một đối tượng",
    "model_attributes_type": lambda c: "phải là một đối tượng",
    "date_type": lambda c: "phải là một ngày (YYYY-MM-DD)",
    "date_parsing": lambda c: "phải là một ngày hợp lệ (YYYY-MM-DD)",
    "date_from_datetime_parsing": lambda c: "phải là một ngày hợp lệ (YYYY-MM-DD)",
    "date_from_datetime_inexact": lambda c: "phải là một ngày, không có giờ",
    "datetime_type": lambda c: "phải là một thời điểm (ISO 8601)",
    "datetime_parsing": lambda c: "phải là một thời điểm hợp lệ (ISO 8601)",
    "datetime_from_date_parsing": lambda c: "phải là một thời điểm hợp lệ (ISO 8601)",
    "uuid_type": lambda c: "phải là một UUID",
    "uuid_parsing": lambda c: "phải là một UUID hợp lệ",
    "enum": lambda c: f"phải là một trong: {_or(c['expected'])}",
    "literal_error": lambda c: f"phải là một trong: {_or(c['expected'])}",
    "union_tag_invalid": lambda c: f"loại {c['tag']!r} không hợp lệ; "
                                   f"phải là một trong: {_or(c['expected_tags'])}",
    "union_tag_not_found": lambda c: f"thiếu trường phân loại {c['discriminator']}",
    "json_invalid": lambda c: "không phải là JSON hợp lệ",
    "json_type": lambda c: "phải là JSON",
}


def pydantic_vietnamese(error: Mapping[str, Any]) -> str | None:
    """The Vietnamese of one of pydantic's validation errors (``ValidationError.errors()``),
    by its ``type`` and context values; None when none is known."""
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        text = cause.args[0] if isinstance(cause, Exception) and cause.args else None
        return vietnamese(text) if isinstance(text, str) else None
    say = _PYDANTIC_VI.get(kind)
    if say is None:
        return None
    try:
        return say(ctx)
    except KeyError:  # a context value this pydantic version does not give
        return None
