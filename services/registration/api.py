"""HTTP API of the registration service, and the app that serves it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Query, Request

from chungtay_common import audit, hierarchy
from chungtay_common.auth import PrincipalDep
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.errors import InvalidInput, NotFound, UnsupportedMediaType, responses
from chungtay_common.http import (
    CorrelationId,
    DatabaseDep,
    configure_logging,
    request_context,
)
from chungtay_common.runtime import ServicePlan, service_app
from services.registration import repository, service
from services.registration.domain import fold
from services.registration.schemas import (
    AuditEntry,
    ChangeResult,
    Close,
    ImportResult,
    Limit,
    Merge,
    Move,
    NewUnit,
    Rename,
    Split,
    Subtree,
    SubtreeNode,
    UnitOnDate,
    UnitOut,
    UnitPage,
)
from services.registration.settings import RegistrationSettings

VN = ZoneInfo("Asia/Ho_Chi_Minh")
MIGRATIONS = Path(__file__).parent / "migrations"

router = APIRouter(prefix="/v1", tags=["units"])
AsOf = Annotated[date | None, Query(description="the day to look at (default: today in Vietnam)")]


def _today() -> date:
    return datetime.now(VN).date()


@router.post("/units", status_code=201, response_model=UnitOut,
             responses=responses(401, 403, 409, 413, 422))
async def register_unit(body: NewUnit, request: Request, principal: PrincipalDep,
                        db: DatabaseDep, x_correlation_id: CorrelationId = None) -> UnitOut:
    """Register a unit."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.register(conn, ctx, body)


@router.get("/units", response_model=UnitPage, responses=responses(401, 422))
async def search_units(
    principal: PrincipalDep, db: DatabaseDep, as_of: AsOf = None,
    code: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=200,
                                   description="part of the name, with or without diacritics")
                 ] = None,
    kind: UnitKind | None = None, parent_id: uuid.UUID | None = None,
    limit: Limit = 50, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UnitPage:
    """Search units active on a day by code, name, kind or parent."""
    on = as_of or _today()
    async with db.read() as conn:
        total, rows = await repository.search(
            conn, on=on, code=code, name_folded=fold(q) if q else None, kind=kind,
            parent_id=parent_id, limit=limit, offset=offset)
    return UnitPage(as_of=on, total=total, limit=limit, offset=offset,
                    items=[UnitOnDate(**dict(r)) for r in rows])


@router.get("/units/{unit_id}", response_model=UnitOut, responses=responses(401, 404))
async def get_unit(unit_id: uuid.UUID, principal: PrincipalDep, db: DatabaseDep) -> UnitOut:
    """A unit with all its dated versions and its merge and split lineage."""
    async with db.read() as conn:
        return await service.get_unit(conn, unit_id)


@router.get("/units/{unit_id}/subtree", response_model=Subtree, responses=responses(401, 404))
async def get_subtree(unit_id: uuid.UUID, principal: PrincipalDep, db: DatabaseDep,
                      as_of: AsOf = None) -> Subtree:
    """The unit and everything below it, as the hierarchy stood on a day."""
    on = as_of or _today()
    async with db.read() as conn:
        nodes = await hierarchy.subtree(conn, unit_id, on)
    if not nodes:
        raise NotFound(f"unit {unit_id} does not exist on {on}")
    depth = {unit_id: 0}
    out = []
    for n in nodes:
        d = 0 if n.unit_id == unit_id else depth[n.parent_id] + 1  # type: ignore[index]
        depth[n.unit_id] = d
        out.append(SubtreeNode(unit_id=n.unit_id, kind=n.kind, code=n.code, name=n.name,
                               subkind=n.subkind, parent_id=n.parent_id, depth=d))
    return Subtree(as_of=on, root_id=unit_id, nodes=out)


@router.get("/units/{unit_id}/audit", response_model=list[AuditEntry],
            responses=responses(401, 404))
async def get_audit(unit_id: uuid.UUID, principal: PrincipalDep, db: DatabaseDep
                    ) -> list[AuditEntry]:
    """Every change made to the unit: who, when, what, before and after."""
    async with db.read() as conn:
        entries = await audit.history(conn, "unit", str(unit_id))
    if not entries:
        raise NotFound(f"unit {unit_id} not found")
    return [AuditEntry(**{**e, "at": e["at"].isoformat()}) for e in entries]


@router.post("/units/{unit_id}/rename", response_model=UnitOut,
             responses=responses(401, 403, 404, 409, 422))
async def rename_unit(unit_id: uuid.UUID, body: Rename, request: Request,
                      principal: PrincipalDep, db: DatabaseDep,
                      x_correlation_id: CorrelationId = None) -> UnitOut:
    """Rename a unit from a date."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.rename(conn, ctx, unit_id,
                                    body)


@router.post("/units/{unit_id}/move", response_model=UnitOut,
             responses=responses(401, 403, 404, 409, 422))
async def move_unit(unit_id: uuid.UUID, body: Move, request: Request, principal: PrincipalDep,
                    db: DatabaseDep, x_correlation_id: CorrelationId = None) -> UnitOut:
    """Put a unit under another parent from a date."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.move(conn, ctx, unit_id, body)


@router.post("/units/{unit_id}/close", response_model=UnitOut,
             responses=responses(401, 403, 404, 409, 422))
async def close_unit(unit_id: uuid.UUID, body: Close, request: Request, principal: PrincipalDep,
                     db: DatabaseDep, x_correlation_id: CorrelationId = None) -> UnitOut:
    """Close a unit: it no longer exists from the effective date."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.close(conn, ctx, unit_id,
                                   body)


@router.post("/units/merge", response_model=ChangeResult,
             responses=responses(401, 403, 404, 409, 422))
async def merge_units(body: Merge, request: Request, principal: PrincipalDep, db: DatabaseDep,
                      x_correlation_id: CorrelationId = None) -> ChangeResult:
    """Merge several units into one (new or existing) on a date."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        units = await service.merge(conn, ctx, body)
    return ChangeResult(units=units)


@router.post("/units/{unit_id}/split", response_model=ChangeResult,
             responses=responses(401, 403, 404, 409, 422))
async def split_unit(unit_id: uuid.UUID, body: Split, request: Request,
                     principal: PrincipalDep, db: DatabaseDep,
                     x_correlation_id: CorrelationId = None) -> ChangeResult:
    """Split a unit into several on a date."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        units = await service.split(conn, ctx, unit_id,
                                    body)
    return ChangeResult(units=units)


@router.post(
    "/units/import", response_model=ImportResult, responses=responses(401, 403, 409, 413, 415, 422),
    openapi_extra={"requestBody": {"required": True,
                                   "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_units(request: Request, principal: PrincipalDep, db: DatabaseDep,
                       valid_from: Annotated[date, Query()],
                       x_correlation_id: CorrelationId = None) -> ImportResult:
    """Register the units of a CSV file in the national list's format; all or nothing."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "text/csv":
        raise UnsupportedMediaType("send the file as text/csv (UTF-8)")
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput.on("body", "must be UTF-8") from exc
    settings: RegistrationSettings = request.app.state.settings
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.import_units(conn, ctx, text,
                                          valid_from, settings.import_max_rows)


def build_app(settings: RegistrationSettings | None = None) -> FastAPI:
    settings = settings or RegistrationSettings()
    return service_app(
        ServicePlan(settings, [MIGRATIONS], publishes=True), title="chungtay registration",
        router=router, topic_owner="registration",
        description="Units of the movement and their dated hierarchy (register, rename, move, "
                    "close, merge, split, import).")


def main() -> FastAPI:
    """Entry point for ``uvicorn --factory services.registration.api:main``."""
    configure_logging()
    return build_app()
