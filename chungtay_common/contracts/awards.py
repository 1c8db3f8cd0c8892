"""Events of the awards service (topic ``<ns>.awards.v1``), keyed by the nominee's id."""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chungtay_common.contracts.indicators import Year
from chungtay_common.events import CATALOGUE, EventPayload

OWNER = "awards"


class AuthorityLevel(StrEnum):
    """Who grants a title or form, lowest first. The province grants up to its chairman."""

    COMMUNE_CHAIRMAN = "commune_chairman"
    DISTRICT_CHAIRMAN = "district_chairman"
    PROVINCIAL_CHAIRMAN = "provincial_chairman"
    PRIME_MINISTER = "prime_minister"
    STATE_PRESIDENT = "state_president"


class NomineeKind(StrEnum):
    UNIT = "unit"  # a collective: a registered unit
    PERSON = "person"
    HOUSEHOLD = "household"


class Nominee(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: NomineeKind
    nominee_id: str  # the unit id, or an id the service gives a person or household
    unit_id: uuid.UUID  # the unit itself, or the person's unit, or the household's village
    name: str


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str = Field(min_length=1, max_length=60)  # e.g. 123/QĐ-UBND
    signed_on: date
    signer: str = Field(min_length=1, max_length=200)
    authority_level: AuthorityLevel


class RuleResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: dict[str, Any]
    passed: bool
    explanation: str
    facts: dict[str, Any]


class _NominationEvent(EventPayload):
    nomination_id: uuid.UUID
    form_code: str
    year: Year
    nominee: Nominee
    proposing_unit_id: uuid.UUID


@CATALOGUE.register(OWNER, "enrollment.registered")
class EnrollmentRegistered(EventPayload):
    """A unit registered the titles and forms it aims for in a year (đăng ký thi đua)."""

    enrollment_id: uuid.UUID
    unit_id: uuid.UUID
    year: Year
    form_codes: list[str]
    nominees: list[Nominee]


@CATALOGUE.register(OWNER, "nomination.submitted")
class NominationSubmitted(_NominationEvent):
    """The proposing unit submitted a dossier (hồ sơ đề nghị khen thưởng)."""

    enrolled: bool  # False: the nominee was not registered for this title or form


@CATALOGUE.register(OWNER, "nomination.reviewed")
class NominationReviewed(_NominationEvent):
    """The district or department council reviewed the dossier; its votes."""

    council_unit_id: uuid.UUID
    votes_for: int
    votes_against: int
    votes_abstain: int


@CATALOGUE.register(OWNER, "nomination.reviewed", 2)
class NominationReviewedV2(NominationReviewed):
    """The council reviewed the dossier: its votes, counted against all its ``members``, and
    whether it voted by ``secret_ballot`` (v2; v1 lacks these two and stays readable)."""

    members: int = Field(ge=1)
    secret_ballot: bool


@CATALOGUE.register(OWNER, "nomination.appraised")
class NominationAppraised(_NominationEvent):
    """The Board appraised the dossier: each rule's result and the facts it used."""

    rule_version: int
    eligible: bool
    results: list[RuleResult]


@CATALOGUE.register(OWNER, "nomination.approved")
class NominationApproved(_NominationEvent):
    """The award was granted by a decision at the form's authority level."""

    decision: Decision


@CATALOGUE.register(OWNER, "nomination.rejected")
class NominationRejected(_NominationEvent):
    """The dossier was rejected, with the reason."""

    reason: str


@CATALOGUE.register(OWNER, "nomination.returned")
class NominationReturned(_NominationEvent):
    """The dossier went back to the proposing unit for correction."""

    reason: str


@CATALOGUE.register(OWNER, "nomination.forwarded")
class NominationForwarded(_NominationEvent):
    """A form above the province's authority was proposed to the central level."""

    authority_level: AuthorityLevel


@CATALOGUE.register(OWNER, "award.revoked")
class AwardRevoked(_NominationEvent):
    """A granted award was revoked by a decision (e.g. a falsified dossier)."""

    reason: str
    decision: Decision


@CATALOGUE.register(OWNER, "award_rule.changed")
class AwardRuleChanged(EventPayload):
    form_code: str
    version: int = Field(ge=1)
    rule: dict[str, Any]


# --------------------------------------------------------------------------- exemplary models


class ExemplaryKind(StrEnum):
    """What an exemplary model (điển hình tiên tiến) is: a collective, an individual, a
    household, a livelihood model (mô hình sinh kế) or an initiative (sáng kiến)."""

    COLLECTIVE = "collective"
    INDIVIDUAL = "individual"
    HOUSEHOLD = "household"
    LIVELIHOOD_MODEL = "livelihood_model"
    INITIATIVE = "initiative"


class Recognition(BaseModel):
    """Who recognised a model (công nhận), by which decision, on which day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recognised_by: str = Field(min_length=1, max_length=200)
    decision_number: str = Field(min_length=1, max_length=60)
    decided_on: date


class Replication(BaseModel):
    """Where a model was replicated (nhân rộng): the unit, the day, the outcome."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    replication_id: uuid.UUID
    unit_id: uuid.UUID
    replicated_on: date
    outcome: str = Field(min_length=1, max_length=2000)


class _ExemplaryEvent(EventPayload):
    """What every event of a model says: the model as it stands after the change."""

    model_id: uuid.UUID
    name: str
    kind: ExemplaryKind
    unit_id: uuid.UUID
    year: Year  # the year the model was found (phát hiện)
    recognised: bool
    recognition: Recognition | None


@CATALOGUE.register(OWNER, "exemplary_model.registered")
class ExemplaryModelRegistered(_ExemplaryEvent):
    """A unit proposed an exemplary model or initiative for the register (not yet
    recognised)."""


@CATALOGUE.register(OWNER, "exemplary_model.changed")
class ExemplaryModelChanged(_ExemplaryEvent):
    """A model's name, kind, unit, year or description was corrected."""


@CATALOGUE.register(OWNER, "exemplary_model.recognised")
class ExemplaryModelRecognised(_ExemplaryEvent):
    """The board recognised the model (công nhận điển hình), by a decision."""


@CATALOGUE.register(OWNER, "exemplary_model.replicated")
class ExemplaryModelReplicated(_ExemplaryEvent):
    """A recognised model was replicated (nhân rộng) in a unit, with the outcome."""

    replication: Replication


@CATALOGUE.register(OWNER, "exemplary_model.award_linked")
class ExemplaryModelAwardLinked(_ExemplaryEvent):
    """The model was linked to a nomination (the award it led to or supports)."""

    nomination_id: uuid.UUID
    form_code: str
