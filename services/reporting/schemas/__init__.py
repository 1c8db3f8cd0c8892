"""Response models of the reporting API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from chungtay_common.contracts.awards import AuthorityLevel
from chungtay_common.contracts.feed import CentralSummary
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.request_body import RequestModel


class TreeNode(BaseModel):
    unit_id: uuid.UUID
    kind: UnitKind
    code: str | None
    name: str
    subkind: str | None
    below: dict[UnitKind, int]  # units of each kind anywhere below this node
    children: list[TreeNode]


class UnitTree(BaseModel):
    as_of: date
    totals: dict[UnitKind, int]
    roots: list[TreeNode]


# --------------------------------------------------------------------------- summaries

Value = int | float


class Punctuality(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    MISSING = "missing"  # no report, and the due instant has passed
    NOT_YET_DUE = "not_yet_due"


class HierarchyMode(StrEnum):
    AS_REPORTED = "as_reported"  # the hierarchy as it stood in the year
    CURRENT = "current"  # restated onto today's units (merged units add up in their successor)


class UnitRef(BaseModel):
    unit_id: uuid.UUID
    kind: UnitKind
    code: str | None
    name: str


class TargetOut(BaseModel):
    reduction_pp_min: float | None
    reduction_pp_max: float | None
    households_out_min: int | None
    households_out_max: int | None
    at_most_national_average: bool
    attainment_pct: float | None
    met: bool | None  # None: not known yet


class ComplianceOut(BaseModel):
    due_at: datetime
    expected: int
    on_time: int
    late: int
    missing: int
    not_yet_due: int
    accepted: int


class OwnReport(BaseModel):
    """A district's own report beside the sum of its communes."""

    values: dict[str, Value]
    poor_rate_pct: float | None
    differs: bool
    differences: dict[str, Value]  # own minus the communes' sum, per summable indicator


class AwardCount(BaseModel):
    form_code: str
    authority_level: AuthorityLevel
    awards: int


class SummaryLine(BaseModel):
    unit: UnitRef
    hierarchy_day: date | None  # the day whose hierarchy the sums follow (None: restated)
    reports: int  # commune reports summed
    # their figures: estimates (sơ bộ) or official (chính thức) after the poverty review, or mixed
    figures: Literal["estimated", "official", "mixed"] | None
    values: dict[str, Value]  # sums of every summable indicator
    poor_rate_pct: float | None
    near_poor_rate_pct: float | None
    reduction_pp: float | None
    reduction_reports: int  # communes that reported in both years
    national_average_pct: float | None
    at_or_below_national_average: bool | None
    target: TargetOut | None
    compliance: ComplianceOut | None  # None when restated: who had to report is the year's
    resources_vnd: dict[str, Value]
    own_report: OwnReport | None
    nominations: dict[str, int]  # by status
    awards: list[AwardCount]  # granted and not revoked, by form and authority level
    # the awards register's exemplary models (điển hình tiên tiến), by their unit's place:
    exemplary_models: int = 0  # found in the year
    exemplary_models_recognised: int = 0  # of those, recognised by the board
    replications: int = 0  # replications of recognised models that took place in the year


class CampaignRefOut(BaseModel):
    campaign_id: uuid.UUID
    code: str
    name: str
    first_year: int
    last_year: int


class ProvincialSummary(BaseModel):
    campaign: CampaignRefOut
    year: int
    hierarchy: HierarchyMode
    province: SummaryLine
    districts: list[SummaryLine]


class ComplianceRow(BaseModel):
    unit: UnitRef
    parent_id: uuid.UUID | None
    punctuality: Punctuality
    report_state: str | None  # submitted, returned, accepted; None: no report
    first_submitted_at: datetime | None


class CompliancePage(BaseModel):
    campaign_id: uuid.UUID
    year: int
    due_at: datetime
    counts: dict[Punctuality, int]
    total: int
    limit: int
    offset: int
    items: list[ComplianceRow]


class RankingBy(StrEnum):
    REDUCTION = "reduction"
    ATTAINMENT = "attainment"


class RankingRow(BaseModel):
    rank: int | None  # shared by ties; None: no figure to rank by
    unit: UnitRef
    parent_id: uuid.UUID | None
    poor_rate_pct: float | None
    reduction_pp: float | None
    target_attainment_pct: float | None
    target_met: bool | None


class RankingPage(BaseModel):
    campaign_id: uuid.UUID
    year: int
    level: UnitKind
    by: RankingBy
    total: int
    limit: int
    offset: int
    items: list[RankingRow]


class AwardedUnit(BaseModel):
    unit: UnitRef
    form_code: str
    authority_level: AuthorityLevel | None


class Exemplary(BaseModel):
    campaign_id: uuid.UUID
    year: int
    best_reducers: list[RankingRow]
    awarded_units: list[AwardedUnit]


class TrendPoint(BaseModel):
    year: int
    values: dict[str, Value]
    poor_rate_pct: float | None
    near_poor_rate_pct: float | None
    reduction_pp: float | None
    target_attainment_pct: float | None
    target_met: bool | None
    national_average_pct: float | None
    report_state: str | None  # a unit's own report (communes); None for a rollup


class PeriodOut(BaseModel):
    first_year: int
    last_year: int
    yearly_reduction_pp: dict[int, float]
    average_reduction_pp: float | None
    plan_reduction_pp: tuple[float, float]
    meets_plan: bool | None  # the average is at least the plan's lower bound
    last_rate_year: int | None
    last_rate_pct: float | None
    national_average_pct: float | None
    at_or_below_national_average: bool | None


class Trend(BaseModel):
    campaign: CampaignRefOut
    unit: UnitRef
    points: list[TrendPoint]
    period: PeriodOut


class PartitionFreshness(BaseModel):
    partition: int
    applied_offset: int | None  # the last offset applied to the views
    end_offset: int | None  # the topic's end (next offset to be written)
    lag: int | None  # end offset minus the consumers' committed offset


class TopicFreshness(BaseModel):
    topic: str
    last_event_type: str | None
    last_occurred_at: datetime | None
    last_applied_at: datetime | None
    lag: int | None  # messages on the topic not yet taken (None: the broker did not answer)
    partitions: list[PartitionFreshness]


class Freshness(BaseModel):
    topics: list[TopicFreshness]


class PublishIn(RequestModel):
    campaign_id: uuid.UUID
    year: int = Field(ge=1990, le=2100)
    province_id: uuid.UUID | None = Field(
        default=None, description="default: the campaign's only province")


class FeedItem(BaseModel):
    seq: int
    snapshot_id: uuid.UUID
    campaign_id: uuid.UUID
    year: int
    province_id: uuid.UUID
    supersedes_seq: int | None
    published_at: datetime
    published_by: str
    summary: CentralSummary


class FeedPage(BaseModel):
    items: list[FeedItem]
    next_after: int  # pass as ``after`` to read on
    has_more: bool
