"""The base of every request body model, and the type of a name the public lists show."""

from __future__ import annotations

import re
import types
import unicodedata
from collections.abc import Set
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from chungtay_common.messages import en_vi

# Invisible characters a keyboard or a copy from a web page leaves in a name: zero width space,
# non-joiner, joiner, and the byte order mark (zero width no-break space).
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\ufeff")
# Characters that reorder how the text around them is displayed (bidirectional embeddings,
# overrides and isolates): a name holding them reads otherwise than it is stored.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def nfc(value: Any) -> Any:
    """``value`` with every string in it (nested in lists and objects) in Unicode NFC: the form
    a precomposed Vietnamese keyboard types, and the one stored and compared."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {nfc(k): nfc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(nfc(v) for v in value)
    return value


def clean_name(name: str) -> str:
    """A name in NFC without zero-width characters ("Unicode tổ hợp" keyboards type the
    decomposed form; copies from the web carry invisible characters)."""
    return "".join(c for c in unicodedata.normalize("NFC", name) if c not in ZERO_WIDTH)


def is_name(field: str) -> bool:
    """Whether a request field holds a name (``name``, ``name_vi``, ``nominee_name`` ...)."""
    return field == "name" or field.startswith("name_") or field.endswith("_name")


def check_shown_name(name: str) -> str:
    """A name shown in public lists: no control characters, no bidirectional controls."""
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ValueError(en_vi("must not contain control characters",
                               "không được chứa ký tự điều khiển"))
    if any(c in BIDI_CONTROLS for c in name):
        raise ValueError(en_vi(
            "must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069)",
            "không được chứa ký tự điều khiển chiều viết (U+202A-U+202E, U+2066-U+2069)"))
    return name


def _cleaned(value: Any) -> Any:
    return clean_name(value) if isinstance(value, str) else value


# A name the public lists show (a unit's, a nominee's), of 1 to 200 characters: cleaned like
# every name, and refused (422 naming the field) when it holds control or bidirectional control
# characters.
ShownName = Annotated[str, StringConstraints(min_length=1, max_length=200),
                      BeforeValidator(_cleaned), AfterValidator(check_shown_name)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, BaseModel):
        return any(_has_nul(v) for v in value.__dict__.values())
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_nul(v) for v in value)
    return False


def _kinds(annotation: Any) -> set[Any]:
    """The plain types a field's annotation allows (``Annotated``, ``Optional`` and unions
    unwrapped)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _kinds(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return set().union(*(_kinds(a) for a in get_args(annotation)))
    return {annotation}


# the kinds of each request model's fields, worked out once (bodies are validated per request)
_FIELD_KINDS: dict[tuple[type[BaseModel], str], frozenset[Any]] = {}


def _field_kinds(model: type[BaseModel], name: str) -> frozenset[Any]:
    kinds = _FIELD_KINDS.get((model, name))
    if kinds is None:
        kinds = _FIELD_KINDS[model, name] = frozenset(_kinds(model.model_fields[name].annotation))
    return kinds


def check_not_lax(value: Any, kinds: Set[Any]) -> None:
    """What pydantic's lax mode would take and no client means: ``true``/``false`` or a text
    for a number (as 1, 0 or the number written), a number or a text for ``true``/``false``,
    a number for a day (as seconds since 1970)."""
    numbers = bool(kinds & {int, float, Decimal}) and str not in kinds
    flag = bool in kinds and not numbers and str not in kinds
    if isinstance(value, bool):
        if numbers:
            raise ValueError(en_vi("must be a number", "phải là một số"))
    elif isinstance(value, str) and numbers:
        raise ValueError(en_vi("must be a number", "phải là một số"))
    elif isinstance(value, int | float | str) and flag:
        raise ValueError(en_vi("must be true or false", "phải là true hoặc false"))
    elif isinstance(value, int | float) and date in kinds:
        raise ValueError(en_vi("must be a day written YYYY-MM-DD",
                               "phải là một ngày viết dạng YYYY-MM-DD"))


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: Any) -> Any:
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
        raise ValueError(en_vi("must be a day written YYYY-MM-DD",
                               "phải là một ngày viết dạng YYYY-MM-DD"))
    return value


# A day in a query parameter: YYYY-MM-DD only (never a number of seconds since 1970)
Day = Annotated[date, BeforeValidator(_iso_day)]


class RequestModel(BaseModel):
    """Unknown fields are refused; every text is taken in Unicode NFC (a decomposed name is
    the same name), names without zero-width characters; no text may hold the NUL character
    (PostgreSQL cannot store it, and no real name or reason has it); a number is not
    ``true``/``false`` and a day not a number (``check_not_lax``)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _normalised(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name is not None and info.field_name in cls.model_fields:
            check_not_lax(value, _field_kinds(cls, info.field_name))
        if info.field_name is not None and is_name(info.field_name) and isinstance(value, str):
            return clean_name(value)
        return nfc(value)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any, info: ValidationInfo) -> Any:
        if _has_nul(value):
            raise ValueError(en_vi("must not contain the NUL character",
                                   "không được chứa ký tự NUL"))
        return value
