"""Events of the registration service (topic ``<ns>.registration.v1``).

Every event carries, besides what happened, the resulting state of each unit it changed
(``units``: a ``UnitSnapshot`` with all dated versions and a revision number). A consumer keeps
its own dated hierarchy by storing a snapshot when its revision is newer than the one it has,
so the order in which different units' events arrive does not matter.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chungtay_common.events import CATALOGUE, EventPayload

OWNER = "registration"


class UnitKind(StrEnum):
    PROVINCE = "province"
    AGENCY = "agency"
    DISTRICT = "district"
    COMMUNE = "commune"
    VILLAGE = "village"
    MASS_ORG = "mass_org"
    ENTERPRISE = "enterprise"


UnitName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
UnitCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._-]{1,20}$")]


class UnitVersion(BaseModel):
    """What a unit was over ``[valid_from, valid_to)``; ``valid_to`` null means still valid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    valid_from: date
    valid_to: date | None = None
    code: UnitCode | None = None
    name: UnitName
    subkind: str | None = Field(default=None, max_length=40)
    parent_id: uuid.UUID | None = None


class UnitSnapshot(BaseModel):
    """The whole dated history of one unit after a change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_id: uuid.UUID
    kind: UnitKind
    revision: int = Field(ge=1)
    versions: list[UnitVersion] = Field(min_length=1)


class UnitEvent(EventPayload):
    units: list[UnitSnapshot] = Field(min_length=1)


@CATALOGUE.register(OWNER, "unit.registered")
class UnitRegistered(UnitEvent):
    """A unit was registered."""

    unit_id: uuid.UUID


@CATALOGUE.register(OWNER, "unit.renamed")
class UnitRenamed(UnitEvent):
    """A unit has a new name from ``effective_date``."""

    unit_id: uuid.UUID
    effective_date: date
    old_name: UnitName
    new_name: UnitName


@CATALOGUE.register(OWNER, "unit.moved")
class UnitMoved(UnitEvent):
    """A unit has a new parent from ``effective_date``."""

    unit_id: uuid.UUID
    effective_date: date
    old_parent_id: uuid.UUID | None
    new_parent_id: uuid.UUID


@CATALOGUE.register(OWNER, "unit.closed")
class UnitClosed(UnitEvent):
    """A unit no longer exists from ``effective_date``."""

    unit_id: uuid.UUID
    effective_date: date
    reason: str = Field(max_length=500)


@CATALOGUE.register(OWNER, "unit.merged")
class UnitMerged(UnitEvent):
    """Several units became one on ``effective_date``; their children moved to the successor."""

    successor_id: uuid.UUID
    predecessor_ids: list[uuid.UUID] = Field(min_length=1)
    effective_date: date
    successor_created: bool


@CATALOGUE.register(OWNER, "unit.split")
class UnitSplit(UnitEvent):
    """One unit's area went to several units on ``effective_date``."""

    predecessor_id: uuid.UUID
    successor_ids: list[uuid.UUID] = Field(min_length=1)
    effective_date: date
    predecessor_closed: bool
