"""Use cases of the registration service. Each runs inside the caller's transaction."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial

from chungtay_common import hierarchy
from chungtay_common.auth import Role, ensure_may_act_on, require_role
from chungtay_common.context import Context
from chungtay_common.contracts import registration as events
from chungtay_common.contracts.registration import UnitKind, UnitSnapshot, UnitVersion
from chungtay_common.db import Conn
from chungtay_common.errors import AppError, Conflict, FieldError, InvalidInput, NotFound
from services.registration import domain, repository
from services.registration import metrics as m
from services.registration.schemas import (
    Close,
    ExistingUnit,
    ImportResult,
    LineageLink,
    Merge,
    Move,
    NewSuccessor,
    NewUnit,
    Rename,
    Split,
    UnitOut,
)

PRODUCER = "registration"


# ---------------------------------------------------------------------------------------------
# reads


async def get_unit(conn: Conn, unit_id: uuid.UUID) -> UnitOut:
    snap = await repository.find_snapshot(conn, unit_id)
    if snap is None:
        raise NotFound(f"unit {unit_id} not found")
    return await _unit_out(conn, snap)


async def _unit_out(conn: Conn, snap: UnitSnapshot) -> UnitOut:
    preds, succs = [], []
    for r in await repository.lineage(conn, snap.unit_id):
        if r["successor_id"] == snap.unit_id:
            preds.append(LineageLink(change=r["change"], effective_date=r["effective_date"],
                                     unit_id=r["predecessor_id"]))
        else:
            succs.append(LineageLink(change=r["change"], effective_date=r["effective_date"],
                                     unit_id=r["successor_id"]))
    return UnitOut(unit_id=snap.unit_id, kind=snap.kind, revision=snap.revision,
                   versions=snap.versions, predecessors=preds, successors=succs)


# ---------------------------------------------------------------------------------------------
# writes


async def register(conn: Conn, ctx: Context, new: NewUnit) -> UnitOut:
    """Register one unit (``unit.registered``)."""
    require_role(ctx.principal, Role.REGISTRAR)
    snap = await _create(conn, ctx, new, new.valid_from, new.valid_to)
    await ctx.publish(conn, snap.unit_id, events.UnitRegistered(unit_id=snap.unit_id,
                                                                  units=[snap]))
    ctx.after_commit(m.UNIT_CHANGES.labels("registered").inc)
    return await _unit_out(conn, snap)


async def _create(
    conn: Conn, ctx: Context, new: NewUnit | NewSuccessor,
    valid_from: date, valid_to: date | None,
) -> UnitSnapshot:
    domain.check_name(new.name)
    domain.check_subkind(new.kind, new.subkind)
    domain.check_code(new.kind, new.code)
    domain.check_period(valid_from, valid_to)
    if new.parent_id is None:
        domain.check_parent_kind(new.kind, None)
        ensure_may_act_on(ctx.principal, [], "a unit without a parent")
    else:
        parent = await _parent(conn, new.parent_id, valid_from, valid_to)
        domain.check_parent_kind(new.kind, parent.kind)
        await _ensure_scope(conn, ctx, new.parent_id, valid_from, valid_to, "the parent unit")
    if new.code is not None:
        holder = await repository.code_holder(conn, new.code, valid_from, valid_to)
        if holder is not None:
            raise Conflict(f"code {new.code} is held by unit {holder} on overlapping dates")
    unit_id = new.unit_id or uuid.uuid4()
    await repository.insert_unit(conn, unit_id, new.kind, ctx.principal.subject)
    version = UnitVersion(valid_from=valid_from, valid_to=valid_to, code=new.code,
                          name=new.name, subkind=new.subkind, parent_id=new.parent_id)
    revision = await repository.save_versions(conn, unit_id, [version])
    snap = UnitSnapshot(unit_id=unit_id, kind=new.kind, revision=revision, versions=[version])
    await _audit(conn, ctx, "unit.register", unit_id, None, snap)
    return snap


async def _ensure_scope(conn: Conn, ctx: Context, unit_id: uuid.UUID, start: date,
                        end: date | None, what: str = "this unit") -> None:
    """The unit lies in the caller's subtree over all of ``[start, end)``: a change dated in
    the past cannot reach a time when the unit was somebody else's."""
    for chain in await hierarchy.ancestries(conn, unit_id, start, end):
        ensure_may_act_on(ctx.principal, chain, what)


async def _parent(
    conn: Conn, parent_id: uuid.UUID, start: date, end: date | None
) -> UnitSnapshot:
    # shared lock: the parent cannot be closed or merged away while a child is put under it
    parent = await repository.share_unit(conn, parent_id)
    if parent is None:
        raise InvalidInput.on("parent_id", f"no unit {parent_id}")
    if not domain.lifetime(parent.versions).covers(start, end):
        life = domain.lifetime(parent.versions)
        raise InvalidInput.on(
            "parent_id",
            f"the parent exists from {life.start} to {life.end or 'now'}, "
            f"which does not cover {start} to {end or 'open end'}",
        )
    return parent


async def rename(conn: Conn, ctx: Context, unit_id: uuid.UUID,
                 change: Rename) -> UnitOut:
    """Rename a unit from a date (``unit.renamed``)."""
    require_role(ctx.principal, Role.REGISTRAR)
    domain.check_name(change.name)
    before = await _locked_in_scope(conn, ctx, unit_id, change.effective_date)
    old = domain.version_on(before.versions, change.effective_date)
    assert old is not None
    after = await _save(conn, ctx, "unit.rename", before,
                        domain.change_from(before.versions, change.effective_date,
                                           name=change.name))
    await ctx.publish(conn, unit_id, events.UnitRenamed(
        unit_id=unit_id, effective_date=change.effective_date, old_name=old.name,
        new_name=change.name, units=[after]))
    ctx.after_commit(m.UNIT_CHANGES.labels("renamed").inc)
    return await _unit_out(conn, after)


async def move(conn: Conn, ctx: Context, unit_id: uuid.UUID,
               change: Move) -> UnitOut:
    """Put a unit under another parent from a date (``unit.moved``)."""
    require_role(ctx.principal, Role.REGISTRAR)
    before = await _locked_in_scope(conn, ctx, unit_id, change.effective_date)
    old = domain.version_on(before.versions, change.effective_date)
    assert old is not None
    after = await _reparent(conn, ctx, before, change.parent_id, change.effective_date)
    await ctx.publish(conn, unit_id, events.UnitMoved(
        unit_id=unit_id, effective_date=change.effective_date, old_parent_id=old.parent_id,
        new_parent_id=change.parent_id, units=[after]))
    ctx.after_commit(m.UNIT_CHANGES.labels("moved").inc)
    return await _unit_out(conn, after)


async def _reparent(conn: Conn, ctx: Context, before: UnitSnapshot,
                    parent_id: uuid.UUID, effective: date) -> UnitSnapshot:
    parent = await _parent(conn, parent_id, effective,
                           domain.lifetime(before.versions).end)
    domain.check_parent_kind(before.kind, parent.kind)
    await _ensure_scope(conn, ctx, parent_id, effective, domain.lifetime(before.versions).end,
                        "the new parent")
    return await _save(conn, ctx, "unit.move", before,
                       domain.change_from(before.versions, effective, parent_id=parent_id))


async def close(conn: Conn, ctx: Context, unit_id: uuid.UUID,
                change: Close) -> UnitOut:
    """Close a unit: it no longer exists from ``effective_date`` (``unit.closed``)."""
    require_role(ctx.principal, Role.REGISTRAR)
    before = await _locked_in_scope(conn, ctx, unit_id, change.effective_date)
    children = await repository.children_from(conn, unit_id, change.effective_date)
    if children:
        raise Conflict(f"the unit still has {len(children)} child unit(s) on or after "
                       f"{change.effective_date}: move or close them first, or merge")
    after = await _save(conn, ctx, "unit.close", before,
                        domain.close_at(before.versions, change.effective_date))
    await ctx.publish(conn, unit_id, events.UnitClosed(
        unit_id=unit_id, effective_date=change.effective_date, reason=change.reason,
        units=[after]))
    ctx.after_commit(m.UNIT_CHANGES.labels("closed").inc)
    return await _unit_out(conn, after)


async def merge(conn: Conn, ctx: Context, change: Merge) -> list[UnitOut]:
    """Merge units into one on a date; children move to the successor (``unit.merged``)."""
    require_role(ctx.principal, Role.REGISTRAR)
    eff = change.effective_date
    successor_id = change.successor.unit_id if isinstance(change.successor,
                                                          ExistingUnit) else None
    # every unit locked in one order (ids sorted), so concurrent merges cannot deadlock
    locked = {uid: await _locked_in_scope(
        conn, ctx, uid, eff, field="successor.unit_id" if uid == successor_id
        else "predecessor_ids") for uid in sorted({*change.predecessor_ids,
                                                    *([successor_id] if successor_id else [])})}
    preds = [locked[pid] for pid in sorted(set(change.predecessor_ids))]
    changed: list[UnitSnapshot] = []
    existing = None
    if successor_id is not None:
        existing = locked[successor_id]
        domain.check_merge(change.predecessor_ids, [p.kind for p in preds],
                           existing.unit_id, existing.kind)
        if domain.lifetime(existing.versions).end is not None:
            raise InvalidInput.on("successor.unit_id", "the successor closes on "
                                  f"{domain.lifetime(existing.versions).end}: the units merged "
                                  "into it would be left without a parent")
    else:
        assert isinstance(change.successor, NewSuccessor)
        domain.check_merge(change.predecessor_ids, [p.kind for p in preds],
                           None, change.successor.kind)
    # The predecessors close first: a new successor often keeps one of their codes.
    closed = [await _save(conn, ctx, "unit.merge", pred, domain.close_at(pred.versions, eff))
              for pred in preds]
    if existing is None:
        assert isinstance(change.successor, NewSuccessor)
        try:
            successor = await _create(conn, ctx, change.successor, eff, None)
        except InvalidInput as exc:
            raise exc.within("successor") from exc
        created = True
        changed.append(successor)
    else:
        successor, created = existing, False
    for pred, after in zip(preds, closed, strict=True):
        for child_id in await repository.children_from(conn, pred.unit_id, eff):
            child = await repository.lock_unit(conn, child_id)
            changed.append(await _save(conn, ctx, "unit.move", child, domain.change_from(
                child.versions, eff, parent_id=successor.unit_id)))
        changed.append(after)
        await repository.add_lineage(conn, "merge", eff, pred.unit_id, successor.unit_id)
    if not created:
        changed.append(successor)  # unchanged, but consumers learn its lineage through it
    await ctx.publish(conn, successor.unit_id, events.UnitMerged(
        successor_id=successor.unit_id, predecessor_ids=[p.unit_id for p in preds],
        effective_date=eff, successor_created=created, units=changed))
    ctx.after_commit(m.UNIT_CHANGES.labels("merged").inc)
    return [await _unit_out(conn, s) for s in changed]


async def split(conn: Conn, ctx: Context, unit_id: uuid.UUID,
                change: Split) -> list[UnitOut]:
    """Split a unit into several on a date (``unit.split``)."""
    require_role(ctx.principal, Role.REGISTRAR)
    eff = change.effective_date
    pred = await _locked_in_scope(conn, ctx, unit_id, eff)
    if change.close_predecessor:
        # Closed before its successors are created: one of them often keeps its code.
        pred = await _save(conn, ctx, "unit.split", pred, domain.close_at(pred.versions, eff))
    successors: list[UnitSnapshot] = []
    created: list[UnitSnapshot] = []
    for i, spec in enumerate(change.successors):
        if isinstance(spec, ExistingUnit):
            if spec.unit_id == unit_id:
                raise InvalidInput.on(f"successors.{i}.unit_id", "is the unit being split")
            successors.append(await _locked_in_scope(conn, ctx, spec.unit_id, eff,
                                                     field=f"successors.{i}.unit_id"))
        else:
            try:
                snap = await _create(conn, ctx, spec, eff, None)
            except InvalidInput as exc:
                raise exc.within(f"successors.{i}") from exc
            successors.append(snap)
            created.append(snap)
        if successors[-1].kind != pred.kind:
            raise InvalidInput.on(f"successors.{i}.kind",
                                  f"a {pred.kind} cannot split into a {successors[-1].kind}")
    if len({s.unit_id for s in successors}) != len(successors):
        raise InvalidInput.on("successors", "lists a unit twice")
    children = set(await repository.children_from(conn, unit_id, eff))
    mapped = {c.unit_id: c.successor for c in change.children}
    for i, c in enumerate(change.children):
        if c.unit_id not in children:
            raise InvalidInput.on(f"children.{i}.unit_id", "is not a child of the unit")
        if c.successor >= len(successors):
            raise InvalidInput.on(f"children.{i}.successor", "is not an index of successors")
    if change.close_predecessor and children - mapped.keys():
        raise InvalidInput.on("children", f"{len(children - mapped.keys())} child unit(s) "
                              "have no successor; every child must go somewhere")
    changed = list(created)
    for child_id, index in sorted(mapped.items()):
        child = await repository.lock_unit(conn, child_id)
        changed.append(await _save(conn, ctx, "unit.move", child, domain.change_from(
            child.versions, eff, parent_id=successors[index].unit_id)))
    changed.append(pred)
    for s in successors:
        await repository.add_lineage(conn, "split", eff, unit_id, s.unit_id)
    await ctx.publish(conn, unit_id, events.UnitSplit(
        predecessor_id=unit_id, successor_ids=[s.unit_id for s in successors],
        effective_date=eff, predecessor_closed=change.close_predecessor, units=changed))
    ctx.after_commit(m.UNIT_CHANGES.labels("split").inc)
    return [await _unit_out(conn, s) for s in changed]


async def _locked_in_scope(conn: Conn, ctx: Context, unit_id: uuid.UUID,
                           on: date, field: str = "unit_id") -> UnitSnapshot:
    try:
        snap = await repository.lock_unit(conn, unit_id)
    except NotFound:
        if field == "unit_id":
            raise
        raise InvalidInput.on(field, f"no unit {unit_id}") from None
    if domain.version_on(snap.versions, on) is None:
        raise Conflict(f"unit {unit_id} does not exist on {on}")
    await _ensure_scope(conn, ctx, unit_id, on, domain.lifetime(snap.versions).end)
    return snap


async def _save(conn: Conn, ctx: Context, action: str, before: UnitSnapshot,
                versions: Sequence[UnitVersion]) -> UnitSnapshot:
    revision = await repository.save_versions(conn, before.unit_id, versions)
    after = UnitSnapshot(unit_id=before.unit_id, kind=before.kind, revision=revision,
                         versions=list(versions))
    await _audit(conn, ctx, action, before.unit_id, before, after)
    return after


async def _audit(conn: Conn, ctx: Context, action: str, unit_id: uuid.UUID,
                 before: UnitSnapshot | None, after: UnitSnapshot) -> None:
    await ctx.audit(conn, action, "unit", unit_id,
                    before.model_dump(mode="json") if before else None,
                    after.model_dump(mode="json"))


# ---------------------------------------------------------------------------------------------
# bulk import of the national list format

IMPORT_COLUMNS = ["province_code", "province_name", "district_code", "district_name",
                  "commune_code", "commune_name", "commune_kind"]
_DISTRICT_PREFIXES = {"Thành phố": "thanh_pho", "Thị xã": "thi_xa", "Huyện": "huyen",
                      "Quận": "quan"}
_PROVINCE_PREFIXES = {"Tỉnh": "tinh", "Thành phố": "thanh_pho_truc_thuoc_tw"}
_OFFICIAL_CODE = re.compile(r"[0-9]{1,20}", re.ASCII)
_COMMUNE_KINDS = {"xa": "xa", "phuong": "phuong", "thi_tran": "thi_tran", "dac_khu": "dac_khu"}


def _prefix_subkind(name: str, prefixes: dict[str, str]) -> str | None:
    for prefix, subkind in prefixes.items():
        if name.startswith(prefix + " "):
            return subkind
    return None


@dataclass(frozen=True)
class _Planned:
    row: int
    column: str
    kind: UnitKind
    code: str
    name: str
    subkind: str | None
    parent_code: str | None


def parse_units_csv(text: str, max_rows: int) -> list[_Planned]:
    """Rows of the national list (province, district, commune) as units to have, parents first.
    Every problem of every row is reported at once (422 listing row, column and message)."""
    errors: list[FieldError] = []

    def err(row: int, column: str, message: str) -> None:
        errors.append(FieldError(field=f"row {row}: {column}", message=message))

    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header != IMPORT_COLUMNS:
        raise InvalidInput.on("header", f"must be exactly: {','.join(IMPORT_COLUMNS)}")
    planned: dict[str, _Planned] = {}
    for n, row in enumerate(reader, start=2):
        if n - 1 > max_rows:
            raise InvalidInput.on("body", f"more than {max_rows} rows")
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(IMPORT_COLUMNS):
            err(n, "row", f"has {len(row)} columns, expected {len(IMPORT_COLUMNS)}")
            continue
        values = dict(zip(IMPORT_COLUMNS, row, strict=True))
        levels = [
            (UnitKind.PROVINCE, "province", None, _prefix_subkind(values["province_name"],
                                                               _PROVINCE_PREFIXES)),
            (UnitKind.DISTRICT, "district", "province",
             _prefix_subkind(values["district_name"], _DISTRICT_PREFIXES)),
            (UnitKind.COMMUNE, "commune", "district",
             _COMMUNE_KINDS.get(values["commune_kind"])),
        ]
        for kind, level, parent_level, subkind in levels:
            code, name = values[f"{level}_code"].strip(), values[f"{level}_name"]
            if not _OFFICIAL_CODE.fullmatch(code):
                err(n, f"{level}_code", "must be the official numeric code (1 to 20 digits)")
                continue
            if not 1 <= len(name) <= 200:
                err(n, f"{level}_name", "must have 1 to 200 characters")
                continue
            try:
                domain.check_name(name)
            except AppError as exc:
                err(n, f"{level}_name", exc.errors[0].message)
                continue
            if subkind is None:
                column = "commune_kind" if level == "commune" else f"{level}_name"
                err(n, column, f"cannot tell the {level}'s subkind from {values[column]!r}")
                continue
            parent_code = values[f"{parent_level}_code"].strip() if parent_level else None
            unit = _Planned(n, f"{level}_code", kind, code, name, subkind, parent_code)
            seen = planned.get(code)
            if seen is None:
                planned[code] = unit
            elif (seen.kind, seen.name, seen.parent_code) != (kind, name, parent_code):
                err(n, f"{level}_code", f"code {code} stands for another unit on row {seen.row}")
    if errors:
        raise InvalidInput(f"{len(errors)} problem(s) in the file", errors)
    order = {UnitKind.PROVINCE: 0, UnitKind.DISTRICT: 1, UnitKind.COMMUNE: 2}
    return sorted(planned.values(), key=lambda p: (order[p.kind], p.row))


async def import_units(conn: Conn, ctx: Context, text: str, valid_from: date,
                       max_rows: int) -> ImportResult:
    """Register every unit of the file that is not registered yet; all or nothing."""
    require_role(ctx.principal, Role.REGISTRAR)
    plan = parse_units_csv(text, max_rows)
    ids: dict[str, uuid.UUID] = {}
    created = unchanged = 0
    for p in plan:
        existing = await repository.find_by_code(conn, p.code, valid_from)
        parent_id = ids.get(p.parent_code) if p.parent_code else None
        if existing is not None:
            if (existing["kind"], existing["name"], existing["parent_id"]) != (
                    p.kind.value, p.name, parent_id):
                raise InvalidInput(
                    f"row {p.row}: code {p.code} is registered as {existing['name']!r}",
                    [FieldError(field=f"row {p.row}: {p.column}",
                                message=f"code {p.code} is already registered as "
                                        f"{existing['kind']} {existing['name']!r}")])
            ids[p.code] = existing["unit_id"]
            unchanged += 1
            continue
        new = NewUnit(kind=p.kind, subkind=p.subkind, code=p.code, name=p.name,
                      parent_id=parent_id, valid_from=valid_from)
        try:
            snap = await _create(conn, ctx, new, valid_from, None)
        except InvalidInput as exc:
            raise InvalidInput(f"row {p.row}: {exc.detail}",
                               [FieldError(field=f"row {p.row}: {e.field}", message=e.message)
                                for e in exc.errors]) from exc
        await ctx.publish(conn, snap.unit_id,
                       events.UnitRegistered(unit_id=snap.unit_id, units=[snap]))
        ids[p.code] = snap.unit_id
        created += 1
    ctx.after_commit(partial(m.IMPORTED_ROWS.labels("created").inc, created))
    ctx.after_commit(partial(m.IMPORTED_ROWS.labels("unchanged").inc, unchanged))
    ctx.after_commit(partial(m.UNIT_CHANGES.labels("registered").inc, created))
    return ImportResult(valid_from=valid_from, created=created, unchanged=unchanged,
                        unit_ids_by_code=ids)
