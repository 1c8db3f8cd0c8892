"""Figures of several rounds: quantiles of latencies, and the median with its spread."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spread(values: Sequence[float]) -> dict[str, Any]:
    """The median of the rounds, their min and max, and every round."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "rounds": list(values)}


def shown(s: dict[str, Any], fmt: str = "{:,.0f}", scale: float = 1.0) -> str:
    """``median (min–max)`` of a spread, each value multiplied by ``scale``."""
    med, lo, hi = (fmt.format(s[k] * scale) for k in ("median", "min", "max"))
    return med if len(s["rounds"]) == 1 else f"{med} ({lo}–{hi})"
