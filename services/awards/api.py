"""HTTP API of the awards service, and the app that serves it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response

from chungtay_common import hierarchy
from chungtay_common.auth import PrincipalDep
from chungtay_common.contracts.awards import NomineeKind
from chungtay_common.errors import PayloadTooLarge, responses
from chungtay_common.http import (
    CorrelationId,
    Database,
    DatabaseDep,
    configure_logging,
    idempotent_write,
    request_context,
)
from chungtay_common.runtime import ServicePlan, service_app
from chungtay_common.topics import topic_name
from services.awards import service
from services.awards.consumers import INDICATOR_HANDLERS, REGISTRATION_HANDLERS
from services.awards.domain import Status, Step
from services.awards.schemas import (
    Candidate,
    CommentIn,
    DecisionIn,
    EditIn,
    EnrollmentIn,
    EnrollmentOut,
    EvidenceOut,
    FormIn,
    FormOut,
    NominationIn,
    NominationOut,
    NominationPage,
    PublicAward,
    ReasonIn,
    ReviewIn,
    RevokeIn,
    RuleIn,
    RuleVersionOut,
    WindowIn,
)
from services.awards.settings import AwardsSettings

MIGRATIONS = Path(__file__).parent / "migrations"

router = APIRouter(prefix="/v1")
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=8,
                                              max_length=200)]
WRITE_ERRORS = responses(401, 403, 404, 409, 413, 422)
YearQ = Annotated[int, Query(ge=1990, le=2100)]


# --------------------------------------------------------------------------- catalogue


@router.get("/forms", response_model=list[FormOut], tags=["catalogue"],
            responses=responses(401))
async def list_forms(principal: PrincipalDep, db: DatabaseDep) -> list[FormOut]:
    """Emulation titles and forms of commendation, with their authority level and criteria."""
    async with db.read() as conn:
        return await service.list_forms(conn)


@router.post("/forms", status_code=201, response_model=FormOut, tags=["catalogue"],
             responses=WRITE_ERRORS)
async def add_form(body: FormIn, request: Request, principal: PrincipalDep, db: DatabaseDep,
                   x_correlation_id: CorrelationId = None) -> FormOut:
    """Add a title or form of commendation with its criteria (board)."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.add_form(conn, ctx, body)


@router.put("/forms/{code}/rule", response_model=FormOut, tags=["catalogue"],
            responses=WRITE_ERRORS)
async def change_rule(code: str, body: RuleIn, request: Request, principal: PrincipalDep,
                      db: DatabaseDep, x_correlation_id: CorrelationId = None) -> FormOut:
    """Change a form's criteria: a new rule version (board)."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.change_rule(conn, ctx,
                                         code, body.rule, body.note)


@router.get("/forms/{code}/rules", response_model=list[RuleVersionOut], tags=["catalogue"],
            responses=responses(401, 404))
async def rule_history(code: str, principal: PrincipalDep, db: DatabaseDep
                       ) -> list[RuleVersionOut]:
    """Every version of a form's criteria."""
    async with db.read() as conn:
        return await service.rule_history(conn, code)


# --------------------------------------------------------------------------- enrollments


@router.put("/enrollment-windows/{year}", tags=["enrollments"], responses=WRITE_ERRORS)
async def set_window(year: Annotated[int, PathParam(ge=1990, le=2100)], body: WindowIn,
                     request: Request, principal: PrincipalDep, db: DatabaseDep,
                     x_correlation_id: CorrelationId = None) -> dict[str, Any]:
    """Set the day registrations for a year close (board)."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.set_window(conn, ctx,
                                        year, body.closes_on)


@router.post("/enrollments", status_code=201, response_model=EnrollmentOut,
             tags=["enrollments"], responses=WRITE_ERRORS)
async def enroll(body: EnrollmentIn, request: Request, principal: PrincipalDep,
                 db: DatabaseDep, x_correlation_id: CorrelationId = None) -> EnrollmentOut:
    """Register the titles and forms a unit aims for in a year (đăng ký thi đua)."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.enroll(conn, ctx, body)


@router.get("/enrollments", tags=["enrollments"], responses=responses(401, 422))
async def list_enrollments(principal: PrincipalDep, db: DatabaseDep, year: YearQ,
                           unit_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """Registrations of a year, optionally of one unit."""
    async with db.read() as conn:
        return await service.list_enrollments(conn, year, unit_id)


# --------------------------------------------------------------------------- nominations


@router.post("/nominations", status_code=201, response_model=NominationOut,
             tags=["nominations"], responses=WRITE_ERRORS)
async def create_nomination(body: NominationIn, request: Request, principal: PrincipalDep,
                            db: DatabaseDep, idempotency_key: IdempotencyKey = None,
                            x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Draft a nomination dossier (proposing unit)."""
    ctx = request_context(request, principal, x_correlation_id)
    return await idempotent_write(request, db, principal.subject, idempotency_key,
                                  lambda conn: service.create_nomination(conn, ctx, body),
                                  status_code=201, ctx=ctx)


@router.get("/nominations", response_model=NominationPage, tags=["nominations"],
            responses=responses(401, 422))
async def search_nominations(
    principal: PrincipalDep, db: DatabaseDep,
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    status: Status | None = None, form_code: str | None = None,
    unit_id: Annotated[uuid.UUID | None, Query(description="proposing or nominee unit within "
                                                           "this unit's subtree")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> NominationPage:
    """Nominations by status, year, form and unit subtree."""
    async with db.read() as conn:
        return await service.search(conn, year=year, status=status, form_code=form_code,
                                    unit_id=unit_id, limit=limit, offset=offset)


@router.get("/nominations/{nomination_id}", response_model=NominationOut, tags=["nominations"],
            responses=responses(401, 404))
async def get_nomination(nomination_id: uuid.UUID, principal: PrincipalDep, db: DatabaseDep
                         ) -> NominationOut:
    """A dossier with every step taken, its evidence and its appraisal."""
    async with db.read() as conn:
        return await service.get_nomination(conn, nomination_id)


async def _step(step: Step, nomination_id: uuid.UUID, request: Request,
                principal: PrincipalDep, db: Database, body: Any, idempotency_key: str | None,
                correlation: uuid.UUID | None) -> JSONResponse:
    ctx = request_context(request, principal, correlation)
    return await idempotent_write(request, db, principal.subject, idempotency_key,
                                  lambda conn: service.step(conn, ctx, nomination_id, step, body),
                                  ctx=ctx)


STEP = "/nominations/{nomination_id}"
STEP_ROUTE: dict[str, Any] = {"response_model": NominationOut, "tags": ["nominations"],
                              "responses": WRITE_ERRORS}


@router.patch(STEP, **STEP_ROUTE)
async def edit_nomination(nomination_id: uuid.UUID, body: EditIn, request: Request,
                          principal: PrincipalDep, db: DatabaseDep,
                          idempotency_key: IdempotencyKey = None,
                          x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Change a drafted or returned dossier's summary of achievements."""
    return await _step(Step.EDIT, nomination_id, request, principal, db, body, idempotency_key,
                       x_correlation_id)


@router.post(STEP + "/submit", **STEP_ROUTE)
async def submit_nomination(nomination_id: uuid.UUID, request: Request, principal: PrincipalDep,
                            db: DatabaseDep, idempotency_key: IdempotencyKey = None,
                            x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Submit the dossier (proposing unit)."""
    return await _step(Step.SUBMIT, nomination_id, request, principal, db, None,
                       idempotency_key, x_correlation_id)


@router.post(STEP + "/review", **STEP_ROUTE)
async def review_nomination(nomination_id: uuid.UUID, body: ReviewIn, request: Request,
                            principal: PrincipalDep, db: DatabaseDep,
                            idempotency_key: IdempotencyKey = None,
                            x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Record the district or department council's review and vote."""
    return await _step(Step.REVIEW, nomination_id, request, principal, db, body,
                       idempotency_key, x_correlation_id)


@router.post(STEP + "/appraise", **STEP_ROUTE)
async def appraise_nomination(nomination_id: uuid.UUID, body: CommentIn, request: Request,
                              principal: PrincipalDep, db: DatabaseDep,
                              idempotency_key: IdempotencyKey = None,
                              x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Appraise (board): the criteria are checked against the reported data; each rule's
    result and the facts it used are kept."""
    return await _step(Step.APPRAISE, nomination_id, request, principal, db, body,
                       idempotency_key, x_correlation_id)


@router.post(STEP + "/approve", **STEP_ROUTE)
async def approve_nomination(nomination_id: uuid.UUID, body: DecisionIn, request: Request,
                             principal: PrincipalDep, db: DatabaseDep,
                             idempotency_key: IdempotencyKey = None,
                             x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Approve with a decision (number, date, signer), at the form's authority level."""
    return await _step(Step.APPROVE, nomination_id, request, principal, db, body,
                       idempotency_key, x_correlation_id)


@router.post(STEP + "/reject", **STEP_ROUTE)
async def reject_nomination(nomination_id: uuid.UUID, body: ReasonIn, request: Request,
                            principal: PrincipalDep, db: DatabaseDep,
                            idempotency_key: IdempotencyKey = None,
                            x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Reject, with a reason."""
    return await _step(Step.REJECT, nomination_id, request, principal, db, body,
                       idempotency_key, x_correlation_id)


@router.post(STEP + "/return", **STEP_ROUTE)
async def return_nomination(nomination_id: uuid.UUID, body: ReasonIn, request: Request,
                            principal: PrincipalDep, db: DatabaseDep,
                            idempotency_key: IdempotencyKey = None,
                            x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Return to the proposing unit for correction, with a reason."""
    return await _step(Step.RETURN, nomination_id, request, principal, db, body,
                       idempotency_key, x_correlation_id)


@router.post(STEP + "/forward", **STEP_ROUTE)
async def forward_nomination(nomination_id: uuid.UUID, body: CommentIn, request: Request,
                             principal: PrincipalDep, db: DatabaseDep,
                             idempotency_key: IdempotencyKey = None,
                             x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Forward to the central level (a form above the province's authority)."""
    return await _step(Step.FORWARD, nomination_id, request, principal, db, body,
                       idempotency_key, x_correlation_id)


@router.post(STEP + "/revoke", **STEP_ROUTE)
async def revoke_award(nomination_id: uuid.UUID, body: RevokeIn, request: Request,
                       principal: PrincipalDep, db: DatabaseDep,
                       idempotency_key: IdempotencyKey = None,
                       x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Revoke an approved award, with a reason and the revoking decision."""
    return await _step(Step.REVOKE, nomination_id, request, principal, db, body,
                       idempotency_key, x_correlation_id)


@router.post("/nominations/{nomination_id}/evidence", status_code=201,
             response_model=EvidenceOut, tags=["nominations"], responses=WRITE_ERRORS,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {"type": "string",
                                                         "format": "binary"}}}}})
async def add_evidence(nomination_id: uuid.UUID, request: Request, principal: PrincipalDep,
                       db: DatabaseDep,
                       x_file_name: Annotated[str, Header(min_length=1, max_length=255)],
                       x_correlation_id: CorrelationId = None) -> EvidenceOut:
    """Attach a file (the body) to a dossier; its name, type, size and sha256 are recorded."""
    settings: AwardsSettings = request.app.state.settings
    content = await request.body()
    if len(content) > settings.evidence_max_bytes:
        raise PayloadTooLarge(f"evidence files are at most {settings.evidence_max_bytes} bytes")
    media_type = request.headers.get("content-type", "application/octet-stream")
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.add_evidence(conn, ctx,
                                          nomination_id, x_file_name, media_type, content)


@router.get("/nominations/{nomination_id}/evidence/{evidence_id}", tags=["nominations"],
            responses=responses(401, 403, 404))
async def get_evidence(nomination_id: uuid.UUID, evidence_id: uuid.UUID,
                       principal: PrincipalDep, db: DatabaseDep) -> Response:
    """The file as stored (the board, or a caller who may act on the proposing unit)."""
    async with db.read() as conn:
        row = await service.evidence_file(conn, principal, nomination_id, evidence_id)
    return Response(bytes(row["content"]), media_type=row["media_type"],
                    headers={"Digest": f"sha-256={row['sha256']}",
                             "Content-Disposition": f"attachment; filename*=UTF-8''"
                                                    f"{quote(row['file_name'])}"})


# --------------------------------------------------------------------------- lists


@router.get("/awards", response_model=list[PublicAward], tags=["lists"], responses=responses(422))
async def public_awards(db: DatabaseDep, year: YearQ) -> list[PublicAward]:
    """The public list of awards approved for a year (no token needed)."""
    async with db.read() as conn:
        return await service.public_awards(conn, year)


@router.get("/nominees/{kind}/{nominee_id}/awards", response_model=list[NominationOut],
            tags=["lists"], responses=responses(401))
async def nominee_history(kind: NomineeKind, nominee_id: str, principal: PrincipalDep,
                          db: DatabaseDep) -> list[NominationOut]:
    """A nominee's award history (approved and revoked)."""
    async with db.read() as conn:
        return await service.nominee_history(conn, kind, nominee_id)


@router.get("/candidates", response_model=list[Candidate], tags=["lists"],
            responses=responses(401, 422))
async def candidates(principal: PrincipalDep, db: DatabaseDep, form_code: str, year: YearQ,
                     unit_id: uuid.UUID | None = None) -> list[Candidate]:
    """Units whose reported data meets a form's rules but have no nomination yet."""
    async with db.read() as conn:
        return await service.candidates(conn, form_code, year, unit_id)


def build_app(settings: AwardsSettings | None = None) -> FastAPI:
    settings = settings or AwardsSettings()
    topic = topic_name("awards", settings.topic_namespace)

    async def seed(db: Database) -> None:
        async with db.transaction() as conn:
            await service.seed_catalogue(conn, topic)

    plan = ServicePlan(
        settings, [hierarchy.MIGRATIONS, MIGRATIONS], publishes=True,
        subscriptions={"registration": REGISTRATION_HANDLERS, "indicators": INDICATOR_HANDLERS},
        on_start=[seed],
    )
    return service_app(
        plan, title="chungtay awards", router=router, topic_owner="awards",
        description="Award catalogue and rules, emulation registrations, nominations through "
                    "appraisal to decision.")


def main() -> FastAPI:
    """Entry point for ``uvicorn --factory services.awards.api:main``."""
    configure_logging()
    return build_app()


