"""Request and response models of the register of exemplary models and initiatives."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, computed_field

from chungtay_common.contracts.awards import ExemplaryKind, Recognition
from chungtay_common.contracts.indicators import Year
from chungtay_common.messages import en_vi
from chungtay_common.request_body import RequestModel, ShownName
from services.awards.domain import STATUS_LABELS, Status
from services.awards.domain_exemplary import KIND_LABELS, printable


def _no_controls(text: str) -> str:
    """Shown on the public page and in its feed: no control characters but line breaks."""
    if printable(text) != text:
        raise ValueError(en_vi("must not contain control characters (but line breaks)",
                               "không được chứa ký tự điều khiển (trừ xuống dòng)"))
    return text


# a text shown in public (a description, an outcome, a note), at most ``n`` characters
Shown = Annotated[str, StringConstraints(min_length=1, max_length=4000),
                  AfterValidator(_no_controls)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=200),
                  AfterValidator(_no_controls)]
DecisionNumber = Annotated[str, StringConstraints(min_length=1, max_length=60),
                           AfterValidator(_no_controls)]


class EvidenceRef(RequestModel):
    """A reference that supports the model: a document (its number, a report's title, an
    article's address) and a note. Files belong to the nomination dossiers it is linked to."""

    reference: Short
    note: Annotated[str, StringConstraints(max_length=1000),
                    AfterValidator(_no_controls)] | None = None


class ExemplaryIn(RequestModel):
    """A model or initiative proposed for the register by a unit of the caller's subtree."""

    name: ShownName  # shown on the public page once recognised
    unit_id: uuid.UUID
    kind: ExemplaryKind
    description: Shown
    year: Year  # the year it was found
    evidence: list[EvidenceRef] = Field(default=[], max_length=50)


class ExemplaryEditIn(RequestModel):
    """A correction: only the fields given change."""

    name: ShownName | None = None
    unit_id: uuid.UUID | None = None
    kind: ExemplaryKind | None = None
    description: Shown | None = None
    year: Year | None = None
    evidence: list[EvidenceRef] | None = Field(default=None, max_length=50)


class RecognitionIn(RequestModel):
    recognised_by: Short  # e.g. "Chủ tịch UBND tỉnh", "Ban Thi đua - Khen thưởng tỉnh"
    decision_number: DecisionNumber  # e.g. 1234/QĐ-UBND
    decided_on: date


class ReplicationIn(RequestModel):
    unit_id: uuid.UUID  # where it was replicated
    replicated_on: date
    outcome: Shown


class AwardLinkIn(RequestModel):
    nomination_id: uuid.UUID


class ReplicationOut(BaseModel):
    replication_id: uuid.UUID
    unit_id: uuid.UUID
    replicated_on: date
    outcome: str
    recorded_at: datetime


class LinkedAward(BaseModel):
    nomination_id: uuid.UUID
    form_code: str
    year: int
    status: Status
    linked_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


class ExemplaryOut(BaseModel):
    model_id: uuid.UUID
    name: str
    unit_id: uuid.UUID
    kind: ExemplaryKind
    description: str
    year: int
    evidence: list[EvidenceRef]
    recognised: bool
    recognition: Recognition | None
    recognised_at: datetime | None
    replications: list[ReplicationOut]
    awards: list[LinkedAward]
    version: int
    proposed_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


class ExemplaryPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[ExemplaryOut]


class ExemplaryCandidate(BaseModel):
    """A unit whose figures of the year stand out: one of the best reducers of the
    poor-household rate, or of the most households out of poverty."""

    unit_id: uuid.UUID
    code: str | None
    name: str
    kind: str
    poor_rate_pct: float | None
    reduction_pp: float | None  # against the year before, reports of one campaign
    escaped_poverty: float | None
    reasons: list[str]  # best_reduction, most_escaped
    models_registered: int  # models of the unit already in the register for the year
