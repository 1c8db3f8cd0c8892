"""The nominations and awards lists as CSV and XLSX (issue 11).

One scheme, as in the reporting service: ``GET /v1/exports/<what>.{format}`` (``format``:
``csv`` or ``xlsx``) with the query parameters of the JSON route it exports, less the paging (a
file holds every row)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from chungtay_common.downloads import TABLE_FILE_RESPONSE, dated_name, table_file
from chungtay_common.errors import responses
from chungtay_common.http import DatabaseDep, PersonalReadDep
from chungtay_common.tables import FileFormat
from services.awards.domain import Status
from services.awards.service import exports

router = APIRouter(prefix="/v1/exports", tags=["exports"])
FILE: dict[str, Any] = {"response_class": Response}


@router.get("/nominations.{format}", **FILE,
            responses={**TABLE_FILE_RESPONSE, **responses(401, 403, 422)})
async def export_nominations(
    format: FileFormat, read: PersonalReadDep,
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    status: Status | None = None, form_code: str | None = None,
    unit_id: Annotated[uuid.UUID | None, Query(
        description="the proposing unit within this unit's subtree (as it stands today)")] = None,
) -> Response:
    """The nominations ``GET /v1/nominations`` lists (the caller's subtree; the board: its
    province) as a file, every one; audited like the list."""
    tables = await read(exports.nominations, year=year, status=status, form_code=form_code,
                        unit_id=unit_id)
    name = "Hồ sơ đề nghị khen thưởng" + (f" {year}" if year else "")
    return await table_file(tables, format, dated_name(name))


@router.get("/awards.{format}", **FILE, responses={**TABLE_FILE_RESPONSE, **responses(422)})
async def export_public_awards(format: FileFormat, db: DatabaseDep,
                               year: Annotated[int, Query(ge=1990, le=2100)]) -> Response:
    """The public list of a year's awards (``GET /v1/awards``) as a file (no token needed)."""
    async with db.read() as conn:
        tables = await exports.public_awards(conn, year)
    return await table_file(tables, format, dated_name(f"Danh sách khen thưởng {year}"))
