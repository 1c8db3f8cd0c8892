"""The yearly report and the mid-term and final reviews as Word documents (issue 11)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
