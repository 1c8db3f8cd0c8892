"""Use cases of the register of exemplary models and initiatives (điển hình tiên tiến, mô hình,
sáng kiến): a unit proposes, the board recognises, replications and the awards a model led to
are recorded; every change audited and announced (``exemplary_model.*``)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg

from chungtay_common import clock, hierarchy
from chungtay_common.auth import Role, require_role
from chungtay_common.context import Context
from chungtay_common.contracts import awards as ev
from chungtay_common.contracts.awards import ExemplaryKind, Recognition, Replication
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.db import Conn
from chungtay_common.errors import InvalidInput, NotFound
from services.awards import domain_exemplary as rules
from services.awards import repository as core
from services.awards.domain import Status
from services.awards.repository import exemplary as repository
from services.awards.schemas.exemplary import (
    AwardLinkIn,
    EvidenceRef,
    ExemplaryCandidate,
    ExemplaryEditIn,
    ExemplaryIn,
    ExemplaryOut,
    ExemplaryPage,
    LinkedAward,
    RecognitionIn,
    ReplicationIn,
    ReplicationOut,
)


def recognition_of(row: asyncpg.Record) -> Recognition | None:
    if row["recognised_at"] is None:
        return None
    return Recognition(recognised_by=row["recognised_by"],
                       decision_number=row["decision_number"], decided_on=row["decided_on"])


async def _outs(conn: Conn, rows: list[asyncpg.Record]) -> list[ExemplaryOut]:
    ids = [r["model_id"] for r in rows]
    replications: dict[uuid.UUID, list[ReplicationOut]] = {}
    for r in await repository.replications(conn, ids):
        replications.setdefault(r["model_id"], []).append(ReplicationOut(
            replication_id=r["replication_id"], unit_id=r["unit_id"],
            replicated_on=r["replicated_on"], outcome=r["outcome"],
            recorded_at=r["recorded_at"]))
    awards: dict[uuid.UUID, list[LinkedAward]] = {}
    for a in await repository.award_links(conn, ids):
        awards.setdefault(a["model_id"], []).append(LinkedAward(
            nomination_id=a["nomination_id"], form_code=a["form_code"], year=a["year"],
            status=a["status"], linked_at=a["linked_at"]))
    return [ExemplaryOut(
        model_id=r["model_id"], name=r["name"], unit_id=r["unit_id"], kind=r["kind"],
        description=r["description"], year=r["year"],
        evidence=[EvidenceRef(**e) for e in r["evidence"]],
        recognised=r["recognised_at"] is not None, recognition=recognition_of(r),
        recognised_at=r["recognised_at"], replications=replications.get(r["model_id"], []),
        awards=awards.get(r["model_id"], []), version=r["version"],
        proposed_at=r["proposed_at"], updated_at=r["updated_at"]) for r in rows]


async def get_model(conn: Conn, model_id: uuid.UUID) -> ExemplaryOut:
    row = await repository.model(conn, model_id)
    if row is None:
        raise NotFound(f"exemplary model {model_id} not found")
    return (await _outs(conn, [row]))[0]


def _event(out: ExemplaryOut) -> dict[str, Any]:
    """What every event of a model says: the model as it stands."""
    return {"model_id": out.model_id, "name": out.name, "kind": out.kind,
            "unit_id": out.unit_id, "year": out.year, "recognised": out.recognised,
            "recognition": out.recognition}


async def _unit_in_scope(conn: Conn, ctx: Context, unit_id: uuid.UUID, year: int,
                         field: str, what: str) -> None:
    """The unit existed in ``year`` (else 422 on ``field``) and the caller holds authority
    over it today, the day of the action (else 403)."""
    day = await hierarchy.last_day_active(conn, unit_id, date(year, 1, 1), date(year, 12, 31))
    if day is None:
        raise InvalidInput.on(field, f"is not a unit active in {year}")
    await hierarchy.ensure_authority(conn, ctx.principal, unit_id, clock.today(), what)


async def _locked(conn: Conn, model_id: uuid.UUID) -> asyncpg.Record:
    row = await repository.model(conn, model_id, lock=True)
    if row is None:
        raise NotFound(f"exemplary model {model_id} not found")
    return row


# --------------------------------------------------------------------------- changes


async def register(conn: Conn, ctx: Context, body: ExemplaryIn) -> ExemplaryOut:
    """A unit of the caller's subtree proposes a model for the register."""
    require_role(ctx.principal, *rules.PROPOSERS)
    rules.check_year(body.year, clock.today())
    await _unit_in_scope(conn, ctx, body.unit_id, body.year, "unit_id", "the model's unit")
    model_id = uuid.uuid4()
    await repository.insert_model(conn, model_id, {
        "name": body.name, "unit_id": body.unit_id, "kind": body.kind.value,
        "description": body.description, "year": body.year,
        "evidence": [e.model_dump(mode="json") for e in body.evidence]}, ctx.actor.subject)
    out = await get_model(conn, model_id)
    await ctx.audit(conn, "exemplary_model.register", "exemplary_model", model_id, None,
                    out.model_dump(mode="json"))
    await ctx.publish(conn, model_id, ev.ExemplaryModelRegistered(**_event(out)))
    return out


async def edit(conn: Conn, ctx: Context, model_id: uuid.UUID, body: ExemplaryEditIn
               ) -> ExemplaryOut:
    """Correct a model: a proposal by its proposers (over the unit it is and the unit it
    moves to), a recognised model by the board only."""
    require_role(ctx.principal, *rules.PROPOSERS, Role.BOARD)
    row = await _locked(conn, model_id)
    rules.check_editable(row["recognised_at"] is not None, ctx.principal.roles)
    changes = body.model_dump(exclude_unset=True, exclude_none=True, mode="json")
    year = body.year or row["year"]
    rules.check_year(year, clock.today())
    await _unit_in_scope(conn, ctx, row["unit_id"], row["year"], "unit_id", "the model's unit")
    if body.unit_id is not None or body.year is not None:
        await _unit_in_scope(conn, ctx, body.unit_id or row["unit_id"], year, "unit_id",
                             "the model's new unit")
    if body.unit_id is not None:
        changes["unit_id"] = body.unit_id
    before = await get_model(conn, model_id)
    if changes:
        await repository.update_model(conn, model_id, changes)
    out = await get_model(conn, model_id)
    await ctx.audit(conn, "exemplary_model.edit", "exemplary_model", model_id,
                    before.model_dump(mode="json"), out.model_dump(mode="json"))
    if changes:
        await ctx.publish(conn, model_id, ev.ExemplaryModelChanged(**_event(out)))
    return out


async def recognise(conn: Conn, ctx: Context, model_id: uuid.UUID, body: RecognitionIn
                    ) -> ExemplaryOut:
    """The board recognises a model of its province, by a decision; not the model's
    proposer."""
    rules.check_recogniser(ctx.principal.roles)
    row = await _locked(conn, model_id)
    await _unit_in_scope(conn, ctx, row["unit_id"], row["year"], "unit_id", "the model's unit")
    rules.check_recognition(row["recognised_at"] is not None, row["year"], body.decided_on,
                            clock.today())
    rules.check_not_proposer(ctx.principal.subject, {
        row["proposed_by"], *await repository.editors(conn, model_id)})
    before = await get_model(conn, model_id)
    await repository.recognise(conn, model_id, body.recognised_by, body.decision_number,
                               body.decided_on, ctx.actor.subject)
    out = await get_model(conn, model_id)
    await ctx.audit(conn, "exemplary_model.recognise", "exemplary_model", model_id,
                    before.model_dump(mode="json"), out.model_dump(mode="json"))
    await ctx.publish(conn, model_id, ev.ExemplaryModelRecognised(**_event(out)))
    return out


async def replicate(conn: Conn, ctx: Context, model_id: uuid.UUID, body: ReplicationIn
                    ) -> ExemplaryOut:
    """Record where a recognised model was replicated (by a caller over that unit)."""
    require_role(ctx.principal, *rules.PROPOSERS, Role.BOARD)
    row = await _locked(conn, model_id)
    rules.check_replication(row["recognised_at"] is not None, row["year"], row["unit_id"],
                            body.unit_id, body.replicated_on, clock.today())
    await _unit_in_scope(conn, ctx, body.unit_id, body.replicated_on.year, "unit_id",
                         "the replicating unit")
    replication_id = uuid.uuid4()
    await repository.add_replication(conn, replication_id, model_id, body.unit_id,
                                     body.replicated_on, body.outcome, ctx.actor.subject)
    out = await get_model(conn, model_id)
    replication = Replication(replication_id=replication_id, unit_id=body.unit_id,
                              replicated_on=body.replicated_on, outcome=body.outcome)
    await ctx.audit(conn, "exemplary_model.replicate", "exemplary_model", model_id, None,
                    replication.model_dump(mode="json"))
    await ctx.publish(conn, model_id,
                      ev.ExemplaryModelReplicated(**_event(out), replication=replication))
    return out


async def link_award(conn: Conn, ctx: Context, model_id: uuid.UUID, body: AwardLinkIn
                     ) -> ExemplaryOut:
    """Link a model to a nomination (the award it led to, or a dossier it supports): the
    caller holds authority over the model's unit and the dossier's proposing unit."""
    require_role(ctx.principal, *rules.PROPOSERS, Role.BOARD)
    row = await _locked(conn, model_id)
    nomination = await core.nomination(conn, body.nomination_id)
    if nomination is None:
        raise InvalidInput.on("nomination_id", f"no nomination {body.nomination_id}")
    await _unit_in_scope(conn, ctx, row["unit_id"], row["year"], "unit_id", "the model's unit")
    await hierarchy.ensure_authority(conn, ctx.principal, nomination["proposing_unit_id"],
                                     clock.today(), "the proposing unit")
    rules.check_linkable(row["recognised_at"] is not None, Status(nomination["status"]))
    await repository.link_award(conn, model_id, body.nomination_id, ctx.actor.subject)
    out = await get_model(conn, model_id)
    await ctx.audit(conn, "exemplary_model.link_award", "exemplary_model", model_id, None,
                    {"nomination_id": str(body.nomination_id),
                     "form_code": nomination["form_code"]})
    await ctx.publish(conn, model_id, ev.ExemplaryModelAwardLinked(
        **_event(out), nomination_id=body.nomination_id, form_code=nomination["form_code"]))
    return out


# --------------------------------------------------------------------------- reads


async def _readable(conn: Conn, ctx: Context) -> list[uuid.UUID] | None:
    """The units whose proposals the caller may read: its subtree as the hierarchy stands
    today (None: every unit, the administrator)."""
    if Role.ADMIN in ctx.principal.roles:
        return None
    if ctx.principal.unit_id is None:
        return []
    if await hierarchy.unit_on(conn, ctx.principal.unit_id, clock.today()) is None:
        return []  # a unit abolished since reads the recognised models only
    return await hierarchy.authority_subtree(conn, ctx.principal.unit_id, clock.today())


async def search(conn: Conn, ctx: Context, *, year: int | None, unit_id: uuid.UUID | None,
                 kind: ExemplaryKind | None, recognised: bool | None, limit: int,
                 offset: int) -> ExemplaryPage:
    """Recognised models (public data) and the proposals of the caller's subtree, by year,
    unit (its subtree as it stands today), kind and recognition; audited."""
    units = (await hierarchy.authority_subtree(conn, unit_id, clock.today())
             if unit_id is not None else None)
    total, rows = await repository.search(
        conn, year=year, unit_ids=units, kind=kind.value if kind else None,
        recognised=recognised, readable=await _readable(conn, ctx), limit=limit,
        offset=offset)
    await ctx.audit(conn, "exemplary_model.list", "exemplary_model", "-", None, {
        "year": year, "unit_id": str(unit_id) if unit_id else None,
        "kind": kind.value if kind else None, "recognised": recognised, "total": total})
    return ExemplaryPage(total=total, limit=limit, offset=offset,
                         items=await _as_read(conn, await _outs(conn, rows),
                                              await _readable(conn, ctx)))


async def read_model(conn: Conn, ctx: Context, model_id: uuid.UUID) -> ExemplaryOut:
    """A recognised model (public data), or a proposal of the caller's subtree (403
    otherwise); audited."""
    out = await get_model(conn, model_id)
    if not out.recognised:
        await hierarchy.ensure_authority(conn, ctx.principal, out.unit_id, clock.today(),
                                         "the model's unit")
    await ctx.audit(conn, "exemplary_model.read", "exemplary_model", model_id, None, {})
    [shown] = await _as_read(conn, [out], await _readable(conn, ctx))
    return shown


async def _as_read(conn: Conn, outs: list[ExemplaryOut], readable: list[uuid.UUID] | None
                   ) -> list[ExemplaryOut]:
    """The models as a reader sees them: of their linked dossiers, the approved awards
    (public), and the others only when the reader may read the dossier (its proposing unit in
    the reader's subtree). One query for every model's links."""
    if readable is None:
        return outs
    proposers = await repository.link_proposers(conn, [o.model_id for o in outs])
    allowed = set(readable)
    for out in outs:
        out.awards = [a for a in out.awards if a.status is Status.APPROVED
                      or proposers.get(a.nomination_id) in allowed]
    return outs


async def candidates(conn: Conn, year: int, root: uuid.UUID | None, limit: int
                     ) -> list[ExemplaryCandidate]:
    """Communes whose reported figures of ``year`` stand out (the best reducers of the
    poor-household rate, the most households out of poverty): units to look at for models."""
    day = date(year, 12, 31)
    units = (await hierarchy.subtree(conn, root, day) if root
             else await hierarchy.active_on(conn, day))
    communes = {u.unit_id: u for u in units if u.kind is UnitKind.COMMUNE}
    figures = {r["unit_id"]: rules.Figures(
        now={k: float(v) for k, v in r["now"].items()},
        before=({k: float(v) for k, v in r["before"].items()}
                if r["before"] is not None else None))
        for r in await repository.figures(conn, year, list(communes))}
    chosen = rules.stand_outs(figures, limit)
    registered = await repository.models_per_unit(conn, year, [c.unit_id for c in chosen])
    return [ExemplaryCandidate(
        unit_id=c.unit_id, code=communes[c.unit_id].code, name=communes[c.unit_id].name,
        kind=communes[c.unit_id].kind.value, poor_rate_pct=c.poor_rate_pct,
        reduction_pp=c.reduction_pp, escaped_poverty=c.escaped_poverty,
        reasons=list(c.reasons), models_registered=registered.get(c.unit_id, 0))
        for c in chosen]
