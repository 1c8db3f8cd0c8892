"""The ministry feed (topic ``<ns>.feed.v1``): central summaries the board published.

A snapshot is immutable and numbered (``seq``, gapless, in publication order). A correction is a
new snapshot naming the one it supersedes; nothing published is ever changed. The same snapshots
are served over HTTP (``GET /v1/feed?after=<seq>``) for systems that read from a cursor.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chungtay_common.contracts.awards import AuthorityLevel
from chungtay_common.contracts.indicators import Year
from chungtay_common.events import CATALOGUE, EventPayload

OWNER = "feed"
CENTRAL_SUMMARY_SCHEMA: Literal["chungtay.central-summary.v1"] = "chungtay.central-summary.v1"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CampaignRef(_Part):
    campaign_id: uuid.UUID
    code: str
    name: str


class UnitRef(_Part):
    unit_id: uuid.UUID
    code: str | None
    name: str


class Compliance(_Part):
    """Reports expected from the units of the campaign's participating kinds (as the hierarchy
    stood the day before the due date), and how they came."""

    due_at: AwareDatetime
    expected: int = Field(ge=0)
    on_time: int = Field(ge=0)
    late: int = Field(ge=0)
    missing: int = Field(ge=0)  # no report, and the due instant has passed
    not_yet_due: int = Field(ge=0)  # no report yet, and it is not due yet
    accepted: int = Field(ge=0)


class TargetAttainment(_Part):
    reduction_pp_min: float | None
    at_most_national_average: bool
    attainment_pct: float | None  # reduction ÷ target reduction × 100 (target above 0)
    met: bool | None  # None: not known (a figure or the national average is missing)


class Resources(_Part):
    """Resources mobilised, in VND, by source (sums over the communes' reports)."""

    state_budget: int | float
    preferential_credit: int | float
    social_contributions: int | float
    total: int | float


class AwardCount(_Part):
    form_code: str
    authority_level: AuthorityLevel
    awards: int = Field(ge=0)


class CentralSummary(_Part):
    """The province's figures for a year, for the Central Emulation-Reward Board and MOLISA.

    Sums are over the commune-level reports of the units in the province as the hierarchy stood
    in the year. Rates are ratios of those sums, in percent, unrounded. The reduction in points
    compares the year with the year before over the communes that reported in both."""

    schema_id: Literal["chungtay.central-summary.v1"] = CENTRAL_SUMMARY_SCHEMA
    campaign: CampaignRef
    year: Year
    province: UnitRef
    hierarchy_day: date  # the day whose hierarchy the figures follow
    reports: int = Field(ge=0)  # commune reports summed
    # their figures: estimates (sơ bộ, before the yearly household poverty review), official
    # (chính thức, after it), or a mix; None without reports
    figures: Literal["estimated", "official", "mixed"] | None = None
    households_total: int | float | None
    poor_households: int | float | None
    near_poor_households: int | float | None
    escaped_poverty: int | float | None
    newly_poor: int | float | None
    fell_back_into_poverty: int | float | None
    poor_rate_pct: float | None
    near_poor_rate_pct: float | None
    reduction_pp: float | None
    reduction_reports: int = Field(ge=0)  # communes compared for the reduction
    national_average_pct: float | None
    at_or_below_national_average: bool | None
    target: TargetAttainment | None
    compliance: Compliance
    resources_vnd: Resources
    awards: list[AwardCount]  # granted (approved, not revoked) awards of the year, by form


@CATALOGUE.register(OWNER, "summary.published")
class SummaryPublished(EventPayload):
    """The board published a year's central summary: an immutable, numbered snapshot."""

    seq: int = Field(ge=1)
    snapshot_id: uuid.UUID
    supersedes_seq: int | None  # the earlier snapshot of the same campaign, year and province
    campaign_id: uuid.UUID
    year: Year
    province_id: uuid.UUID
    published_at: AwareDatetime
    published_by: str
    summary: CentralSummary
