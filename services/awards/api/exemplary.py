"""The register of exemplary models and initiatives (issue 11)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1")
