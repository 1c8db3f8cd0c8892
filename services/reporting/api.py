"""HTTP API of the reporting service, and the app that runs its consumers in-process."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query

from chungtay_common import clock, hierarchy
from chungtay_common.auth import PrincipalDep
from chungtay_common.errors import responses
from chungtay_common.http import DatabaseDep, configure_logging
from chungtay_common.runtime import ServicePlan, service_app
from services.reporting import service
from services.reporting.consumers import REGISTRATION_HANDLERS
from services.reporting.schemas import UnitTree
from services.reporting.settings import ReportingSettings

router = APIRouter(prefix="/v1", tags=["units"])


@router.get("/units/tree", response_model=UnitTree, responses=responses(401, 422))
async def unit_tree(
    principal: PrincipalDep, db: DatabaseDep,
    as_of: Annotated[date | None, Query(description="default: today in Vietnam")] = None,
) -> UnitTree:
    """The unit hierarchy on a day, with the number of units of each kind below each node."""
    async with db.read() as conn:
        return await service.unit_tree(conn, as_of or clock.today())


def build_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    plan = ServicePlan(settings, [hierarchy.MIGRATIONS],
                       subscriptions={"registration": REGISTRATION_HANDLERS})
    return service_app(
        plan, title="chungtay reporting", router=router,
        description="Read models of the movement: the dated unit hierarchy, summaries.")


def main() -> FastAPI:
    """Entry point for ``uvicorn --factory services.reporting.api:main``."""
    configure_logging()
    return build_app()
