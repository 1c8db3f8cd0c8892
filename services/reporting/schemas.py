"""Response models of the reporting API."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel

from chungtay_common.contracts.registration import UnitKind


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
