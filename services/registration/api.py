"""HTTP API of the registration service, and the app that serves it."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from chungtay_common.contracts.registration import UnitKind
from chungtay_common.errors import responses
from chungtay_common.http import (
    CSV_BODY,
    CsvText,
    PersonalReadDep,
    ReadDep,
    WriteDep,
    configure_logging,
)
from chungtay_common.request_body import Day
from chungtay_common.runtime import ServicePlan, service_app
from services.registration import service
from services.registration.access import ACCESS
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
    UnitOut,
    UnitPage,
)
from services.registration.settings import RegistrationSettings

MIGRATIONS = Path(__file__).parent / "migrations"

router = APIRouter(prefix="/v1", tags=["units"])
AsOf = Annotated[Day | None, Query(description="the day to look at (default: today in Vietnam)")]
WRITE_ERRORS = responses(401, 403, 404, 409, 422)


async def _import_max_rows(request: Request) -> int:
    settings: RegistrationSettings = request.app.state.settings
    return settings.import_max_rows


ImportMaxRows = Annotated[int, Depends(_import_max_rows)]


@router.post("/units", status_code=201, response_model=UnitOut,
             responses=responses(401, 403, 409, 413, 422))
async def register_unit(body: NewUnit, write: WriteDep) -> JSONResponse:
    """Register a unit."""
    return await write(service.register, body)


@router.get("/units", response_model=UnitPage, responses=responses(401, 422))
async def search_units(
    read: ReadDep, as_of: AsOf = None,
    code: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=200,
                                   description="part of the name, with or without diacritics")
                 ] = None,
    kind: UnitKind | None = None, parent_id: uuid.UUID | None = None,
    limit: Limit = 50, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UnitPage:
    """Search units active on a day by code, name, kind or parent."""
    return await read(service.search, as_of, code=code, q=q, kind=kind,
                                    parent_id=parent_id, limit=limit, offset=offset)


@router.get("/units/{unit_id}", response_model=UnitOut, responses=responses(401, 404))
async def get_unit(unit_id: uuid.UUID, read: ReadDep) -> UnitOut:
    """A unit with all its dated versions and its merge and split lineage."""
    return await read(service.get_unit, unit_id)


@router.get("/units/{unit_id}/subtree", response_model=Subtree, responses=responses(401, 404))
async def get_subtree(unit_id: uuid.UUID, read: ReadDep,
                      as_of: AsOf = None) -> Subtree:
    """The unit and everything below it, as the hierarchy stood on a day."""
    return await read(service.subtree, unit_id, as_of)


@router.get("/units/{unit_id}/audit", response_model=list[AuditEntry],
            responses=responses(401, 403, 404))
async def get_audit(unit_id: uuid.UUID, read: PersonalReadDep
                    ) -> list[AuditEntry]:
    """Every change made to the unit: who, when, what, before and after (a caller with
    authority over the unit; audited)."""
    return await read(service.history, unit_id)


@router.post("/units/{unit_id}/rename", response_model=UnitOut, responses=WRITE_ERRORS)
async def rename_unit(unit_id: uuid.UUID, body: Rename, write: WriteDep) -> JSONResponse:
    """Rename a unit from a date."""
    return await write(service.rename, unit_id, body)


@router.post("/units/{unit_id}/move", response_model=UnitOut, responses=WRITE_ERRORS)
async def move_unit(unit_id: uuid.UUID, body: Move, write: WriteDep) -> JSONResponse:
    """Put a unit under another parent from a date."""
    return await write(service.move, unit_id, body)


@router.post("/units/{unit_id}/close", response_model=UnitOut, responses=WRITE_ERRORS)
async def close_unit(unit_id: uuid.UUID, body: Close, write: WriteDep) -> JSONResponse:
    """Close a unit: it no longer exists from the effective date."""
    return await write(service.close, unit_id, body)


@router.post("/units/merge", response_model=ChangeResult, responses=WRITE_ERRORS)
async def merge_units(body: Merge, write: WriteDep) -> JSONResponse:
    """Merge several units into one (new or existing) on a date."""
    return await write(service.merge, body)


@router.post("/units/{unit_id}/split", response_model=ChangeResult, responses=WRITE_ERRORS)
async def split_unit(unit_id: uuid.UUID, body: Split, write: WriteDep) -> JSONResponse:
    """Split a unit into several on a date."""
    return await write(service.split, unit_id, body)


@router.post("/units/import", response_model=ImportResult,
             responses=responses(401, 403, 409, 413, 415, 422), openapi_extra=CSV_BODY)
async def import_units(write: WriteDep, text: CsvText, valid_from: Annotated[date, Query()],
                       max_rows: ImportMaxRows) -> JSONResponse:
    """Register the units of a CSV file in the national list's format; all or nothing."""
    return await write(service.import_units, text, valid_from, max_rows)


# every router of the service (the routes of a part of it live with that part)
ROUTERS = [router]


def build_app(settings: RegistrationSettings | None = None) -> FastAPI:
    settings = settings or RegistrationSettings()
    return service_app(
        ServicePlan(settings, [MIGRATIONS], publishes=True), title="chungtay registration",
        routers=ROUTERS, access=ACCESS, topic_owner="registration",
        description="Units of the movement and their dated hierarchy (register, rename, move, "
                    "close, merge, split, import).")


def main() -> FastAPI:
    """Entry point for ``uvicorn --factory services.registration.api:main``."""
    configure_logging()
    return build_app()
