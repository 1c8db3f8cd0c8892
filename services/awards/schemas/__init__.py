"""Request and response models of the awards API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, computed_field

from chungtay_common.contracts.awards import AuthorityLevel, Decision, Nominee, NomineeKind
from chungtay_common.contracts.indicators import Year
from chungtay_common.contracts.registration import UnitKind
from chungtay_common.request_body import RequestModel, ShownName
from services.awards.domain import (
    LEVEL_LABELS,
    STATUS_LABELS,
    Category,
    ForWhom,
    Status,
    VoteComparison,
)

Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
FormCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]


class _In(RequestModel):
    pass


class FormIn(_In):
    code: FormCode
    name_vi: ShownName  # shown in the public list of awards
    category: Category
    for_whom: ForWhom
    authority_level: AuthorityLevel
    rule: dict[str, Any]
    # the council's votes the form needs, as a share of all its members
    vote_threshold: Decimal = Field(default=Decimal("0.5"), gt=0, le=1, max_digits=5,
                                    decimal_places=4)
    vote_comparison: VoteComparison = VoteComparison.MORE_THAN
    secret_ballot_required: bool = False
    # whose head signs it (default: the People's Committee chairman of its level)
    signer_unit_kinds: list[UnitKind] | None = Field(default=None, max_length=7)
    also_for: list[ForWhom] = Field(default=[], max_length=4)  # other kinds of nominee


class VotingIn(_In):
    """What a form needs of the council and who signs it, set by the board (all given: a
    ``null`` ``signer_unit_kinds`` is the People's Committee chairman of the form's level)."""

    vote_threshold: Decimal = Field(gt=0, le=1, max_digits=5, decimal_places=4)
    vote_comparison: VoteComparison
    secret_ballot_required: bool
    signer_unit_kinds: list[UnitKind] | None = Field(max_length=7)
    also_for: list[ForWhom] = Field(max_length=4)


class RuleIn(_In):
    rule: dict[str, Any]
    note: str | None = Field(default=None, max_length=500)


class FormOut(BaseModel):
    code: str
    name_vi: str
    category: Category
    for_whom: ForWhom
    authority_level: AuthorityLevel
    above_province: bool
    rule_version: int
    rule: dict[str, Any]
    vote_threshold: float
    vote_comparison: VoteComparison
    secret_ballot_required: bool
    signer_unit_kinds: list[UnitKind]
    also_for: list[ForWhom]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def authority_level_label(self) -> str:
        return LEVEL_LABELS[self.authority_level]


class RuleVersionOut(BaseModel):
    version: int
    rule: dict[str, Any]
    note: str | None
    changed_by: str
    changed_at: datetime


class WindowIn(_In):
    closes_on: date


class WindowOut(BaseModel):
    year: int
    closes_on: date


class NomineeIn(_In):
    """A registered unit (``unit_id``), a person (``name``, ``position``, their ``unit_id``) or
    a household (``name`` of the head of household, the ``unit_id`` of its village)."""

    kind: NomineeKind
    unit_id: uuid.UUID
    name: ShownName | None = None  # shown in the public list of awards
    position: Name | None = None
    # a person's citizen identity number (căn cước công dân, CCCD: 12 digits): where given, it
    # decides who the person is (in any unit); never shown in lists or events
    citizen_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")] | None = None


class EnrollmentItemIn(_In):
    form_code: FormCode
    nominee: NomineeIn


class EnrollmentIn(_In):
    unit_id: uuid.UUID
    year: Year
    items: list[EnrollmentItemIn] = Field(min_length=1, max_length=500)


class EnrollmentOut(BaseModel):
    enrollment_id: uuid.UUID
    unit_id: uuid.UUID
    year: int
    items: list[dict[str, Any]]


class NominationIn(_In):
    form_code: FormCode
    year: Year
    nominee: NomineeIn
    proposing_unit_id: uuid.UUID
    achievements: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class EditIn(_In):
    achievements: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class CommentIn(_In):
    comment: str | None = Field(default=None, max_length=2000)


class ReviewIn(_In):
    """The council's vote. ``members`` is its total membership, always given: the votes for
    count against it, not against the votes cast."""

    votes_for: int = Field(ge=0, le=1000)
    votes_against: int = Field(ge=0, le=1000)
    votes_abstain: int = Field(default=0, ge=0, le=1000)
    members: int = Field(ge=1, le=1000)
    secret_ballot: bool = False
    comment: str | None = Field(default=None, max_length=2000)


class ReasonIn(_In):
    reason: Text


class DecisionIn(_In):
    number: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    signed_on: date
    signer: ShownName  # shown in the public list of awards


class RevokeIn(_In):
    reason: Text
    decision: DecisionIn


class StepOut(BaseModel):
    seq: int
    step: str
    status: Status
    actor: str
    actor_roles: list[str]
    comment: str | None
    details: Any
    at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class EvidenceFile:
    """A file attached to a dossier, as sent: its name, its media type, its bytes."""

    file_name: str
    media_type: str
    content: bytes


class EvidenceOut(BaseModel):
    evidence_id: uuid.UUID
    file_name: str
    media_type: str
    size_bytes: int
    sha256: str
    added_by: str
    added_at: datetime


class NominationOut(BaseModel):
    nomination_id: uuid.UUID
    form_code: str
    year: int
    nominee: Nominee
    nominee_details: dict[str, Any]
    proposing_unit_id: uuid.UUID
    achievements: str
    status: Status
    enrolled: bool
    flags: list[str]
    council: dict[str, Any] | None
    appraisal: dict[str, Any] | None
    rule_version: int | None
    needs_reappraisal: bool
    reappraisal_reason: str | None
    decision: Decision | None
    revocation: dict[str, Any] | None
    version: int
    created_at: datetime
    updated_at: datetime
    steps: list[StepOut] = []
    evidence: list[EvidenceOut] = []
    # other person records of the nominee's unit with the same name, where one of the two has
    # no citizen ID number: perhaps the same person (the board links or tells them apart)
    possible_duplicate_of: list[str] = []

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def decision_level_label(self) -> str | None:
        """Who signed the decision, in Vietnamese."""
        return LEVEL_LABELS[self.decision.authority_level] if self.decision else None


class NominationPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[NominationOut]


class PublicAward(BaseModel):
    year: int
    form_code: str
    form_name: str
    nominee_kind: NomineeKind
    nominee_name: str
    unit_id: uuid.UUID
    decision: Decision


class Candidate(BaseModel):
    unit_id: uuid.UUID
    code: str | None
    name: str
    kind: str
    results: list[dict[str, Any]]


class InitiativeIn(_In):
    """A person's initiative (sáng kiến) of a year, as recognised: by whom (the council or
    board that recognised it), by which decision."""

    person: NomineeIn
    year: Year
    title: Text
    recognised_by: Name
    decision_number: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    decided_on: date


class InitiativeOut(BaseModel):
    initiative_id: uuid.UUID
    person: Nominee
    year: int
    title: str
    recognised_by: str
    decision_number: str
    decided_on: date


class PersonLinkIn(_In):
    """The board links a person's record to their earlier one (a person who moved to another
    unit keeps their history)."""

    earlier_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reason: Text


class PersonOut(BaseModel):
    nominee_id: str
    unit_id: uuid.UUID
    name: str
    has_citizen_id: bool
    linked_to: str | None
    linked_by: str | None
    linked_at: datetime | None
    possible_duplicate_of: list[str]
