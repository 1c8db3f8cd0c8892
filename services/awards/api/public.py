"""The public page and feed of awards and exemplary models (issue 11)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
