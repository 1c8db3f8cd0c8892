"""Models of the Board's papers: the templates of their wording."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from chungtay_common.request_body import RequestModel


class PaperKind(StrEnum):
    """The papers whose wording is a template: the proposal to the chairman (tờ trình), the
    draft decision (quyết định) and the certificate (bằng khen / giấy khen)."""

    PROPOSAL = "proposal"
    DECISION = "decision"
    CERTIFICATE = "certificate"


class TemplateIn(RequestModel):
    """The new wording: each line a paragraph; ``${name}`` a placeholder the paper fills
    (``$$`` a dollar sign). A placeholder the kind does not know is refused (422)."""

    text: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class TemplateOut(BaseModel):
    kind: PaperKind
    text: str
    placeholders: list[str]  # the names this kind of paper fills
    version: int
    changed_by: str
    changed_at: datetime
