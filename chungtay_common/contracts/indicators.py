"""Events of the indicators service (topic ``<ns>.indicators.v1``).

Report events are keyed by the unit id, so one unit's reports keep their order. A
``report.submitted`` carries the full set of values and the report version: a consumer replaces
the unit-year's values, so a correction never double counts.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from chungtay_common.contracts.registration import UnitKind
from chungtay_common.events import CATALOGUE, EventPayload

OWNER = "indicators"

IndicatorCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
Year = Annotated[int, Field(ge=1990, le=2100)]
Value = int | float


class ValueType(StrEnum):
    INTEGER = "integer"
    DECIMAL = "decimal"


class Aggregation(StrEnum):
    SUM = "sum"  # the value above a unit is the sum of its children's
    RATIO_OF_SUMS = "ratio_of_sums"  # derived rates: recomputed from the sums, never averaged
    NONE = "none"  # not aggregated (e.g. target attainment, computed per unit)


class LegalDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str = Field(min_length=1, max_length=60)  # e.g. 1258/QĐ-TTg
    issued_on: date
    title: str = Field(min_length=1, max_length=500)


class ReportingCycle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    year: Year
    due_at: AwareDatetime  # a report is on time when submitted strictly before this instant


class ReportWarning(BaseModel):
    """A finding that does not block a report: stored and returned with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    field: str
    message: str


@CATALOGUE.register(OWNER, "campaign.created")
class CampaignCreated(EventPayload):
    """A campaign (phong trào thi đua) with its period and yearly reporting cycles."""

    campaign_id: uuid.UUID
    code: str
    name: str
    first_year: Year
    last_year: Year
    legal_basis: list[LegalDocument]
    participating_kinds: list[UnitKind]
    cycles: list[ReportingCycle]


@CATALOGUE.register(OWNER, "indicator.defined")
class IndicatorDefined(EventPayload):
    """A catalogue entry was added, changed or retired; ``version`` grows with each change."""

    code: IndicatorCode
    version: int = Field(ge=1)
    name_vi: str
    name_en: str
    unit_of_measure: str
    value_type: ValueType
    min_value: Value | None
    max_value: Value | None
    reported_by: list[UnitKind]
    aggregation: Aggregation
    derived: bool
    formula: str | None
    required: bool
    retired: bool


@CATALOGUE.register(OWNER, "target.set")
class TargetSet(EventPayload):
    """A unit's target for a campaign year (set or changed)."""

    campaign_id: uuid.UUID
    year: Year
    unit_id: uuid.UUID
    reduction_pp_min: float | None
    reduction_pp_max: float | None
    households_out_min: int | None
    households_out_max: int | None
    at_most_national_average: bool
    source: str | None


@CATALOGUE.register(OWNER, "national_average.set")
class NationalAverageSet(EventPayload):
    """The national poor-household rate of a year (MOLISA's count), an input."""

    year: Year
    poor_rate_pct: float
    source: str


class _ReportEvent(EventPayload):
    report_id: uuid.UUID
    campaign_id: uuid.UUID
    unit_id: uuid.UUID
    year: Year
    version: int = Field(ge=1)


@CATALOGUE.register(OWNER, "report.submitted")
class ReportSubmitted(_ReportEvent):
    """A yearly report was submitted (or corrected): all its values, as submitted."""

    values: dict[IndicatorCode, Value]
    submitted_at: AwareDatetime
    due_at: AwareDatetime
    on_time: bool
    resubmission: bool
    warnings: list[ReportWarning]


class Figures(StrEnum):
    """Whether a report's figures are estimates (sơ bộ: the report due before 20 November comes
    before the yearly household poverty review has finished) or the review's official figures
    (chính thức)."""

    ESTIMATED = "estimated"
    OFFICIAL = "official"


@CATALOGUE.register(OWNER, "report.submitted", 2)
class ReportSubmittedV2(ReportSubmitted):
    """A yearly report was submitted, corrected, or its figures made official: all its values,
    as submitted, whether they are estimates or official, and the report's status (v2 adds
    ``figures`` and ``status``; a v1 event's figures are estimates and its report submitted)."""

    figures: Figures
    # the report's status after this event: "submitted", or the status an accepted report
    # keeps when the level above makes its figures official
    status: Literal["submitted", "accepted"]


@CATALOGUE.register(OWNER, "report.returned")
class ReportReturned(_ReportEvent):
    """A submitted report went back to its unit for correction, with the reason."""

    reason: str


@CATALOGUE.register(OWNER, "report.accepted")
class ReportAccepted(_ReportEvent):
    """The level above accepted a submitted report; it is locked."""

    accepted_by_unit_id: uuid.UUID | None


@CATALOGUE.register(OWNER, "report.reopened")
class ReportReopened(_ReportEvent):
    """The Board reopened an accepted report, with the reason."""

    reason: str


@CATALOGUE.register(OWNER, "report.overdue")
class ReportOverdue(EventPayload):
    """A unit expected to report had not submitted when the due date passed (sent once)."""

    campaign_id: uuid.UUID
    unit_id: uuid.UUID
    year: Year
    due_at: AwareDatetime
