"""The statutory statistical forms as XLSX (issue 11)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
