"""Request and response models of the registration API."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field

from chungtay_common.contracts.registration import UnitCode, UnitKind, UnitVersion
from chungtay_common.request_body import RequestModel, ShownName


class _In(RequestModel):
    pass


class UnitFields(_In):
    """The fields of every new unit, registered or created by a merge or split."""

    unit_id: uuid.UUID | None = None
    kind: UnitKind
    subkind: str | None = Field(default=None, max_length=40)
    code: UnitCode | None = None
    name: ShownName  # shown in the public lists: no control or bidirectional characters
    parent_id: uuid.UUID | None = None


class NewUnit(UnitFields):
    """A unit to register. ``unit_id`` may be chosen by the caller (409 if it exists)."""

    valid_from: date
    valid_to: date | None = None


class Rename(_In):
    name: ShownName
    effective_date: date


class Move(_In):
    parent_id: uuid.UUID
    effective_date: date


class Close(_In):
    effective_date: date
    reason: str = Field(min_length=1, max_length=500)


class ExistingUnit(_In):
    unit_id: uuid.UUID


class NewSuccessor(UnitFields):
    """A unit created by a merge or split; it starts on the change's effective date."""


Successor = ExistingUnit | NewSuccessor


class Merge(_In):
    """Several units become one on ``effective_date``; their children move to the successor."""

    predecessor_ids: list[uuid.UUID] = Field(min_length=1, max_length=50)
    effective_date: date
    successor: Successor


class ChildMove(_In):
    unit_id: uuid.UUID
    successor: int = Field(ge=0, description="index in ``successors``")


class Split(_In):
    """A unit's area goes to several units on ``effective_date``."""

    effective_date: date
    successors: list[Successor] = Field(min_length=1, max_length=50)
    close_predecessor: bool = True
    children: list[ChildMove] = Field(
        default_factory=list,
        description="where each child of the predecessor goes (required when it closes)",
    )


class LineageLink(BaseModel):
    change: str
    effective_date: date
    unit_id: uuid.UUID


class UnitOut(BaseModel):
    unit_id: uuid.UUID
    kind: UnitKind
    revision: int
    versions: list[UnitVersion]
    predecessors: list[LineageLink] = []
    successors: list[LineageLink] = []


class _UnitOnDay(BaseModel):
    """A unit as it stood on the day asked about."""

    unit_id: uuid.UUID
    kind: UnitKind
    code: str | None
    name: str
    subkind: str | None
    parent_id: uuid.UUID | None


class UnitFound(_UnitOnDay):
    """A unit found by a search, with the version in force on the day searched."""

    valid_from: date | None = None
    valid_to: date | None = None


class UnitPage(BaseModel):
    as_of: date
    total: int
    limit: int
    offset: int
    items: list[UnitFound]


class SubtreeNode(_UnitOnDay):
    depth: int


class Subtree(BaseModel):
    as_of: date
    root_id: uuid.UUID
    nodes: list[SubtreeNode]


class ChangeResult(BaseModel):
    """Every unit a merge or split changed, after the change."""

    units: list[UnitOut]


class ImportRowError(BaseModel):
    row: int
    column: str
    message: str


class ImportResult(BaseModel):
    valid_from: date
    created: int
    unchanged: int
    unit_ids_by_code: dict[str, uuid.UUID]


class AuditEntry(BaseModel):
    at: str
    actor: str
    actor_roles: list[str]
    action: str
    before: object
    after: object


Limit = Annotated[int, Field(ge=1, le=500)]
