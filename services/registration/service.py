"""Use cases of the registration service. Each runs inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import date
from functools import partial

from chungtay_common import audit, clock, hierarchy
from chungtay_common.auth import Role, ensure_may_act_on, require_role
from chungtay_common.context import Context
from chungtay_common.contracts import registration as events
from chungtay_common.contracts.registration import UnitKind, UnitSnapshot, UnitVersion
from chungtay_common.db import Conn
from chungtay_common.errors import NotFound
from chungtay_common.messages import en_vi
from chungtay_common.refusals import RuleBroken, StateConflict
from services.registration import domain, imports, repository
from services.registration import metrics as m
from services.registration.imports import PlannedUnit
from services.registration.schemas import (
    AuditEntry,
    ChangeResult,
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
    Subtree,
    SubtreeNode,
    Successor,
    UnitFound,
    UnitOut,
    UnitPage,
)

# ---------------------------------------------------------------------------------------------
# reads


async def get_unit(conn: Conn, unit_id: uuid.UUID) -> UnitOut:
    snap = await repository.find_snapshot(conn, unit_id)
    if snap is None:
        raise _not_found(unit_id)
    return await _unit_out(conn, snap)


def _not_found(unit_id: uuid.UUID) -> NotFound:
    return NotFound(en_vi(f"unit {unit_id} not found", f"không tìm thấy đơn vị {unit_id}"))


async def search(conn: Conn, as_of: date | None, *, code: str | None, q: str | None,
                 kind: UnitKind | None, parent_id: uuid.UUID | None, limit: int, offset: int
                 ) -> UnitPage:
    """Units active on ``as_of`` (default: today) by code, part of the name, kind, parent."""
    on = as_of or clock.today()
    total, rows = await repository.search(
        conn, on=on, code=code, name_folded=domain.fold(q) if q else None, kind=kind,
        parent_id=parent_id, limit=limit, offset=offset)
    return UnitPage(as_of=on, total=total, limit=limit, offset=offset,
                    items=[UnitFound(**dict(r)) for r in rows])


async def subtree(conn: Conn, unit_id: uuid.UUID, as_of: date | None) -> Subtree:
    """The unit and everything below it on ``as_of`` (default: today), with their depths."""
    on = as_of or clock.today()
    nodes = await hierarchy.subtree(conn, unit_id, on)
    if not nodes:
        raise NotFound(en_vi(f"unit {unit_id} does not exist on {on}",
                             f"đơn vị {unit_id} không tồn tại vào ngày {on}"))
    depth: dict[uuid.UUID | None, int] = {}
    for n in nodes:  # parents come before their children
        depth[n.unit_id] = 0 if n.unit_id == unit_id else depth[n.parent_id] + 1
    return Subtree(as_of=on, root_id=unit_id,
                   nodes=[SubtreeNode(**asdict(n), depth=depth[n.unit_id]) for n in nodes])


async def history(conn: Conn, ctx: Context, unit_id: uuid.UUID) -> list[AuditEntry]:
    """Every change made to the unit, oldest first, with the officials who made them: for a
    caller with authority over the unit today (the administrator: every unit). The read is
    itself audited (``unit.history_read``, filed apart from the unit's changes)."""
    entries = await audit.history(conn, "unit", str(unit_id))
    if not entries:
        raise _not_found(unit_id)
    await hierarchy.ensure_authority(conn, ctx.principal, unit_id, clock.today(), "the unit")
    await ctx.audit(conn, "unit.history_read", "unit_history", unit_id, None, None)
    return [AuditEntry(**{**e, "at": e["at"].isoformat()}) for e in entries]


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


async def _changed(conn: Conn, snaps: Iterable[UnitSnapshot]) -> ChangeResult:
    return ChangeResult(units=[await _unit_out(conn, s) for s in snaps])


# ---------------------------------------------------------------------------------------------
# writes


async def register(conn: Conn, ctx: Context, new: NewUnit) -> UnitOut:
    """Register one unit (``unit.registered``)."""
    require_role(ctx.principal, Role.REGISTRAR)
    snap = await _register(conn, ctx, new)
    ctx.after_commit(m.UNIT_CHANGES.labels("registered").inc)
    return await _unit_out(conn, snap)


async def _register(conn: Conn, ctx: Context, new: NewUnit) -> UnitSnapshot:
    snap = await _create(conn, ctx, new, new.valid_from, new.valid_to)
    await ctx.publish(conn, snap.unit_id, events.UnitRegistered(unit_id=snap.unit_id,
                                                                units=[snap]))
    return snap


async def _create(
    conn: Conn, ctx: Context, new: NewUnit | NewSuccessor,
    valid_from: date, valid_to: date | None,
) -> UnitSnapshot:
    """A new unit over ``[valid_from, valid_to)``, checked, written and audited."""
    await _check_new(conn, ctx, new, valid_from, valid_to)
    unit_id = new.unit_id or uuid.uuid4()
    await repository.insert_unit(conn, unit_id, new.kind, ctx.principal.subject)
    version = UnitVersion(valid_from=valid_from, valid_to=valid_to, code=new.code,
                          name=new.name, subkind=new.subkind, parent_id=new.parent_id)
    revision = await repository.save_versions(conn, unit_id, [version])
    snap = UnitSnapshot(unit_id=unit_id, kind=new.kind, revision=revision, versions=[version])
    await _audit(conn, ctx, "unit.register", unit_id, None, snap)
    return snap


async def _check_new(conn: Conn, ctx: Context, new: NewUnit | NewSuccessor,
                     valid_from: date, valid_to: date | None) -> None:
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
            raise StateConflict(en_vi(
                f"code {new.code} is held by unit {holder} on overlapping dates",
                f"mã {new.code} đang thuộc đơn vị {holder} trong khoảng thời gian trùng lặp"))


async def _ensure_scope(conn: Conn, ctx: Context, unit_id: uuid.UUID, start: date,
                        end: date | None, what: str = "this unit") -> None:
    """The unit lies in the caller's subtree over all of ``[start, end)``: a change dated in
    the past cannot reach a time when the unit was somebody else's; and the caller's own unit
    exists today (a registrar of a unit abolished since holds no authority)."""
    await hierarchy.ensure_acting_unit(conn, ctx.principal, clock.today())
    for chain in await hierarchy.ancestries(conn, unit_id, start, end):
        ensure_may_act_on(ctx.principal, chain, what)


async def _parent(
    conn: Conn, parent_id: uuid.UUID, start: date, end: date | None
) -> UnitSnapshot:
    # shared lock: the parent cannot be closed or merged away while a child is put under it
    parent = await repository.share_unit(conn, parent_id)
    if parent is None:
        raise RuleBroken("parent_id", _no_unit(parent_id))
    domain.check_parent_covers(parent.versions, start, end)
    return parent


async def rename(conn: Conn, ctx: Context, unit_id: uuid.UUID, change: Rename) -> UnitOut:
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


async def move(conn: Conn, ctx: Context, unit_id: uuid.UUID, change: Move) -> UnitOut:
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
    end = domain.lifetime(before.versions).end
    parent = await _parent(conn, parent_id, effective, end)
    domain.check_parent_kind(before.kind, parent.kind)
    await _ensure_scope(conn, ctx, parent_id, effective, end, "the new parent")
    return await _save(conn, ctx, "unit.move", before,
                       domain.change_from(before.versions, effective, parent_id=parent_id))


async def close(conn: Conn, ctx: Context, unit_id: uuid.UUID, change: Close) -> UnitOut:
    """Close a unit: it no longer exists from ``effective_date`` (``unit.closed``)."""
    require_role(ctx.principal, Role.REGISTRAR)
    before = await _locked_in_scope(conn, ctx, unit_id, change.effective_date)
    children = await repository.children_from(conn, unit_id, change.effective_date)
    domain.check_closable(len(children), change.effective_date)
    after = await _save(conn, ctx, "unit.close", before,
                        domain.close_at(before.versions, change.effective_date))
    await ctx.publish(conn, unit_id, events.UnitClosed(
        unit_id=unit_id, effective_date=change.effective_date, reason=change.reason,
        units=[after]))
    ctx.after_commit(m.UNIT_CHANGES.labels("closed").inc)
    return await _unit_out(conn, after)


async def merge(conn: Conn, ctx: Context, change: Merge) -> ChangeResult:
    """Merge units into one on a date; children move to the successor (``unit.merged``)."""
    require_role(ctx.principal, Role.REGISTRAR)
    eff = change.effective_date
    preds, existing = await _lock_merged(conn, ctx, change)
    # The predecessors close first: a new successor often keeps one of their codes.
    closed = [await _save(conn, ctx, "unit.merge", pred, domain.close_at(pred.versions, eff))
              for pred in preds]
    if existing is None:
        assert isinstance(change.successor, NewSuccessor)
        successor = await _create_within(conn, ctx, change.successor, eff, "successor")
    else:
        successor = existing
    changed = [successor] if existing is None else []
    for pred, after in zip(preds, closed, strict=True):
        children = await repository.children_from(conn, pred.unit_id, eff)
        changed += await _move_children(conn, ctx, eff,
                                        [(child, successor.unit_id) for child in children])
        changed.append(after)
        await repository.add_lineage(conn, "merge", eff, pred.unit_id, successor.unit_id)
    if existing is not None:
        changed.append(successor)  # unchanged, but consumers learn its lineage through it
    await ctx.publish(conn, successor.unit_id, events.UnitMerged(
        successor_id=successor.unit_id, predecessor_ids=[p.unit_id for p in preds],
        effective_date=eff, successor_created=existing is None, units=changed))
    ctx.after_commit(m.UNIT_CHANGES.labels("merged").inc)
    return await _changed(conn, changed)


async def _lock_merged(conn: Conn, ctx: Context, change: Merge
                       ) -> tuple[list[UnitSnapshot], UnitSnapshot | None]:
    """The predecessors (sorted by id) and the existing successor (None: a new one), locked
    and checked. Every unit is locked in one order, so concurrent merges cannot deadlock."""
    eff = change.effective_date
    successor_id = (change.successor.unit_id if isinstance(change.successor, ExistingUnit)
                    else None)
    ids = sorted({*change.predecessor_ids, *([successor_id] if successor_id else [])})
    locked = {uid: await _locked_in_scope(
        conn, ctx, uid, eff, field="successor.unit_id" if uid == successor_id
        else "predecessor_ids") for uid in ids}
    preds = [locked[pid] for pid in sorted(set(change.predecessor_ids))]
    kinds = [p.kind for p in preds]
    if successor_id is None:
        assert isinstance(change.successor, NewSuccessor)
        domain.check_merge(change.predecessor_ids, kinds, None, change.successor.kind)
        return preds, None
    existing = locked[successor_id]
    domain.check_merge(change.predecessor_ids, kinds, existing.unit_id, existing.kind)
    domain.check_merge_into(existing.versions)
    return preds, existing


async def split(conn: Conn, ctx: Context, unit_id: uuid.UUID, change: Split) -> ChangeResult:
    """Split a unit into several on a date (``unit.split``)."""
    require_role(ctx.principal, Role.REGISTRAR)
    eff = change.effective_date
    pred = await _locked_in_scope(conn, ctx, unit_id, eff)
    if change.close_predecessor:
        # Closed before its successors are created: one of them often keeps its code.
        pred = await _save(conn, ctx, "unit.split", pred, domain.close_at(pred.versions, eff))
    successors = [await _split_successor(conn, ctx, pred, i, spec, eff)
                  for i, spec in enumerate(change.successors)]
    moves = [(c.unit_id, c.successor) for c in change.children]
    domain.check_split([s.unit_id for s in successors],
                       set(await repository.children_from(conn, unit_id, eff)), moves,
                       change.close_predecessor)
    changed = [s for s, spec in zip(successors, change.successors, strict=True)
               if isinstance(spec, NewSuccessor)]
    changed += await _move_children(conn, ctx, eff, [
        (child, successors[index].unit_id) for child, index in sorted(dict(moves).items())])
    changed.append(pred)
    for s in successors:
        await repository.add_lineage(conn, "split", eff, unit_id, s.unit_id)
    await ctx.publish(conn, unit_id, events.UnitSplit(
        predecessor_id=unit_id, successor_ids=[s.unit_id for s in successors],
        effective_date=eff, predecessor_closed=change.close_predecessor, units=changed))
    ctx.after_commit(m.UNIT_CHANGES.labels("split").inc)
    return await _changed(conn, changed)


async def _split_successor(conn: Conn, ctx: Context, pred: UnitSnapshot, index: int,
                           spec: Successor, eff: date) -> UnitSnapshot:
    """The ``index``-th successor of a split: an existing unit, locked, or a new one."""
    if isinstance(spec, ExistingUnit):
        domain.check_split_successor(index, pred.unit_id, spec.unit_id)
        successor = await _locked_in_scope(conn, ctx, spec.unit_id, eff,
                                           field=f"successors.{index}.unit_id")
    else:
        successor = await _create_within(conn, ctx, spec, eff, f"successors.{index}")
    domain.check_split_kind(index, pred.kind, successor.kind)
    return successor


async def _create_within(conn: Conn, ctx: Context, spec: NewSuccessor, eff: date,
                         field: str) -> UnitSnapshot:
    """A successor created by a change; a broken rule names it as ``field`` of the change."""
    try:
        return await _create(conn, ctx, spec, eff, None)
    except RuleBroken as exc:
        raise exc.within(field) from exc


async def _move_children(conn: Conn, ctx: Context, eff: date,
                         moves: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> list[UnitSnapshot]:
    """Each (child, new parent) of ``moves`` put under its new parent from ``eff``."""
    moved = []
    for child_id, parent_id in moves:
        child = await repository.lock_unit(conn, child_id)
        moved.append(await _save(conn, ctx, "unit.move", child, domain.change_from(
            child.versions, eff, parent_id=parent_id)))
    return moved


async def _locked_in_scope(conn: Conn, ctx: Context, unit_id: uuid.UUID,
                           on: date, field: str = "unit_id") -> UnitSnapshot:
    try:
        snap = await repository.lock_unit(conn, unit_id)
    except NotFound:
        if field == "unit_id":
            raise
        raise RuleBroken(field, _no_unit(unit_id)) from None
    if domain.version_on(snap.versions, on) is None:
        raise StateConflict(en_vi(f"unit {unit_id} does not exist on {on}",
                                  f"đơn vị {unit_id} không tồn tại vào ngày {on}"))
    await _ensure_scope(conn, ctx, unit_id, on, domain.lifetime(snap.versions).end)
    return snap


def _no_unit(unit_id: uuid.UUID) -> str:
    return en_vi(f"no unit {unit_id}", f"không có đơn vị {unit_id}")


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


async def import_units(conn: Conn, ctx: Context, text: str, valid_from: date,
                       max_rows: int) -> ImportResult:
    """Register every unit of the file that is not registered yet; all or nothing."""
    require_role(ctx.principal, Role.REGISTRAR)
    ids: dict[str, uuid.UUID] = {}
    created = 0
    for unit in imports.parse_units_csv(text, max_rows):  # parents first
        parent_id = ids.get(unit.parent_code) if unit.parent_code else None
        ids[unit.code], new = await _import_unit(conn, ctx, unit, parent_id, valid_from)
        created += new
    unchanged = len(ids) - created
    ctx.after_commit(partial(m.IMPORTED_ROWS.labels("created").inc, created))
    ctx.after_commit(partial(m.IMPORTED_ROWS.labels("unchanged").inc, unchanged))
    ctx.after_commit(partial(m.UNIT_CHANGES.labels("registered").inc, created))
    return ImportResult(valid_from=valid_from, created=created, unchanged=unchanged,
                        unit_ids_by_code=ids)


async def _import_unit(conn: Conn, ctx: Context, unit: PlannedUnit,
                       parent_id: uuid.UUID | None, valid_from: date) -> tuple[uuid.UUID, bool]:
    """The unit's id, and whether it is registered now (rather than already)."""
    registered = await repository.find_by_code(conn, unit.code, valid_from)
    if registered is not None:
        imports.check_registered(unit, parent_id, registered["kind"], registered["name"],
                                 registered["parent_id"])
        return registered["unit_id"], False
    new = NewUnit(kind=unit.kind, subkind=unit.subkind, code=unit.code, name=unit.name,
                  parent_id=parent_id, valid_from=valid_from)
    try:
        snap = await _register(conn, ctx, new)
    except RuleBroken as exc:
        raise imports.at_row(unit.row, exc) from exc
    return snap.unit_id, True
