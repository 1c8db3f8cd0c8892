"""The one clock: Vietnam's time zone, now and today. Tests set the time with ``frozen``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

VN = ZoneInfo("Asia/Ho_Chi_Minh")

_fixed: datetime | None = None


def now() -> datetime:
    """The current instant (aware, UTC)."""
    return _fixed if _fixed is not None else datetime.now(UTC)


def today() -> date:
    """Today's date in Vietnam: deadlines and "as of" defaults are Vietnamese days."""
    return now().astimezone(VN).date()


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Within the block, ``now()`` is ``at`` (aware). For tests of deadlines and windows."""
    global _fixed
    if at.tzinfo is None:
        raise ValueError("a frozen time must be aware")
    before, _fixed = _fixed, at.astimezone(UTC)
    try:
        yield
    finally:
        _fixed = before
