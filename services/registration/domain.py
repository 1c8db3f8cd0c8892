"""Pure rules about units: kinds, names, codes and dated versions. No I/O here."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from chungtay_common.contracts.registration import UnitKind, UnitVersion
from chungtay_common.errors import Conflict, InvalidInput

# Which kinds a unit of each kind may sit under. Communes may sit directly under a province:
# the district level was abolished on 2025-07-01.
PARENT_KINDS: dict[UnitKind, frozenset[UnitKind]] = {
    UnitKind.PROVINCE: frozenset(),
    UnitKind.AGENCY: frozenset({UnitKind.PROVINCE}),
    UnitKind.DISTRICT: frozenset({UnitKind.PROVINCE}),
    UnitKind.COMMUNE: frozenset({UnitKind.DISTRICT, UnitKind.PROVINCE}),
    UnitKind.VILLAGE: frozenset({UnitKind.COMMUNE}),
    UnitKind.MASS_ORG: frozenset({UnitKind.PROVINCE, UnitKind.DISTRICT, UnitKind.COMMUNE}),
    UnitKind.ENTERPRISE: frozenset({UnitKind.PROVINCE, UnitKind.DISTRICT, UnitKind.COMMUNE}),
}

# Subkinds keep the Vietnamese distinction inside a kind (huyện / thị xã / thành phố ...).
SUBKINDS: dict[UnitKind, frozenset[str]] = {
    UnitKind.PROVINCE: frozenset({"tinh", "thanh_pho_truc_thuoc_tw"}),
    UnitKind.AGENCY: frozenset({"so", "ban", "nganh", "co_quan"}),
    UnitKind.DISTRICT: frozenset({"huyen", "thi_xa", "thanh_pho", "quan"}),
    UnitKind.COMMUNE: frozenset({"xa", "phuong", "thi_tran", "dac_khu"}),
    UnitKind.VILLAGE: frozenset({"thon", "ban", "to_dan_pho", "khu_pho"}),
    UnitKind.MASS_ORG: frozenset(
        {"mat_tran_to_quoc", "hoi_lhpn", "doan_tncs", "hoi_nong_dan", "hoi_ccb", "cong_doan"}
    ),
    UnitKind.ENTERPRISE: frozenset({"doanh_nghiep", "hop_tac_xa", "to_chuc"}),
}

# Kinds that carry an official statistical code (the national list of administrative units).
CODED_KINDS = frozenset({UnitKind.PROVINCE, UnitKind.DISTRICT, UnitKind.COMMUNE})


def check_name(name: str, field: str = "name") -> str:
    """A unit name: stored in Unicode NFC, without surrounding or repeated blanks."""
    if unicodedata.normalize("NFC", name) != name:
        raise InvalidInput.on(field, "must be in Unicode NFC (it is decomposed, e.g. NFD)")
    if name != " ".join(name.split()):
        raise InvalidInput.on(field, "must not have leading, trailing or repeated blanks")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise InvalidInput.on(field, "must not contain control characters")
    return name


def fold(text: str) -> str:
    """Lower case without diacritics, for search: "Đồng Hới" and "dong hoi" fold alike."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(stripped.lower().split())


def check_subkind(kind: UnitKind, subkind: str | None) -> None:
    if subkind is not None and subkind not in SUBKINDS[kind]:
        allowed = ", ".join(sorted(SUBKINDS[kind]))
        raise InvalidInput.on("subkind", f"{subkind!r} is not a subkind of {kind}: {allowed}")


def check_code(kind: UnitKind, code: str | None) -> None:
    if kind in CODED_KINDS and code is None:
        raise InvalidInput.on("code", f"a {kind} needs its official code")


def check_parent_kind(kind: UnitKind, parent_kind: UnitKind | None) -> None:
    allowed = PARENT_KINDS[kind]
    if parent_kind is None:
        if allowed:
            names = " or ".join(sorted(allowed))
            raise InvalidInput.on("parent_id", f"a {kind} needs a parent ({names})")
        return
    if parent_kind not in allowed:
        if not allowed:
            raise InvalidInput.on("parent_id", f"a {kind} has no parent")
        names = " or ".join(sorted(allowed))
        raise InvalidInput.on(
            "parent_id", f"a {kind} cannot sit under a {parent_kind}; its parent is a {names}"
        )


def check_period(valid_from: date, valid_to: date | None) -> None:
    if valid_to is not None and valid_to <= valid_from:
        raise InvalidInput.on("valid_to", "must be after valid_from")


@dataclass(frozen=True)
class Period:
    """The span over which a unit exists: ``[start, end)``, ``end`` None when open."""

    start: date
    end: date | None

    def covers(self, start: date, end: date | None) -> bool:
        if start < self.start:
            return False
        if self.end is None:
            return True
        return end is not None and end <= self.end


def lifetime(versions: Sequence[UnitVersion]) -> Period:
    return Period(versions[0].valid_from, versions[-1].valid_to)


def version_on(versions: Sequence[UnitVersion], on: date) -> UnitVersion | None:
    for v in versions:
        if v.valid_from <= on and (v.valid_to is None or on < v.valid_to):
            return v
    return None


def change_from(
    versions: Sequence[UnitVersion], effective: date, **changes: object
) -> list[UnitVersion]:
    """The history after a change that takes effect on ``effective``.

    Changes apply to the latest version only: history before it is not rewritten (a correction
    of the past is a new registration, not an edit), so ``effective`` must fall inside it.
    """
    last = versions[-1]
    if last.valid_to is not None and effective >= last.valid_to:
        raise Conflict(f"the unit no longer exists on {effective} (closed on {last.valid_to})")
    if effective < last.valid_from:
        raise InvalidInput.on(
            "effective_date",
            f"must be on or after {last.valid_from}, the start of the unit's latest version",
        )
    updated = replace_version(last, **changes)
    if updated == last:
        raise InvalidInput.on("effective_date", "the change changes nothing")
    head = list(versions[:-1])
    if effective == last.valid_from:
        return [*head, updated]
    return [
        *head,
        replace_version(last, valid_to=effective),
        replace_version(updated, valid_from=effective),
    ]


def close_at(versions: Sequence[UnitVersion], effective: date) -> list[UnitVersion]:
    """The history of a unit that ceases to exist on ``effective`` (it is gone that day)."""
    last = versions[-1]
    if last.valid_to is not None and effective >= last.valid_to:
        raise Conflict(f"the unit is already closed from {last.valid_to}")
    if effective <= last.valid_from:
        raise InvalidInput.on(
            "effective_date", f"must be after {last.valid_from}, the start of its latest version"
        )
    return [*versions[:-1], replace_version(last, valid_to=effective)]


def replace_version(v: UnitVersion, **changes: object) -> UnitVersion:
    return v.model_copy(update=changes)


def check_merge(
    predecessor_ids: Sequence[uuid.UUID],
    predecessor_kinds: Sequence[UnitKind],
    successor_id: uuid.UUID | None,
    successor_kind: UnitKind,
) -> None:
    if len(set(predecessor_ids)) != len(predecessor_ids):
        raise InvalidInput.on("predecessor_ids", "lists a unit twice")
    if successor_id is not None and successor_id in predecessor_ids:
        raise InvalidInput.on("successor.unit_id", "the successor cannot also be a predecessor")
    if successor_id is None and len(predecessor_ids) < 2:
        raise InvalidInput.on("predecessor_ids", "a merge into a new unit needs two or more units")
    for kind in predecessor_kinds:
        if kind != successor_kind:
            raise InvalidInput.on(
                "predecessor_ids", f"a {kind} cannot merge into a {successor_kind}"
            )

