"""Pure rules about units: kinds, names, codes and dated versions. No I/O here."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import date

from chungtay_common.contracts.registration import UnitKind, UnitVersion
from chungtay_common.refusals import RuleBroken, StateConflict

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
        raise RuleBroken(field, "must be in Unicode NFC (it is decomposed, e.g. NFD)")
    if name != " ".join(name.split()):
        raise RuleBroken(field, "must not have leading, trailing or repeated blanks")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise RuleBroken(field, "must not contain control characters")
    return name


def fold(text: str) -> str:
    """Lower case without diacritics, for search: "Đồng Hới" and "dong hoi" fold alike."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(stripped.lower().split())


def check_subkind(kind: UnitKind, subkind: str | None) -> None:
    if subkind is not None and subkind not in SUBKINDS[kind]:
        allowed = ", ".join(sorted(SUBKINDS[kind]))
        raise RuleBroken("subkind", f"{subkind!r} is not a subkind of {kind}: {allowed}")


def check_code(kind: UnitKind, code: str | None) -> None:
    if kind in CODED_KINDS and code is None:
        raise RuleBroken("code", f"a {kind} needs its official code")


def check_parent_kind(kind: UnitKind, parent_kind: UnitKind | None) -> None:
    allowed = PARENT_KINDS[kind]
    if parent_kind is None:
        if allowed:
            names = " or ".join(sorted(allowed))
            raise RuleBroken("parent_id", f"a {kind} needs a parent ({names})")
        return
    if parent_kind not in allowed:
        if not allowed:
            raise RuleBroken("parent_id", f"a {kind} has no parent")
        names = " or ".join(sorted(allowed))
        raise RuleBroken(
            "parent_id", f"a {kind} cannot sit under a {parent_kind}; its parent is a {names}"
        )


def check_period(valid_from: date, valid_to: date | None) -> None:
    if valid_to is not None and valid_to <= valid_from:
        raise RuleBroken("valid_to", "must be after valid_from")


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


def check_parent_covers(parent: Sequence[UnitVersion], start: date, end: date | None) -> None:
    """A child lives within its parent's lifetime: it cannot start before it nor outlive it."""
    life = lifetime(parent)
    if not life.covers(start, end):
        raise RuleBroken(
            "parent_id",
            f"the parent exists from {life.start} to {life.end or 'now'}, "
            f"which does not cover {start} to {end or 'open end'}",
        )


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
        raise StateConflict(
            f"the unit no longer exists on {effective} (closed on {last.valid_to})")
    if effective < last.valid_from:
        raise RuleBroken(
            "effective_date",
            f"must be on or after {last.valid_from}, the start of the unit's latest version",
        )
    updated = replace_version(last, **changes)
    if updated == last:
        raise RuleBroken("effective_date", "the change changes nothing")
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
        raise StateConflict(f"the unit is already closed from {last.valid_to}")
    if effective <= last.valid_from:
        raise RuleBroken(
            "effective_date", f"must be after {last.valid_from}, the start of its latest version"
        )
    return [*versions[:-1], replace_version(last, valid_to=effective)]


def check_closable(children: int, effective: date) -> None:
    """A unit closes without children: they must be moved, closed or merged first."""
    if children:
        raise StateConflict(f"the unit still has {children} child unit(s) on or after "
                            f"{effective}: move or close them first, or merge")


def replace_version(v: UnitVersion, **changes: object) -> UnitVersion:
    return v.model_copy(update=changes)


def check_merge(
    predecessor_ids: Sequence[uuid.UUID],
    predecessor_kinds: Sequence[UnitKind],
    successor_id: uuid.UUID | None,
    successor_kind: UnitKind,
) -> None:
    if len(set(predecessor_ids)) != len(predecessor_ids):
        raise RuleBroken("predecessor_ids", "lists a unit twice")
    if successor_id is not None and successor_id in predecessor_ids:
        raise RuleBroken("successor.unit_id", "the successor cannot also be a predecessor")
    if successor_id is None and len(predecessor_ids) < 2:
        raise RuleBroken("predecessor_ids", "a merge into a new unit needs two or more units")
    for kind in predecessor_kinds:
        if kind != successor_kind:
            raise RuleBroken(
                "predecessor_ids", f"a {kind} cannot merge into a {successor_kind}"
            )


def check_merge_into(successor: Sequence[UnitVersion]) -> None:
    """An existing successor stays open: the units merged into it need a parent after it."""
    end = lifetime(successor).end
    if end is not None:
        raise RuleBroken("successor.unit_id", f"the successor closes on {end}: the units "
                         "merged into it would be left without a parent")


def check_split_successor(index: int, predecessor_id: uuid.UUID,
                          successor_id: uuid.UUID) -> None:
    if successor_id == predecessor_id:
        raise RuleBroken(f"successors.{index}.unit_id", "is the unit being split")


def check_split_kind(index: int, predecessor_kind: UnitKind, successor_kind: UnitKind) -> None:
    if successor_kind != predecessor_kind:
        raise RuleBroken(f"successors.{index}.kind",
                         f"a {predecessor_kind} cannot split into a {successor_kind}")


def check_split(successor_ids: Sequence[uuid.UUID], children: Set[uuid.UUID],
                moves: Sequence[tuple[uuid.UUID, int]], closes_predecessor: bool) -> None:
    """The successors are distinct, and ``moves`` (child, index of its successor) sends
    children of the unit to successors; all of them when the unit closes."""
    if len(set(successor_ids)) != len(successor_ids):
        raise RuleBroken("successors", "lists a unit twice")
    for i, (child_id, successor) in enumerate(moves):
        if child_id not in children:
            raise RuleBroken(f"children.{i}.unit_id", "is not a child of the unit")
        if successor >= len(successor_ids):
            raise RuleBroken(f"children.{i}.successor", "is not an index of successors")
    left = children - {child_id for child_id, _ in moves}
    if closes_predecessor and left:
        raise RuleBroken("children", f"{len(left)} child unit(s) have no successor; every "
                         "child must go somewhere")
