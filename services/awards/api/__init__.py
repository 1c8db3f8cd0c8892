"""HTTP API of the awards service, and the app that serves it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from chungtay_common import hierarchy
from chungtay_common.contracts.awards import NomineeKind
from chungtay_common.downloads import content_disposition
from chungtay_common.errors import PayloadTooLarge, UnsupportedMediaType, responses
from chungtay_common.http import (
    ContextDep,
    DatabaseDep,
    PersonalReadDep,
    ReadDep,
    WriteDep,
    configure_logging,
)
from chungtay_common.runtime import ServicePlan, service_app, system_job
from services.awards import schemas as s
from services.awards import service
from services.awards.access import ACCESS
from services.awards.api import exemplary, exports, papers, public
from services.awards.consumers import REGISTRATION_HANDLERS, indicator_handlers
from services.awards.domain import EVIDENCE_MEDIA_TYPES, Status, Step, evidence_media_type
from services.awards.settings import AwardsSettings

MIGRATIONS = Path(__file__).parents[1] / "migrations"

router = APIRouter(prefix="/v1")
WRITE_ERRORS = responses(401, 403, 404, 409, 413, 422)
EVIDENCE_ERRORS = responses(401, 403, 404, 409, 413, 415, 422)
YearQ = Annotated[int, Query(ge=1990, le=2100)]


async def _evidence(request: Request,
                    x_file_name: Annotated[str, Header(min_length=1, max_length=255)]
                    ) -> s.EvidenceFile:
    """The body as a file of the dossier: of a media type a dossier may carry (else 415, before
    the body is read), within the evidence size limit."""
    settings: AwardsSettings = request.app.state.settings
    content_type = request.headers.get("content-type", "application/octet-stream")
    media_type = evidence_media_type(content_type)
    if media_type is None:
        raise UnsupportedMediaType(
            f"evidence files of type {content_type!r} are not accepted: send "
            + ", ".join(sorted(EVIDENCE_MEDIA_TYPES)))
    content = await request.body()
    if len(content) > settings.evidence_max_bytes:
        raise PayloadTooLarge(f"evidence files are at most {settings.evidence_max_bytes} bytes")
    return s.EvidenceFile(file_name=x_file_name, content=content, media_type=media_type)


EvidenceDep = Annotated[s.EvidenceFile, Depends(_evidence)]
# the file as the body, of one of the media types a dossier may carry (any other: 415)
EVIDENCE_BODY = {"requestBody": {"required": True, "content": {
    media_type: {"schema": {"type": "string", "format": "binary"}}
    for media_type in sorted(EVIDENCE_MEDIA_TYPES)}}}


# --------------------------------------------------------------------------- catalogue


@router.get("/forms", response_model=list[s.FormOut], tags=["catalogue"],
            responses=responses(401))
async def list_forms(read: ReadDep) -> list[s.FormOut]:
    """Emulation titles and forms of commendation, with their authority level and criteria."""
    return await read(service.list_forms)


@router.post("/forms", status_code=201, response_model=s.FormOut, tags=["catalogue"],
             responses=WRITE_ERRORS)
async def add_form(body: s.FormIn, write: WriteDep) -> JSONResponse:
    """Add a title or form of commendation with its criteria (board)."""
    return await write(service.add_form, body)


@router.put("/forms/{code}/rule", response_model=s.FormOut, tags=["catalogue"],
            responses=WRITE_ERRORS)
async def change_rule(code: str, body: s.RuleIn, write: WriteDep) -> JSONResponse:
    """Change a form's criteria: a new rule version (board)."""
    return await write(service.change_rule, code, body)


@router.put("/forms/{code}/voting", response_model=s.FormOut, tags=["catalogue"],
            responses=WRITE_ERRORS)
async def set_voting(code: str, body: s.VotingIn, write: WriteDep) -> JSONResponse:
    """Set what a form needs of the council (``vote_threshold`` of all members,
    ``vote_comparison``, ``secret_ballot_required``), whose head signs it
    (``signer_unit_kinds``) and the other kinds of nominee it goes to (``also_for``): board;
    audited."""
    return await write(service.set_voting, code, body)


@router.get("/forms/{code}/rules", response_model=list[s.RuleVersionOut], tags=["catalogue"],
            responses=responses(401, 404))
async def rule_history(code: str, read: ReadDep
                       ) -> list[s.RuleVersionOut]:
    """Every version of a form's criteria."""
    return await read(service.rule_history, code)


# --------------------------------------------------------------------------- enrollments


@router.put("/enrollment-windows/{year}", response_model=s.WindowOut, tags=["enrollments"],
            responses=WRITE_ERRORS)
async def set_window(year: Annotated[int, PathParam(ge=1990, le=2100)], body: s.WindowIn,
                     write: WriteDep) -> JSONResponse:
    """Set the day registrations for a year close (board)."""
    return await write(service.set_window, year, body)


@router.post("/enrollments", status_code=201, response_model=s.EnrollmentOut,
             tags=["enrollments"], responses=WRITE_ERRORS)
async def enroll(body: s.EnrollmentIn, write: WriteDep) -> JSONResponse:
    """Register the titles and forms a unit aims for in a year (đăng ký thi đua)."""
    return await write(service.enroll, body)


@router.get("/enrollments", tags=["enrollments"], responses=responses(401, 403, 422))
async def list_enrollments(read: PersonalReadDep, year: YearQ,
                           unit_id: uuid.UUID | None = None) -> list[dict[str, object]]:
    """Registrations of a year in the caller's subtree, optionally of one unit of it;
    audited."""
    return await read(service.list_enrollments, year, unit_id)


# --------------------------------------------------------------------------- nominations


@router.post("/nominations", status_code=201, response_model=s.NominationOut,
             tags=["nominations"], responses=WRITE_ERRORS)
async def create_nomination(body: s.NominationIn, write: WriteDep) -> JSONResponse:
    """Draft a nomination dossier (proposing unit)."""
    return await write(service.create_nomination, body)


@router.get("/nominations", response_model=s.NominationPage, tags=["nominations"],
            responses=responses(401, 403, 422))
async def search_nominations(
    read: PersonalReadDep,
    year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    status: Status | None = None, form_code: str | None = None,
    unit_id: Annotated[uuid.UUID | None, Query(
        description="the proposing unit within this unit's subtree (as it stands today)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> s.NominationPage:
    """Nominations in the caller's subtree (the board: its province) by status, year, form and
    unit; audited."""
    return await read(service.search, year=year, status=status, form_code=form_code,
                                    unit_id=unit_id, limit=limit, offset=offset)


@router.get("/nominations/{nomination_id}", response_model=s.NominationOut,
            tags=["nominations"], responses=responses(401, 403, 404))
async def get_nomination(nomination_id: uuid.UUID, read: PersonalReadDep
                         ) -> s.NominationOut:
    """A dossier with every step taken, its evidence and its appraisal (a caller with
    authority over the proposing unit); audited."""
    return await read(service.read_nomination, nomination_id)


STEP = "/nominations/{nomination_id}"
STEP_ROUTE: dict[str, Any] = {"response_model": s.NominationOut, "tags": ["nominations"],
                              "responses": WRITE_ERRORS}
Id = uuid.UUID  # a nomination's


@router.patch(STEP, **STEP_ROUTE)
async def edit_nomination(nomination_id: Id, body: s.EditIn, write: WriteDep) -> JSONResponse:
    """Change a drafted or returned dossier's summary of achievements."""
    return await write(service.step, nomination_id, Step.EDIT, body)


@router.post(STEP + "/submit", **STEP_ROUTE)
async def submit_nomination(nomination_id: Id, write: WriteDep) -> JSONResponse:
    """Submit the dossier (proposing unit)."""
    return await write(service.step, nomination_id, Step.SUBMIT, None)


# The other steps, each ``POST /nominations/{id}/<step>`` with the step's body: declared as a
# table, one route each (their name, body and description make the OpenAPI document).
STEP_BODIES: tuple[tuple[Step, str, type[BaseModel], str], ...] = (
    (Step.REVIEW, "review_nomination", s.ReviewIn,
     "Record the district or department council's review and vote."),
    (Step.APPRAISE, "appraise_nomination", s.CommentIn,
     "Appraise (board): the criteria are checked against the reported data; each rule's\n"
     "result and the facts it used are kept."),
    (Step.APPROVE, "approve_nomination", s.DecisionIn,
     "Approve with a decision (number, date, signer), at the form's authority level."),
    (Step.REJECT, "reject_nomination", s.ReasonIn, "Reject, with a reason."),
    (Step.RETURN, "return_nomination", s.ReasonIn,
     "Return to the proposing unit for correction, with a reason."),
    (Step.FORWARD, "forward_nomination", s.CommentIn,
     "Forward to the central level (a form above the province's authority)."),
    (Step.REVOKE, "revoke_award", s.RevokeIn,
     "Revoke an approved award, with a reason and the revoking decision."),
)


def _step_route(step: Step, name: str, body_type: type[BaseModel], description: str) -> None:
    async def take(nomination_id: Id, body: BaseModel, write: WriteDep) -> JSONResponse:
        return await write(service.step, nomination_id, step, body)

    take.__annotations__["body"] = body_type  # the body FastAPI validates and documents
    router.add_api_route(f"{STEP}/{step.value}", take, methods=["POST"], name=name,
                         description=description, **STEP_ROUTE)


for _row in STEP_BODIES:
    _step_route(*_row)


@router.post(STEP + "/evidence", status_code=201, response_model=s.EvidenceOut,
             tags=["nominations"], responses=EVIDENCE_ERRORS, openapi_extra=EVIDENCE_BODY)
async def add_evidence(nomination_id: Id, write: WriteDep, file: EvidenceDep,
                       request: Request) -> JSONResponse:
    """Attach a file (the body) to a dossier; its name, type, size and sha256 are recorded.
    PDF, JPEG, PNG, Word, Excel or plain text only (415); at most ``evidence_max_files`` per
    nomination (409)."""
    settings: AwardsSettings = request.app.state.settings
    return await write(service.add_evidence, nomination_id, file, settings.evidence_max_files)


@router.get(STEP + "/evidence/{evidence_id}", tags=["nominations"],
            responses=responses(401, 403, 404))
async def get_evidence(nomination_id: Id, evidence_id: uuid.UUID, ctx: ContextDep,
                       db: DatabaseDep) -> Response:
    """The file as stored (the board, or a caller who may act on the proposing unit), always as
    an attachment the browser does not sniff; each download is in the audit log
    (``evidence.read``)."""
    async with db.transaction(ctx) as conn:  # writes the audit row only
        row = await service.evidence_file(conn, ctx, nomination_id, evidence_id)
    return Response(bytes(row["content"]), media_type=row["media_type"],
                    headers={"Digest": f"sha-256={row['sha256']}",
                             "X-Content-Type-Options": "nosniff",
                             "Content-Disposition": content_disposition(row["file_name"])})


# --------------------------------------------------------------------------- initiatives


@router.post("/initiatives", status_code=201, response_model=s.InitiativeOut,
             tags=["initiatives"], responses=WRITE_ERRORS)
async def record_initiative(body: s.InitiativeIn, write: WriteDep) -> JSONResponse:
    """Record a person's recognised initiative (board, or the council over the person's unit)."""
    return await write(service.record_initiative, body)


@router.get("/nominees/{kind}/{nominee_id}/initiatives", tags=["initiatives"],
            responses=responses(401))
async def nominee_initiatives(kind: NomineeKind, nominee_id: str, read: ReadDep
                              ) -> list[dict[str, Any]]:
    """A person's recognised initiatives."""
    return await read(service.list_initiatives, kind, nominee_id)


# --------------------------------------------------------------------------- persons


@router.get("/persons/{nominee_id}", response_model=s.PersonOut, tags=["persons"],
            responses=responses(401, 403, 404))
async def get_person(nominee_id: str, read: PersonalReadDep) -> s.PersonOut:
    """A person record (the board of the person's unit; audited): whether a citizen ID number
    identifies it, the earlier record it is linked to, and its possible duplicates (namesakes
    of its unit)."""
    return await read(service.get_person, nominee_id)


@router.post("/persons/{nominee_id}/link", response_model=s.PersonOut, tags=["persons"],
             responses=WRITE_ERRORS)
async def link_person(nominee_id: str, body: s.PersonLinkIn, write: WriteDep) -> JSONResponse:
    """The board links a person's record to their earlier one (a person who moved to another
    unit keeps their history); audited."""
    return await write(service.link_person, nominee_id, body)


# --------------------------------------------------------------------------- lists


@router.get("/awards", response_model=list[s.PublicAward], tags=["lists"],
            responses=responses(422))
async def public_awards(db: DatabaseDep, year: YearQ) -> list[s.PublicAward]:
    """The public list of awards approved for a year (no token needed)."""
    async with db.read() as conn:
        return await service.public_awards(conn, year)


@router.get("/nominees/{kind}/{nominee_id}/awards", response_model=list[s.NominationOut],
            tags=["lists"], responses=responses(401, 403))
async def nominee_history(kind: NomineeKind, nominee_id: str, read: PersonalReadDep
                          ) -> list[s.NominationOut]:
    """A nominee's award history (approved and revoked), of dossiers in the caller's subtree;
    audited. The public list is ``GET /v1/awards``."""
    return await read(service.nominee_history, kind, nominee_id)


@router.get("/candidates", response_model=list[s.Candidate], tags=["lists"],
            responses=responses(401, 422))
async def candidates(read: ReadDep, form_code: str, year: YearQ,
                     unit_id: uuid.UUID | None = None) -> list[s.Candidate]:
    """Units whose reported data meets a form's rules but have no nomination yet."""
    return await read(service.candidates, form_code, year, unit_id)


# every router of the service (the routes of a part of it live with that part)
ROUTERS = [router, exports.router, papers.router, exemplary.router, public.router]


def build_app(settings: AwardsSettings | None = None) -> FastAPI:
    settings = settings or AwardsSettings()
    return service_app(
        ServicePlan(settings, [hierarchy.MIGRATIONS, MIGRATIONS], publishes=True,
                    subscriptions={"registration": REGISTRATION_HANDLERS,
                                   "indicators": indicator_handlers(settings)},
                    on_start=[system_job(settings, service.seed_catalogue)]),
        title="chungtay awards", routers=ROUTERS, access=ACCESS, topic_owner="awards",
        description="Award catalogue and rules, emulation registrations, nominations through "
                    "appraisal to decision.")


def main() -> FastAPI:
    """Entry point for ``uvicorn --factory services.awards.api:main``."""
    configure_logging()
    return build_app()
