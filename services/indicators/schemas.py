"""Request and response models of the indicators API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, computed_field

from chungtay_common.contracts.indicators import (
    Figures,
    IndicatorCode,
    IndicatorDefined,
    LegalDocument,
    ReportingCycle,
    ReportWarning,
    Value,
    ValueType,
    Year,
)
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.request_body import RequestModel
from services.indicators.domain import FIGURES_LABELS, STATUS_LABELS, VALUE_BOUND, ReportStatus

MAX_HOUSEHOLDS = 10_000_000

Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]
# a catalogue bound: finite, and no larger than a reported value may be
Bound = (Annotated[int, Field(ge=-VALUE_BOUND, le=VALUE_BOUND)]
         | Annotated[float, Field(ge=-VALUE_BOUND, le=VALUE_BOUND, allow_inf_nan=False)])
Points = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
# a number of households (a province has a few hundred thousand; the column is a 4-byte int)
Households = Annotated[int, Field(ge=0, le=MAX_HOUSEHOLDS)]


class _In(RequestModel):
    pass


class CampaignIn(_In):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
    name: Text
    first_year: Year
    last_year: Year
    legal_basis: list[LegalDocument] = Field(default_factory=list)
    participating_kinds: list[UnitKind] = Field(
        default_factory=lambda: [UnitKind.DISTRICT, UnitKind.COMMUNE, UnitKind.AGENCY,
                                 UnitKind.MASS_ORG], min_length=1)
    due_month: int = Field(default=11, ge=1, le=12)
    due_day: int = Field(default=20, ge=1, le=31)


class CampaignOut(BaseModel):
    campaign_id: uuid.UUID
    code: str
    name: str
    first_year: int
    last_year: int
    legal_basis: list[LegalDocument]
    participating_kinds: list[UnitKind]
    cycles: list[ReportingCycle]


class IndicatorIn(_In):
    """A catalogue entry to add or change. Only entered indicators can be added: derived ones
    are computed by the system."""

    code: IndicatorCode
    name_vi: Text
    name_en: Text
    unit_of_measure: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    value_type: ValueType = ValueType.INTEGER
    min_value: Bound | None = 0
    max_value: Bound | None = None
    reported_by: list[UnitKind] = Field(min_length=1)
    required: bool = False


class IndicatorOut(IndicatorDefined):
    """A catalogue entry: the same fields as the ``indicator.defined`` event."""


class TargetIn(_In):
    reduction_pp_min: Points | None = None
    reduction_pp_max: Points | None = None
    households_out_min: Households | None = None
    households_out_max: Households | None = None
    at_most_national_average: bool = False
    source: str | None = Field(default=None, max_length=500)


class TargetOut(TargetIn):
    campaign_id: uuid.UUID
    year: int
    unit_id: uuid.UUID


class NationalAverageIn(_In):
    poor_rate_pct: Points
    source: Text


class NationalAverageOut(NationalAverageIn):
    year: int


@dataclass(frozen=True)
class ReportRef:
    """Which report: a unit's for one year of a campaign (the path of the report routes)."""

    campaign_id: uuid.UUID
    unit_id: uuid.UUID
    year: int


class ValuesIn(_In):
    values: dict[str, Value] = Field(max_length=200)


class SubmitIn(_In):
    """Optional values to save with the submission (otherwise the saved draft is submitted)."""

    values: dict[str, Value] | None = Field(default=None, max_length=200)


class ReasonIn(_In):
    reason: Text


class ConfirmIn(_In):
    """The official figures of the yearly household poverty review (otherwise the estimates
    submitted become official as they are), and a note (e.g. the review's decision)."""

    values: dict[str, Value] | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, min_length=1, max_length=500)


class DerivedOut(BaseModel):
    poor_rate_pct: float | None
    near_poor_rate_pct: float | None
    reduction_pp: float | None
    target_attainment_pct: float | None
    target_met: bool | None
    national_average_pct: float | None = None
    at_or_below_national_average: bool | None = None


class _Labelled(BaseModel):
    """A model with a report status, shown with its Vietnamese label beside the code."""

    status: ReportStatus | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str | None:
        """The status in Vietnamese (``Dự thảo``, ``Đã nộp``, ``Trả lại``, ``Đã tiếp
        nhận``, ``Mở lại``)."""
        return STATUS_LABELS[self.status] if self.status is not None else None


class _WithFigures(BaseModel):
    """Estimated (sơ bộ) or official (chính thức) figures, with the Vietnamese label."""

    figures: Figures

    @computed_field  # type: ignore[prop-decorator]
    @property
    def figures_label(self) -> str:
        """``Sơ bộ`` or ``Chính thức``."""
        return FIGURES_LABELS[self.figures]


class ReportOut(_Labelled, _WithFigures):
    report_id: uuid.UUID
    campaign_id: uuid.UUID
    unit_id: uuid.UUID
    year: int
    status: ReportStatus
    version: int
    values: dict[str, Value]
    derived: DerivedOut
    warnings: list[ReportWarning]
    due_at: datetime
    first_submitted_at: datetime | None
    submitted_at: datetime | None
    on_time: bool | None


class ReportVersionOut(_Labelled, _WithFigures):
    version: int
    action: str
    status: ReportStatus
    values: dict[str, Value]
    warnings: list[ReportWarning]
    note: str | None
    actor: str
    at: datetime


class UnitReportStatus(_Labelled):
    unit_id: uuid.UUID
    code: str | None
    name: str
    kind: UnitKind
    parent_id: uuid.UUID | None
    status: ReportStatus | None  # None: missing
    submitted_at: datetime | None
    on_time: bool | None
    punctuality: str  # on_time, late, missing (due date passed), not_yet_due


class StatusBoard(BaseModel):
    campaign_id: uuid.UUID
    year: int
    due_at: datetime
    counts: dict[str, int]
    units: list[UnitReportStatus]


class AggregateOut(BaseModel):
    """``reports``: submitted reports of the year (the sums and rates are over them);
    ``previous_reports``: of the year before; ``reduction_reports``: units that reported in
    both years, over which both years are summed for the reduction in points."""

    campaign_id: uuid.UUID
    year: int
    unit_id: uuid.UUID
    level: UnitKind
    reports: int
    previous_reports: int
    reduction_reports: int
    values: dict[str, Value]
    derived: DerivedOut


class ImportReportsOut(BaseModel):
    """What a bulk import wrote (all of the file, or nothing)."""

    campaign_id: uuid.UUID
    submitted: bool
    reports: int
    values: int
    units: int
    years: list[int]
    reports_with_warnings: int
    backfilled_submissions: int


class DataMigrationIn(_In):
    """A data migration to open: what it is recorded under (a decision, a ticket) and why."""

    reference: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    reason: Text


class DataMigrationOut(BaseModel):
    """A data migration: who opened it and when, and (once closed) who closed it and when.
    Back-filled submissions name an open one."""

    migration_id: uuid.UUID
    reference: str
    reason: str
    opened_by: str
    opened_at: datetime
    closed_by: str | None
    closed_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def open(self) -> bool:
        """Whether back-filled submissions may still be recorded within it."""
        return self.closed_at is None


# --------------------------------------------------------------------------- reminders

# printable, no control character (one would end up in a mail header or a request line)
Email = Annotated[str, StringConstraints(
    pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$",
    max_length=254)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 .-]{5,19}$")]
WebhookUrl = Annotated[str, StringConstraints(
    pattern=r"^https?://[^\s/$.?#\x00-\x1f\x7f][^\s\x00-\x1f\x7f]*$", max_length=2000)]
Days = Annotated[int, Field(ge=1, le=366)]


class ContactIn(_In):
    """A contact point of a unit: at least one of email, phone or webhook."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    role: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    webhook_url: WebhookUrl | None = None


class ContactUpdate(ContactIn):
    """The contact as it is to be; ``rotate_secret`` makes a new webhook secret."""

    rotate_secret: bool = False


class ContactOut(BaseModel):
    contact_id: uuid.UUID
    unit_id: uuid.UUID
    name: str
    role: str | None
    email: str | None
    phone: str | None
    webhook_url: str | None
    # the HMAC key of the webhook's signatures: only in the answer that made it
    webhook_secret: str | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime


class ReminderPolicyIn(_In):
    """When a campaign's units still missing their report are reminded, in days from the due
    instant, and when the level above is told."""

    before_days: Annotated[list[Days], Field(max_length=5)] = Field(default_factory=lambda: [7, 1])
    after_first_days: Days = 1
    after_every_days: Days = 7
    stop_after_days: Days = 41
    escalate_after_days: Days = 7


class ReminderPolicyOut(BaseModel):
    campaign_id: uuid.UUID
    before_days: list[int]
    after_first_days: int
    after_every_days: int
    stop_after_days: int
    escalate_after_days: int
    is_default: bool
    updated_by: str | None = None
    updated_at: datetime | None = None


class NoticeOut(BaseModel):
    notice_id: uuid.UUID
    campaign_id: uuid.UUID
    year: int
    unit_id: uuid.UUID
    kind: str
    step: str
    about: list[uuid.UUID]
    subject: str
    body: str
    created_at: datetime
    read_at: datetime | None
    read_by: str | None


class NoticePage(BaseModel):
    total: int
    items: list[NoticeOut]


class DeliveryOut(BaseModel):
    delivery_id: uuid.UUID
    notice_id: uuid.UUID
    contact_id: uuid.UUID
    channel: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    unit_id: uuid.UUID
    campaign_id: uuid.UUID
    year: int
    step: str
    subject: str


class DeliveryPage(BaseModel):
    total: int
    items: list[DeliveryOut]
