"""The query parameters the reporting routes share (the JSON routes, their exports, the
documents and the statistical forms take them alike)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query

CampaignQ = Annotated[uuid.UUID, Query(description="the campaign")]
YearQ = Annotated[int, Query(ge=1990, le=2100)]
RootQ = Annotated[uuid.UUID | None, Query(
    description="only the units under this one (as the hierarchy stood in the year)")]
ProvinceQ = Annotated[uuid.UUID | None, Query(
    description="the province (default: the campaign's only province)")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
