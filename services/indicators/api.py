"""HTTP API of the indicators service, and the app that serves it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from chungtay_common import hierarchy
from chungtay_common.auth import PrincipalDep
from chungtay_common.context import Context
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.db import Conn
from chungtay_common.errors import InvalidInput, UnsupportedMediaType, responses
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
from services.indicators import import_service, imports, service
from services.indicators.consumers import REGISTRATION_HANDLERS
from services.indicators.domain import Action
from services.indicators.schemas import (
    AggregateOut,
    CampaignIn,
    CampaignOut,
    ImportReportsOut,
    IndicatorIn,
    IndicatorOut,
    NationalAverageIn,
    NationalAverageOut,
    ReasonIn,
    ReportOut,
    ReportVersionOut,
    StatusBoard,
    SubmitIn,
    TargetIn,
    TargetOut,
    ValuesIn,
)
from services.indicators.settings import IndicatorsSettings

VN = ZoneInfo("Asia/Ho_Chi_Minh")
MIGRATIONS = Path(__file__).parent / "migrations"

router = APIRouter(prefix="/v1")
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=8, max_length=200,
                                       description="unique per intended change; a retry with "
                                                   "the same key has no second effect")]
YearPath = Annotated[int, PathParam(ge=1990, le=2100)]
WRITE_ERRORS = responses(401, 403, 404, 409, 413, 422)


# --------------------------------------------------------------------------- campaigns


@router.post("/campaigns", status_code=201, response_model=CampaignOut, tags=["campaigns"],
             responses=WRITE_ERRORS)
async def create_campaign(body: CampaignIn, request: Request, principal: PrincipalDep,
                          db: DatabaseDep, x_correlation_id: CorrelationId = None
                          ) -> CampaignOut:
    """Create a campaign with one reporting cycle per year."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.create_campaign(conn, ctx,
                                             body)


@router.get("/campaigns", response_model=list[CampaignOut], tags=["campaigns"],
            responses=responses(401))
async def list_campaigns(principal: PrincipalDep, db: DatabaseDep) -> list[CampaignOut]:
    """All campaigns."""
    async with db.read() as conn:
        return await service.list_campaigns(conn)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, tags=["campaigns"],
            responses=responses(401, 404))
async def get_campaign(campaign_id: uuid.UUID, principal: PrincipalDep, db: DatabaseDep
                       ) -> CampaignOut:
    """A campaign and its reporting cycles (due dates)."""
    async with db.read() as conn:
        return await service.get_campaign(conn, campaign_id)


@router.put("/campaigns/{campaign_id}/targets/{year}/{unit_id}", response_model=TargetOut,
            tags=["campaigns"], responses=WRITE_ERRORS)
async def set_target(campaign_id: uuid.UUID, year: YearPath, unit_id: uuid.UUID,
                     body: TargetIn, request: Request, principal: PrincipalDep,
                     db: DatabaseDep, x_correlation_id: CorrelationId = None) -> TargetOut:
    """Set a unit's poverty-reduction target for a year (the province's is the province-wide
    target)."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.set_target(conn, ctx,
                                        campaign_id, year, unit_id, body)


@router.get("/campaigns/{campaign_id}/targets", response_model=list[TargetOut],
            tags=["campaigns"], responses=responses(401, 404))
async def list_targets(campaign_id: uuid.UUID, principal: PrincipalDep, db: DatabaseDep,
                       year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
                       ) -> list[TargetOut]:
    """The targets of a campaign, optionally of one year."""
    async with db.read() as conn:
        return await service.list_targets(conn, campaign_id, year)


@router.put("/national-averages/{year}", response_model=NationalAverageOut, tags=["campaigns"],
            responses=WRITE_ERRORS)
async def set_national_average(year: YearPath, body: NationalAverageIn, request: Request,
                               principal: PrincipalDep, db: DatabaseDep,
                               x_correlation_id: CorrelationId = None) -> NationalAverageOut:
    """Record the national poor-household rate of a year, with its source."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.set_national_average(
            conn, ctx, year, body)


@router.get("/national-averages", response_model=list[NationalAverageOut], tags=["campaigns"],
            responses=responses(401))
async def list_national_averages(principal: PrincipalDep, db: DatabaseDep
                                 ) -> list[NationalAverageOut]:
    """National poor-household rates by year."""
    async with db.read() as conn:
        return await service.list_national_averages(conn)


# --------------------------------------------------------------------------- catalogue


@router.get("/indicators", response_model=list[IndicatorOut], tags=["indicators"],
            responses=responses(401))
async def list_indicators(principal: PrincipalDep, db: DatabaseDep) -> list[IndicatorOut]:
    """The indicator catalogue: entered and derived indicators, retired ones included."""
    async with db.read() as conn:
        return await service.list_indicators(conn)


@router.post("/indicators", response_model=IndicatorOut, tags=["indicators"],
             responses=WRITE_ERRORS)
async def define_indicator(body: IndicatorIn, request: Request, principal: PrincipalDep,
                           db: DatabaseDep, x_correlation_id: CorrelationId = None
                           ) -> IndicatorOut:
    """Add an entered indicator or change one (its version grows)."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.define_indicator(conn, ctx,
                                              body)


@router.post("/indicators/{code}/retire", response_model=IndicatorOut, tags=["indicators"],
             responses=WRITE_ERRORS)
async def retire_indicator(code: str, request: Request, principal: PrincipalDep,
                           db: DatabaseDep, x_correlation_id: CorrelationId = None
                           ) -> IndicatorOut:
    """Retire an indicator: no longer entered; values already reported are kept."""
    ctx = request_context(request, principal, x_correlation_id)
    async with db.transaction(ctx) as conn:
        return await service.retire_indicator(conn, ctx,
                                              code)


# --------------------------------------------------------------------------- reports

REPORT = "/campaigns/{campaign_id}/reports/{unit_id}/{year}"


async def _report_write(request: Request, principal: PrincipalDep, db: Database, key: str,
                        correlation: uuid.UUID | None, campaign_id: uuid.UUID,
                        unit_id: uuid.UUID, year: int, action: Action,
                        values: dict[str, int | float] | None = None,
                        reason: str | None = None) -> JSONResponse:
    ctx = request_context(request, principal, correlation)
    return await idempotent_write(
        request, db, principal.subject, key,
        lambda conn: service.write_report(conn, ctx, campaign_id, unit_id, year, action,
                                          values, reason), ctx=ctx)


@router.put(REPORT, response_model=ReportOut, tags=["reports"], responses=WRITE_ERRORS)
async def save_report(campaign_id: uuid.UUID, unit_id: uuid.UUID, year: YearPath,
                      body: ValuesIn, request: Request, principal: PrincipalDep,
                      db: DatabaseDep, idempotency_key: IdempotencyKey,
                      x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Save a unit's values for a year as a draft (replacing the values saved before)."""
    return await _report_write(request, principal, db, idempotency_key, x_correlation_id,
                               campaign_id, unit_id, year, Action.SAVE, body.values)


@router.post(REPORT + "/submit", response_model=ReportOut, tags=["reports"],
             responses=WRITE_ERRORS)
async def submit_report(campaign_id: uuid.UUID, unit_id: uuid.UUID, year: YearPath,
                        body: SubmitIn, request: Request, principal: PrincipalDep,
                        db: DatabaseDep, idempotency_key: IdempotencyKey,
                        x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Submit the report (with ``values``, or the saved draft) to the level above."""
    return await _report_write(request, principal, db, idempotency_key, x_correlation_id,
                               campaign_id, unit_id, year, Action.SUBMIT, body.values)


@router.post(REPORT + "/return", response_model=ReportOut, tags=["reports"],
             responses=WRITE_ERRORS)
async def return_report(campaign_id: uuid.UUID, unit_id: uuid.UUID, year: YearPath,
                        body: ReasonIn, request: Request, principal: PrincipalDep,
                        db: DatabaseDep, idempotency_key: IdempotencyKey,
                        x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Return a submitted report to its unit for correction, with a reason."""
    return await _report_write(request, principal, db, idempotency_key, x_correlation_id,
                               campaign_id, unit_id, year, Action.RETURN, reason=body.reason)


@router.post(REPORT + "/accept", response_model=ReportOut, tags=["reports"],
             responses=WRITE_ERRORS)
async def accept_report(campaign_id: uuid.UUID, unit_id: uuid.UUID, year: YearPath,
                        request: Request, principal: PrincipalDep, db: DatabaseDep,
                        idempotency_key: IdempotencyKey,
                        x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Accept a submitted report; it is then locked."""
    return await _report_write(request, principal, db, idempotency_key, x_correlation_id,
                               campaign_id, unit_id, year, Action.ACCEPT)


@router.post(REPORT + "/reopen", response_model=ReportOut, tags=["reports"],
             responses=WRITE_ERRORS)
async def reopen_report(campaign_id: uuid.UUID, unit_id: uuid.UUID, year: YearPath,
                        body: ReasonIn, request: Request, principal: PrincipalDep,
                        db: DatabaseDep, idempotency_key: IdempotencyKey,
                        x_correlation_id: CorrelationId = None) -> JSONResponse:
    """Reopen an accepted report (board), with a reason."""
    return await _report_write(request, principal, db, idempotency_key, x_correlation_id,
                               campaign_id, unit_id, year, Action.REOPEN, reason=body.reason)


@router.get(REPORT, response_model=ReportOut, tags=["reports"], responses=responses(401, 404, 422))
async def get_report(campaign_id: uuid.UUID, unit_id: uuid.UUID, year: YearPath,
                     principal: PrincipalDep, db: DatabaseDep) -> ReportOut:
    """A report: status, values, derived values, warnings, punctuality."""
    async with db.read() as conn:
        return await service.get_report(conn, campaign_id, unit_id, year)


@router.get(REPORT + "/history", response_model=list[ReportVersionOut], tags=["reports"],
            responses=responses(401, 404))
async def report_history(campaign_id: uuid.UUID, unit_id: uuid.UUID, year: YearPath,
                         principal: PrincipalDep, db: DatabaseDep) -> list[ReportVersionOut]:
    """Every version of a report: action, status, values, who and when."""
    async with db.read() as conn:
        return await service.report_history(conn, campaign_id, unit_id, year)


@router.get("/campaigns/{campaign_id}/status", response_model=StatusBoard, tags=["reports"],
            responses=responses(401, 404, 422))
async def status_board(campaign_id: uuid.UUID, principal: PrincipalDep, db: DatabaseDep,
                       year: Annotated[int, Query(ge=1990, le=2100)],
                       unit_id: uuid.UUID | None = None) -> StatusBoard:
    """Who has reported for a year (on time, late), who has not (missing), under a unit."""
    async with db.read() as conn:
        return await service.status_board(conn, campaign_id, year, unit_id)


@router.get("/campaigns/{campaign_id}/aggregates", response_model=AggregateOut,
            tags=["reports"], responses=responses(401, 404, 422))
async def aggregate(campaign_id: uuid.UUID, principal: PrincipalDep, db: DatabaseDep,
                    year: Annotated[int, Query(ge=1990, le=2100)], unit_id: uuid.UUID,
                    level: UnitKind = UnitKind.COMMUNE) -> AggregateOut:
    """Sums of the reports of the units of one kind under a unit, and the rates derived from
    those sums (never an average of rates)."""
    async with db.read() as conn:
        return await service.aggregate(conn, campaign_id, year, unit_id, level)


# --------------------------------------------------------------------------- bulk files

IMPORT_BODY = {"requestBody": {"required": True, "content": {
    imports.CSV_TYPE: {"schema": {"type": "string"}},
    imports.XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("/campaigns/{campaign_id}/reports/import", response_model=ImportReportsOut,
             tags=["reports"], responses=responses(401, 403, 404, 409, 413, 415, 422),
             openapi_extra=IMPORT_BODY)
async def import_reports(
    campaign_id: uuid.UUID, request: Request, principal: PrincipalDep, db: DatabaseDep,
    idempotency_key: IdempotencyKey,
    submit: Annotated[bool, Query(description="submit the reports, not only save them")] = False,
    note: Annotated[str | None, Query(min_length=1, max_length=500,
                                      description="kept with every report version written")
                    ] = None,
    x_correlation_id: CorrelationId = None,
) -> JSONResponse:
    """Import the yearly values of many units from a CSV or XLSX file (see the template);
    all or nothing, with every row's problems listed."""
    settings: IndicatorsSettings = request.app.state.settings
    body = await request.body()
    try:
        # parsing a large workbook takes a while: keep the event loop free meanwhile
        rows = await run_in_threadpool(
            imports.parse, body, request.headers.get("content-type", ""),
            max_bytes=settings.import_max_bytes, max_rows=settings.import_max_rows)
    except imports.UnsupportedFile as exc:
        raise UnsupportedMediaType(str(exc)) from exc
    ctx = request_context(request, principal, x_correlation_id)
    return await idempotent_write(
        request, db, principal.subject, idempotency_key,
        lambda conn: import_service.import_reports(conn, ctx, campaign_id, rows, submit, note),
        ctx=ctx)


@router.post("/campaigns/{campaign_id}/targets/{year}/import", response_model=list[TargetOut],
             tags=["campaigns"], responses=responses(401, 403, 404, 413, 415, 422),
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string"}}}}})
async def import_targets(
    campaign_id: uuid.UUID, year: YearPath, request: Request, principal: PrincipalDep,
    db: DatabaseDep,
    source: Annotated[str | None, Query(min_length=1, max_length=500,
                                        description="where the targets come from")] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=8,
                                                  max_length=200)] = None,
    x_correlation_id: CorrelationId = None,
) -> JSONResponse:
    """Set many units' targets for a year from a CSV file in the format of the province's
    2017 district targets (board); all or nothing."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "text/csv":
        raise UnsupportedMediaType("send the file as text/csv (UTF-8)")
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput.on("body", "must be UTF-8") from exc
    ctx = request_context(request, principal, x_correlation_id)
    return await idempotent_write(
        request, db, principal.subject, idempotency_key,
        lambda conn: _targets(conn, ctx, campaign_id, year, text, source), ctx=ctx)


async def _targets(conn: Conn, ctx: Context, campaign_id: uuid.UUID, year: int, text: str,
                   source: str | None) -> list[dict[str, Any]]:
    done = await import_service.import_targets(conn, ctx, campaign_id, year, text, source)
    return [t.model_dump(mode="json") for t in done]


TemplateYear = Annotated[int, Query(ge=1990, le=2100)]
TemplateRoot = Annotated[uuid.UUID, Query(description="the unit whose subtree is listed")]


async def _template(db: Database, campaign_id: uuid.UUID, year: int, unit_id: uuid.UUID
                    ) -> list[imports.TemplateRow]:
    async with db.read() as conn:
        return await import_service.template_rows(conn, campaign_id, year, unit_id)


@router.get("/campaigns/{campaign_id}/reports/template.xlsx", tags=["reports"],
            response_class=Response, responses={
                **responses(401, 404, 422),
                200: {"content": {imports.XLSX_TYPE: {}}, "description": "the template"}})
async def report_template_xlsx(campaign_id: uuid.UUID, principal: PrincipalDep,
                               db: DatabaseDep, year: TemplateYear, unit_id: TemplateRoot
                               ) -> Response:
    """The import template as a workbook: one row per unit and indicator, values empty."""
    rows = await _template(db, campaign_id, year, unit_id)
    content = await run_in_threadpool(imports.template_xlsx, year, rows)
    return Response(content, media_type=imports.XLSX_TYPE, headers={
        "Content-Disposition": f'attachment; filename="chungtay-bao-cao-{year}.xlsx"'})


@router.get("/campaigns/{campaign_id}/reports/template.csv", tags=["reports"],
            response_class=Response, responses={
                **responses(401, 404, 422),
                200: {"content": {imports.CSV_TYPE: {}}, "description": "the template"}})
async def report_template_csv(campaign_id: uuid.UUID, principal: PrincipalDep,
                              db: DatabaseDep, year: TemplateYear, unit_id: TemplateRoot
                              ) -> Response:
    """The import template as CSV (UTF-8): one row per unit and indicator, values empty."""
    rows = await _template(db, campaign_id, year, unit_id)
    return Response(imports.template_csv(year, rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="chungtay-bao-cao-{year}.csv"'})


def build_app(settings: IndicatorsSettings | None = None) -> FastAPI:
    settings = settings or IndicatorsSettings()
    topic = topic_name("indicators", settings.topic_namespace)

    async def seed(db: Database) -> None:
        async with db.transaction() as conn:
            await service.seed_catalogue(conn, topic)

    async def overdue(db: Database) -> None:
        async with db.transaction() as conn:
            await service.emit_overdue(conn, topic)

    plan = ServicePlan(
        settings, [hierarchy.MIGRATIONS, MIGRATIONS], publishes=True,
        subscriptions={"registration": REGISTRATION_HANDLERS},
        on_start=[seed], periodic=[(settings.overdue_check_seconds, overdue)],
    )
    return service_app(
        plan, title="chungtay indicators", router=router, topic_owner="indicators",
        description="Campaigns, targets, the indicator catalogue and yearly reports "
                    "(validation, deadlines, corrections, approval, import).")


def main() -> FastAPI:
    """Entry point for ``uvicorn --factory services.indicators.api:main``."""
    configure_logging()
    return build_app()


