"""Pure rules about units: kinds, names, codes and dated versions. No I/O here."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import date

from chungtay_common.contracts.registration import UnitKind, UnitVersion
from chungtay_common.messages import en_vi
from chungtay_common.refusals import RuleBroken, StateConflict
from chungtay_common.request_body import check_shown_name, clean_name

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

# The kinds' names in Vietnamese, for the refusals' Vietnamese texts.
KIND_VI: dict[UnitKind, str] = {
    UnitKind.PROVINCE: "tỉnh", UnitKind.AGENCY: "cơ quan", UnitKind.DISTRICT: "huyện",
    UnitKind.COMMUNE: "xã", UnitKind.VILLAGE: "thôn", UnitKind.MASS_ORG: "tổ chức đoàn thể",
    UnitKind.ENTERPRISE: "doanh nghiệp",
}


def _vi_kinds(kinds: Set[UnitKind]) -> str:
    return " hoặc ".join(KIND_VI[k] for k in sorted(kinds))


# Kinds that carry an official statistical code (the national list of administrative units).
CODED_KINDS = frozenset({UnitKind.PROVINCE, UnitKind.DISTRICT, UnitKind.COMMUNE})


def check_name(name: str, field: str = "name") -> str:
    """A unit name as stored: in Unicode NFC without zero-width characters (a name typed
    decomposed, with a "Unicode tổ hợp" keyboard, is the same name), without surrounding or
    repeated blanks, control or bidirectional control characters (the public lists show it)."""
    name = clean_name(name)
    if name != " ".join(name.split()):
        raise RuleBroken(field, en_vi("must not have leading, trailing or repeated blanks",
                                      "không được có khoảng trắng ở đầu, cuối hoặc lặp lại"))
    try:
        check_shown_name(name)
    except ValueError as exc:
        raise RuleBroken(field, exc.args[0]) from None
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise RuleBroken(field, en_vi("must not contain control or invisible formatting "
                                      "characters",
                                      "không được chứa ký tự điều khiển hoặc ký tự định dạng ẩn"))
    return name


def fold(text: str) -> str:
    """Lower case without diacritics, for search: "Đồng Hới" and "dong hoi" fold alike."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(stripped.lower().split())


def check_subkind(kind: UnitKind, subkind: str | None) -> None:
    if subkind is not None and subkind not in SUBKINDS[kind]:
        allowed = ", ".join(sorted(SUBKINDS[kind]))
        raise RuleBroken("subkind", en_vi(
            f"{subkind!r} is not a subkind of {kind}: {allowed}",
            f"{subkind!r} không phải là loại của {KIND_VI[kind]}: {allowed}"))


def check_code(kind: UnitKind, code: str | None) -> None:
    if kind in CODED_KINDS and code is None:
        raise RuleBroken("code", en_vi(f"a {kind} needs its official code",
                                       f"{KIND_VI[kind]} cần có mã chính thức"))


def check_parent_kind(kind: UnitKind, parent_kind: UnitKind | None) -> None:
    allowed = PARENT_KINDS[kind]
    if parent_kind is None:
        if allowed:
            names = " or ".join(sorted(allowed))
            raise RuleBroken("parent_id", en_vi(
                f"a {kind} needs a parent ({names})",
                f"{KIND_VI[kind]} cần có đơn vị cấp trên ({_vi_kinds(allowed)})"))
        return
    if parent_kind not in allowed:
        if not allowed:
            raise RuleBroken("parent_id", en_vi(f"a {kind} has no parent",
                                                f"{KIND_VI[kind]} không có đơn vị cấp trên"))
        names = " or ".join(sorted(allowed))
        raise RuleBroken("parent_id", en_vi(
            f"a {kind} cannot sit under a {parent_kind}; its parent is a {names}",
            f"{KIND_VI[kind]} không thể trực thuộc {KIND_VI[parent_kind]}; cấp trên của nó là "
            f"{_vi_kinds(allowed)}"))


def check_period(valid_from: date, valid_to: date | None) -> None:
    if valid_to is not None and valid_to <= valid_from:
        raise RuleBroken("valid_to", en_vi("must be after valid_from",
                                           "phải sau ngày valid_from"))


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
        raise RuleBroken("parent_id", en_vi(
            f"the parent exists from {life.start} to {life.end or 'now'}, "
            f"which does not cover {start} to {end or 'open end'}",
            f"đơn vị cấp trên tồn tại từ {life.start} đến {life.end or 'nay'}, "
            f"không bao trùm khoảng {start} đến {end or 'không thời hạn'}"))


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
        raise StateConflict(en_vi(
            f"the unit no longer exists on {effective} (closed on {last.valid_to})",
            f"đơn vị không còn tồn tại vào ngày {effective} (đã giải thể ngày "
            f"{last.valid_to})"))
    if effective < last.valid_from:
        raise RuleBroken("effective_date", en_vi(
            f"must be on or after {last.valid_from}, the start of the unit's latest version",
            f"phải từ ngày {last.valid_from} trở đi, ngày bắt đầu phiên bản mới nhất của "
            "đơn vị"))
    updated = replace_version(last, **changes)
    if updated == last:
        raise RuleBroken("effective_date", en_vi("the change changes nothing",
                                                 "thay đổi này không thay đổi gì"))
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
        raise StateConflict(en_vi(f"the unit is already closed from {last.valid_to}",
                                  f"đơn vị đã giải thể từ ngày {last.valid_to}"))
    if effective <= last.valid_from:
        raise RuleBroken("effective_date", en_vi(
            f"must be after {last.valid_from}, the start of its latest version",
            f"phải sau ngày {last.valid_from}, ngày bắt đầu phiên bản mới nhất của đơn vị"))
    return [*versions[:-1], replace_version(last, valid_to=effective)]


def check_closable(children: int, effective: date) -> None:
    """A unit closes without children: they must be moved, closed or merged first."""
    if children:
        raise StateConflict(en_vi(
            f"the unit still has {children} child unit(s) on or after {effective}: move or "
            "close them first, or merge",
            f"đơn vị vẫn còn {children} đơn vị trực thuộc từ ngày {effective}: hãy chuyển "
            "hoặc giải thể chúng trước, hoặc sáp nhập"))


def replace_version(v: UnitVersion, **changes: object) -> UnitVersion:
    return v.model_copy(update=changes)


_TWICE = en_vi("lists a unit twice", "có một đơn vị được liệt kê hai lần")


def check_merge(
    predecessor_ids: Sequence[uuid.UUID],
    predecessor_kinds: Sequence[UnitKind],
    successor_id: uuid.UUID | None,
    successor_kind: UnitKind,
) -> None:
    if len(set(predecessor_ids)) != len(predecessor_ids):
        raise RuleBroken("predecessor_ids", _TWICE)
    if successor_id is not None and successor_id in predecessor_ids:
        raise RuleBroken("successor.unit_id", en_vi(
            "the successor cannot also be a predecessor",
            "đơn vị kế thừa không thể đồng thời là đơn vị bị sáp nhập"))
    if successor_id is None and len(predecessor_ids) < 2:
        raise RuleBroken("predecessor_ids", en_vi(
            "a merge into a new unit needs two or more units",
            "sáp nhập thành đơn vị mới cần từ hai đơn vị trở lên"))
    for kind in predecessor_kinds:
        if kind != successor_kind:
            raise RuleBroken("predecessor_ids", en_vi(
                f"a {kind} cannot merge into a {successor_kind}",
                f"{KIND_VI[kind]} không thể sáp nhập vào {KIND_VI[successor_kind]}"))


def check_merge_into(successor: Sequence[UnitVersion]) -> None:
    """An existing successor stays open: the units merged into it need a parent after it."""
    end = lifetime(successor).end
    if end is not None:
        raise RuleBroken("successor.unit_id", en_vi(
            f"the successor closes on {end}: the units merged into it would be left without "
            "a parent",
            f"đơn vị kế thừa giải thể ngày {end}: các đơn vị sáp nhập vào sẽ không còn cấp "
            "trên"))


def check_split_successor(index: int, predecessor_id: uuid.UUID,
                          successor_id: uuid.UUID) -> None:
    if successor_id == predecessor_id:
        raise RuleBroken(f"successors.{index}.unit_id", en_vi(
            "is the unit being split", "là chính đơn vị đang được chia tách"))


def check_split_kind(index: int, predecessor_kind: UnitKind, successor_kind: UnitKind) -> None:
    if successor_kind != predecessor_kind:
        raise RuleBroken(f"successors.{index}.kind", en_vi(
            f"a {predecessor_kind} cannot split into a {successor_kind}",
            f"{KIND_VI[predecessor_kind]} không thể chia tách thành "
            f"{KIND_VI[successor_kind]}"))


def check_split(successor_ids: Sequence[uuid.UUID], children: Set[uuid.UUID],
                moves: Sequence[tuple[uuid.UUID, int]], closes_predecessor: bool) -> None:
    """The successors are distinct, and ``moves`` (child, index of its successor) sends
    children of the unit to successors; all of them when the unit closes."""
    if len(set(successor_ids)) != len(successor_ids):
        raise RuleBroken("successors", _TWICE)
    for i, (child_id, successor) in enumerate(moves):
        if child_id not in children:
            raise RuleBroken(f"children.{i}.unit_id", en_vi(
                "is not a child of the unit", "không phải là đơn vị trực thuộc của đơn vị"))
        if successor >= len(successor_ids):
            raise RuleBroken(f"children.{i}.successor", en_vi(
                "is not an index of successors", "không phải là chỉ số trong successors"))
    left = children - {child_id for child_id, _ in moves}
    if closes_predecessor and left:
        raise RuleBroken("children", en_vi(
            f"{len(left)} child unit(s) have no successor; every child must go somewhere",
            f"{len(left)} đơn vị trực thuộc chưa có đơn vị kế thừa; mỗi đơn vị trực thuộc "
            "phải được chuyển đi"))
