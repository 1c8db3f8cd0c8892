"""The one clock: instants in UTC, days in Vietnam, and a time tests can set."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from chungtay_common import clock

EVENING_IN_UTC = datetime(2026, 11, 19, 17, 30, tzinfo=UTC)


def test_today_is_the_vietnamese_day() -> None:
    with clock.frozen(EVENING_IN_UTC):
        # 17:30 in UTC is 00:30 the next morning in Vietnam (UTC+7)
        assert clock.today() == date(2026, 11, 20)
        assert clock.now() == EVENING_IN_UTC
        assert clock.now().astimezone(clock.VN).hour == 0
    with clock.frozen(EVENING_IN_UTC - timedelta(minutes=31)):  # 23:59 in Vietnam
        assert clock.today() == date(2026, 11, 19)


def test_now_is_an_aware_instant_in_utc() -> None:
    before = datetime.now(UTC)
    now = clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(UTC)
    in_hanoi = datetime(2026, 11, 20, 0, 30, tzinfo=timezone(timedelta(hours=7)))
    with clock.frozen(in_hanoi):
        assert clock.now() == EVENING_IN_UTC and clock.now().tzinfo is UTC


def test_frozen_restores_the_time_before_it() -> None:
    later = EVENING_IN_UTC + timedelta(days=40)
    with clock.frozen(EVENING_IN_UTC):
        with clock.frozen(later):
            assert clock.today() == date(2026, 12, 30)
        assert clock.now() == EVENING_IN_UTC
        with pytest.raises(RuntimeError), clock.frozen(later):
            raise RuntimeError("a failing test")
        assert clock.now() == EVENING_IN_UTC
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_frozen_time_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"), clock.frozen(datetime(2026, 11, 19, 17, 30)):
        pass
