"""The register of exemplary models and initiatives (issue 11)."""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from chungtay_common.contracts.awards import ExemplaryKind
from chungtay_common.errors import responses
from chungtay_common.http import PersonalReadDep, ReadDep, WriteDep
from services.awards.schemas.exemplary import (
    AwardLinkIn,
    ExemplaryCandidate,
    ExemplaryEditIn,
    ExemplaryIn,
    ExemplaryOut,
    ExemplaryPage,
    RecognitionIn,
    ReplicationIn,
)
from services.awards.service import exemplary as service

router = APIRouter(prefix="/v1")
TAGS: list[str | Enum] = ["exemplary models"]
WRITE_ERRORS = responses(401, 403, 404, 409, 413, 422)
MODEL = "/exemplary-models/{model_id}"
YearQ = Annotated[int, Query(ge=1990, le=2100)]


# before ``MODEL``: "candidates" is no model id
@router.get("/exemplary-models/candidates", response_model=list[ExemplaryCandidate],
            tags=TAGS, responses=responses(401, 422))
async def exemplary_candidates(
    read: ReadDep, year: YearQ,
    unit_id: Annotated[uuid.UUID | None, Query(
        description="only the communes under this unit (as the hierarchy stood in the "
                    "year)")] = None,
    limit: Annotated[int, Query(ge=1, le=50, description="of each list")] = 5,
) -> list[ExemplaryCandidate]:
    """Communes whose reported figures of the year stand out (the best reducers of the
    poor-household rate, the most households out of poverty): where to look for models."""
    return await read(service.candidates, year, unit_id, limit)


@router.post("/exemplary-models", status_code=201, response_model=ExemplaryOut, tags=TAGS,
             responses=WRITE_ERRORS)
async def register_exemplary(body: ExemplaryIn, write: WriteDep) -> JSONResponse:
    """Propose a model or initiative of a unit of the caller's subtree for the register
    (reporter, council); audited, announced (``exemplary_model.registered``)."""
    return await write(service.register, body)


@router.patch(MODEL, response_model=ExemplaryOut, tags=TAGS, responses=WRITE_ERRORS)
async def edit_exemplary(model_id: uuid.UUID, body: ExemplaryEditIn,
                         write: WriteDep) -> JSONResponse:
    """Correct a model (the fields given): a proposal by a reporter or council over its unit,
    a recognised model by the board only; audited, announced (``exemplary_model.changed``)."""
    return await write(service.edit, model_id, body)


@router.post(MODEL + "/recognise", response_model=ExemplaryOut, tags=TAGS,
             responses=WRITE_ERRORS)
async def recognise_exemplary(model_id: uuid.UUID, body: RecognitionIn,
                              write: WriteDep) -> JSONResponse:
    """Recognise a model by a decision (the board of the model's province, not its proposer;
    once); audited, announced (``exemplary_model.recognised``)."""
    return await write(service.recognise, model_id, body)


@router.post(MODEL + "/replications", response_model=ExemplaryOut, tags=TAGS,
             responses=WRITE_ERRORS)
async def replicate_exemplary(model_id: uuid.UUID, body: ReplicationIn,
                              write: WriteDep) -> JSONResponse:
    """Record where a recognised model was replicated (unit, day, outcome), by a caller over
    that unit; audited, announced (``exemplary_model.replicated``)."""
    return await write(service.replicate, model_id, body)


@router.post(MODEL + "/awards", response_model=ExemplaryOut, tags=TAGS,
             responses=WRITE_ERRORS)
async def link_exemplary_award(model_id: uuid.UUID, body: AwardLinkIn,
                               write: WriteDep) -> JSONResponse:
    """Link a model to a nomination (the award it led to, or a dossier it supports); audited,
    announced (``exemplary_model.award_linked``)."""
    return await write(service.link_award, model_id, body)


@router.get("/exemplary-models", response_model=ExemplaryPage, tags=TAGS,
            responses=responses(401, 403, 422))
async def list_exemplary(
    read: PersonalReadDep,
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    unit_id: Annotated[uuid.UUID | None, Query(
        description="the models of this unit's subtree (as it stands today)")] = None,
    kind: ExemplaryKind | None = None,
    recognised: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ExemplaryPage:
    """Recognised models (public data) and the proposals of the caller's subtree, by year,
    unit, kind and recognition; audited."""
    return await read(service.search, year=year, unit_id=unit_id, kind=kind,
                      recognised=recognised, limit=limit, offset=offset)


@router.get(MODEL, response_model=ExemplaryOut, tags=TAGS,
            responses=responses(401, 403, 404))
async def get_exemplary(model_id: uuid.UUID, read: PersonalReadDep) -> ExemplaryOut:
    """A model with its recognition, replications and linked awards: a recognised one to any
    caller, a proposal to a caller over its unit; audited."""
    return await read(service.read_model, model_id)
