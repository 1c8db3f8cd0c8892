"""HTTP API of the indicators service, and the app that serves it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from chungtay_common import hierarchy
from chungtay_common.auth import PrincipalDep
from chungtay_common.context import Context
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.db import Conn
from chungtay_common.errors import responses
from chungtay_common.http import (
    CSV_BODY,
    CSV_TYPE,
    SHEET_BODY,
    XLSX_TYPE,
    CsvText,
    DatabaseDep,
    PersonalReadDep,
    ReadDep,
    SheetFile,
    WriteDep,
    configure_logging,
)
from chungtay_common.runtime import ServicePlan, service_app, system_job
from services.indicators import api_reminders, import_service, imports, service, service_reminders
from services.indicators import schemas as s
from services.indicators.access import ACCESS
from services.indicators.channels import Deliverer
from services.indicators.consumers import AWARDS_HANDLERS, REGISTRATION_HANDLERS
from services.indicators.settings import IndicatorsSettings

MIGRATIONS = Path(__file__).parent / "migrations"

router = APIRouter(prefix="/v1")
YearPath = Annotated[int, PathParam(ge=1990, le=2100)]
YearQuery = Annotated[int, Query(ge=1990, le=2100)]
WRITE_ERRORS = responses(401, 403, 404, 409, 413, 422)


# --------------------------------------------------------------------------- campaigns


@router.post("/campaigns", status_code=201, response_model=s.CampaignOut, tags=["campaigns"],
             responses=WRITE_ERRORS)
async def create_campaign(body: s.CampaignIn, write: WriteDep) -> JSONResponse:
    """Create a campaign with one reporting cycle per year."""
    return await write(service.create_campaign, body)


@router.get("/campaigns", response_model=list[s.CampaignOut], tags=["campaigns"],
            responses=responses(401))
async def list_campaigns(read: ReadDep) -> list[s.CampaignOut]:
    """All campaigns."""
    return await read(service.list_campaigns)


@router.get("/campaigns/{campaign_id}", response_model=s.CampaignOut, tags=["campaigns"],
            responses=responses(401, 404))
async def get_campaign(campaign_id: uuid.UUID, read: ReadDep
                       ) -> s.CampaignOut:
    """A campaign and its reporting cycles (due dates)."""
    return await read(service.get_campaign, campaign_id)


@router.put("/campaigns/{campaign_id}/targets/{year}/{unit_id}", response_model=s.TargetOut,
            tags=["campaigns"], responses=WRITE_ERRORS)
async def set_target(campaign_id: uuid.UUID, year: YearPath, unit_id: uuid.UUID,
                     body: s.TargetIn, write: WriteDep) -> JSONResponse:
    """Set a unit's poverty-reduction target for a year (the province's is the province-wide
    target)."""
    return await write(service.set_target, campaign_id, year, unit_id, body)


@router.get("/campaigns/{campaign_id}/targets", response_model=list[s.TargetOut],
            tags=["campaigns"], responses=responses(401, 404))
async def list_targets(campaign_id: uuid.UUID, read: ReadDep,
                       year: Annotated[int | None, Query(ge=1990, le=2100)] = None,
                       ) -> list[s.TargetOut]:
    """The targets of a campaign, optionally of one year."""
    return await read(service.list_targets, campaign_id, year)


@router.put("/national-averages/{year}", response_model=s.NationalAverageOut,
            tags=["campaigns"], responses=WRITE_ERRORS)
async def set_national_average(year: YearPath, body: s.NationalAverageIn, write: WriteDep
                               ) -> JSONResponse:
    """Record the national poor-household rate of a year, with its source."""
    return await write(service.set_national_average, year, body)


@router.get("/national-averages", response_model=list[s.NationalAverageOut],
            tags=["campaigns"], responses=responses(401))
async def list_national_averages(read: ReadDep
                                 ) -> list[s.NationalAverageOut]:
    """National poor-household rates by year."""
    return await read(service.list_national_averages)


# --------------------------------------------------------------------------- catalogue


@router.get("/indicators", response_model=list[s.IndicatorOut], tags=["indicators"],
            responses=responses(401))
async def list_indicators(read: ReadDep) -> list[s.IndicatorOut]:
    """The indicator catalogue: entered and derived indicators, retired ones included."""
    return await read(service.list_indicators)


@router.get("/campaigns/{campaign_id}/indicators", response_model=list[s.IndicatorOut],
            tags=["indicators"], responses=responses(401, 404))
async def list_campaign_indicators(campaign_id: uuid.UUID, read: ReadDep
                                   ) -> list[s.IndicatorOut]:
    """The catalogue a campaign is run with: as it was when the campaign was created."""
    return await read(service.list_campaign_indicators, campaign_id)


@router.post("/indicators", response_model=s.IndicatorOut, tags=["indicators"],
             responses=WRITE_ERRORS)
async def define_indicator(body: s.IndicatorIn, write: WriteDep) -> JSONResponse:
    """Add an entered indicator or change one (its version grows)."""
    return await write(service.define_indicator, body)


@router.post("/indicators/{code}/retire", response_model=s.IndicatorOut, tags=["indicators"],
             responses=WRITE_ERRORS)
async def retire_indicator(code: str, write: WriteDep) -> JSONResponse:
    """Retire an indicator for campaigns created from now on (not one that derived figures
    read); values already reported are kept."""
    return await write(service.retire_indicator, code)


# --------------------------------------------------------------------------- reports

REPORT = "/campaigns/{campaign_id}/reports/{unit_id}/{year}"


async def _report_ref(campaign_id: uuid.UUID, unit_id: uuid.UUID, year: YearPath
                      ) -> s.ReportRef:
    return s.ReportRef(campaign_id, unit_id, year)


ReportPath = Annotated[s.ReportRef, Depends(_report_ref)]


@router.put(REPORT, response_model=s.ReportOut, tags=["reports"], responses=WRITE_ERRORS)
async def save_report(report: ReportPath, body: s.ValuesIn, write: WriteDep) -> JSONResponse:
    """Save a unit's values for a year as a draft (replacing the values saved before)."""
    return await write.statement(service.save_report, report, body)


@router.post(REPORT + "/submit", response_model=s.ReportOut, tags=["reports"],
             responses=WRITE_ERRORS)
async def submit_report(report: ReportPath, body: s.SubmitIn, write: WriteDep
                        ) -> JSONResponse:
    """Submit the report (with ``values``, or the saved draft) to the level above."""
    return await write.statement(service.submit_report, report, body)


@router.post(REPORT + "/accept", response_model=s.ReportOut, tags=["reports"],
             responses=WRITE_ERRORS)
async def accept_report(report: ReportPath, write: WriteDep) -> JSONResponse:
    """Accept a submitted report; it is then locked."""
    return await write.statement(service.accept_report, report)


@router.post(REPORT + "/confirm", response_model=s.ReportOut, tags=["reports"],
             responses=WRITE_ERRORS)
async def confirm_report(report: ReportPath, body: s.ConfirmIn, write: WriteDep
                         ) -> JSONResponse:
    """Make the figures official after the yearly household poverty review (the review's
    values, or the estimates as they are)."""
    return await write.statement(service.confirm_report, report, body)


def _with_reason(use_case: Callable[[Conn, Context, s.ReportRef, s.ReasonIn],
                                    Awaitable[s.ReportOut]]) -> Any:
    """The route of a step that takes a reason (return, reopen): one call, named and
    documented as its use case."""

    async def route(report: ReportPath, body: s.ReasonIn, write: WriteDep) -> JSONResponse:
        return await write.statement(use_case, report, body)

    route.__name__, route.__doc__ = use_case.__name__, use_case.__doc__
    return route


for _step in ("return", "reopen"):
    router.post(REPORT + f"/{_step}", response_model=s.ReportOut, tags=["reports"],
                responses=WRITE_ERRORS)(_with_reason(getattr(service, f"{_step}_report")))


@router.get(REPORT, response_model=s.ReportOut, tags=["reports"],
            responses=responses(401, 404, 422))
async def get_report(report: ReportPath, read: ReadDep
                     ) -> s.ReportOut:
    """A report: status, values, derived values, warnings, punctuality."""
    return await read(service.get_report, report)


@router.get(REPORT + "/history", response_model=list[s.ReportVersionOut], tags=["reports"],
            responses=responses(401, 403, 404, 422))
async def report_history(report: ReportPath, read: PersonalReadDep
                         ) -> list[s.ReportVersionOut]:
    """Every version of a report: action, status, values, who and when (within the caller's
    subtree; each read is audited)."""
    return await read(service.report_history, report)


@router.get("/campaigns/{campaign_id}/status", response_model=s.StatusBoard, tags=["reports"],
            responses=responses(401, 404, 422))
async def status_board(campaign_id: uuid.UUID, year: YearQuery, read: ReadDep,
                       unit_id: uuid.UUID | None = None) -> s.StatusBoard:
    """Who has reported for a year (on time, late), who has not (missing), under a unit."""
    return await read(service.status_board, campaign_id, year, unit_id)


@router.get("/campaigns/{campaign_id}/aggregates", response_model=s.AggregateOut,
            tags=["reports"], responses=responses(401, 404, 422))
async def aggregate(campaign_id: uuid.UUID, year: YearQuery, unit_id: uuid.UUID,
                    read: ReadDep,
                    level: UnitKind = UnitKind.COMMUNE) -> s.AggregateOut:
    """Sums of the reports of the units of one kind under a unit, and the rates derived from
    those sums (never an average of rates)."""
    return await read(service.aggregate, campaign_id, year, unit_id, level)


# --------------------------------------------------------------------------- bulk files


NumberFormatQuery = Annotated[imports.NumberFormat, Query(
    description="how the file writes numbers as text: vi (default, as the template: 1.000 is "
                "one thousand, 1,5 one and a half) or en (1,000 and 1.5)")]


async def _may_import(principal: PrincipalDep) -> None:
    """Refuse (403) a caller whose roles can write no report, before the body is read: a
    viewer's token never reaches the parser. Each row's unit is still checked on writing."""
    import_service.check_may_import(principal)


async def _import_rows(request: Request, _allowed: Annotated[None, Depends(_may_import)],
                       sheet: SheetFile,
                       number_format: NumberFormatQuery = imports.NumberFormat.VI
                       ) -> list[imports.ImportRow]:
    """The rows of an uploaded file, read off the event loop (a large workbook takes a
    while); the caller's role is checked first (dependencies are solved in order)."""
    settings: IndicatorsSettings = request.app.state.settings
    return await run_in_threadpool(partial(
        imports.parse, sheet.content, sheet.media_type, max_bytes=settings.import_max_bytes,
        max_rows=settings.import_max_rows, number_format=number_format))


ImportRows = Annotated[list[imports.ImportRow], Depends(_import_rows)]


@router.post("/campaigns/{campaign_id}/reports/import", response_model=s.ImportReportsOut,
             tags=["reports"], responses=responses(401, 403, 404, 409, 413, 415, 422),
             openapi_extra=SHEET_BODY)
async def import_reports(
    campaign_id: uuid.UUID, write: WriteDep, rows: ImportRows,
    submit: Annotated[bool, Query(description="submit the reports, not only save them")] = False,
    note: Annotated[str | None, Query(min_length=1, max_length=500,
                                      description="kept with every report version written")
                    ] = None,
    migration_id: Annotated[uuid.UUID | None, Query(
        description="the open data migration that historical submission times (column "
                    "Ngày nộp, administrator) are recorded within")] = None,
) -> JSONResponse:
    """Import the yearly values of many units from a CSV or XLSX file (see the template);
    all or nothing, with every row's problems listed."""
    return await write(import_service.import_reports, campaign_id, rows, submit, note,
                       migration_id)


@router.post("/campaigns/{campaign_id}/targets/{year}/import", response_model=list[s.TargetOut],
             tags=["campaigns"], responses=responses(401, 403, 404, 413, 415, 422),
             openapi_extra=CSV_BODY)
async def import_targets(
    campaign_id: uuid.UUID, year: YearPath, write: WriteDep, text: CsvText,
    source: Annotated[str | None, Query(min_length=1, max_length=500,
                                        description="where the targets come from")] = None,
    number_format: NumberFormatQuery = imports.NumberFormat.VI,
) -> JSONResponse:
    """Set many units' targets for a year from a CSV file in the format of the province's
    2017 district targets (board); all or nothing."""
    return await write(import_service.import_targets, campaign_id, year, text, source,
                       number_format)


TemplateRoot = Annotated[uuid.UUID, Query(description="the unit whose subtree is listed")]


async def _template(campaign_id: uuid.UUID, year: YearQuery, unit_id: TemplateRoot,
                    principal: PrincipalDep, db: DatabaseDep) -> imports.Template:
    async with db.read() as conn:
        return await import_service.template(conn, campaign_id, year, unit_id)


TemplateDep = Annotated[imports.Template, Depends(_template)]


def _attachment(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/campaigns/{campaign_id}/reports/template.xlsx", tags=["reports"],
            response_class=Response, responses={
                **responses(401, 404, 422),
                200: {"content": {XLSX_TYPE: {}}, "description": "the template"}})
async def report_template_xlsx(template: TemplateDep) -> Response:
    """The import template as a workbook: one row per unit and indicator, values empty."""
    content = await run_in_threadpool(imports.template_xlsx, template.year, template.rows)
    return _attachment(content, XLSX_TYPE, f"chungtay-bao-cao-{template.year}.xlsx")


@router.get("/campaigns/{campaign_id}/reports/template.csv", tags=["reports"],
            response_class=Response, responses={
                **responses(401, 404, 422),
                200: {"content": {CSV_TYPE: {}}, "description": "the template"}})
async def report_template_csv(template: TemplateDep) -> Response:
    """The import template as CSV (UTF-8): one row per unit and indicator, values empty."""
    return _attachment(imports.template_csv(template.year, template.rows),
                       f"{CSV_TYPE}; charset=utf-8", f"chungtay-bao-cao-{template.year}.csv")


# --------------------------------------------------------------------------- data migrations


@router.post("/data-migrations", status_code=201, response_model=s.DataMigrationOut,
             tags=["data migrations"], responses=WRITE_ERRORS)
async def open_data_migration(body: s.DataMigrationIn, write: WriteDep) -> JSONResponse:
    """Open a data migration (administrator), within which historical submission times are
    back-filled."""
    return await write(service.open_data_migration, body)


@router.post("/data-migrations/{migration_id}/close", response_model=s.DataMigrationOut,
             tags=["data migrations"], responses=WRITE_ERRORS)
async def close_data_migration(migration_id: uuid.UUID, write: WriteDep) -> JSONResponse:
    """Close a data migration (administrator): nothing more is back-filled within it."""
    return await write(service.close_data_migration, migration_id)


@router.get("/data-migrations", response_model=list[s.DataMigrationOut],
            tags=["data migrations"], responses=responses(401, 403))
async def list_data_migrations(principal: PrincipalDep, read: ReadDep
                               ) -> list[s.DataMigrationOut]:
    """Every data migration, the latest first (administrator)."""
    return await read(service.list_data_migrations, principal)


# every router of the service (the routes of a part of it live with that part)
ROUTERS = [router, api_reminders.router]


def build_app(settings: IndicatorsSettings | None = None) -> FastAPI:
    settings = settings or IndicatorsSettings()
    deliverer = Deliverer(settings)
    plan = ServicePlan(
        settings, [hierarchy.MIGRATIONS, MIGRATIONS], publishes=True,
        subscriptions={"registration": REGISTRATION_HANDLERS, "awards": AWARDS_HANDLERS},
        on_start=[system_job(settings, service.seed_catalogue)],
        on_stop=[deliverer.close],
        periodic=[(settings.overdue_check_seconds, system_job(settings, service.emit_overdue)),
                  (settings.reminder_check_seconds,
                   system_job(settings, service_reminders.planner(settings))),
                  (settings.delivery_check_seconds, deliverer.run)])
    return service_app(
        plan, title="chungtay indicators", routers=ROUTERS, access=ACCESS, topic_owner="indicators",
        description="Campaigns, targets, the indicator catalogue and yearly reports "
                    "(validation, deadlines, corrections, approval, import).")


def main() -> FastAPI:
    """Entry point for ``uvicorn --factory services.indicators.api:main``."""
    configure_logging()
    return build_app()
