"""The reminders' pure rules: the steps of a cycle, the step due at an instant, what a unit and
the level above are told (in Vietnamese, the due instant in Vietnam time), the webhook
signature and the back-off."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from chungtay_common.errors import InvalidInput
from chungtay_common.settings import Environment
from services.indicators import domain_reminders as rules
from services.indicators import service_reminders

# "before 20 November 2026": 00:00 of 20 November in Vietnam (UTC+7)
DUE = datetime(2026, 11, 19, 17, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_the_default_steps_of_a_cycle() -> None:
    keys = [(s.key, s.at) for s in rules.steps(DUE, rules.Policy())]
    assert keys == [("before:7", DUE - 7 * DAY), ("before:1", DUE - DAY),
                    ("after:1", DUE + DAY), ("after:8", DUE + 8 * DAY),
                    ("after:15", DUE + 15 * DAY), ("after:22", DUE + 22 * DAY),
                    ("after:29", DUE + 29 * DAY), ("after:36", DUE + 36 * DAY)]


def test_the_step_due_is_the_latest_whose_time_has_come_while_the_cycle_is_open() -> None:
    policy = rules.Policy()

    def key(at: datetime) -> str | None:
        step = rules.current_step(at, DUE, policy)
        return step.key if step else None

    assert key(DUE - 8 * DAY) is None
    assert key(DUE - 7 * DAY) == "before:7"
    assert key(DUE - 2 * DAY) == "before:7"
    assert key(DUE - timedelta(hours=1)) == "before:1"
    assert key(DUE) == "before:1"  # the due instant itself: not overdue for a day yet
    assert key(DUE + DAY) == "after:1"
    # the system was down from the 1-day to past the 8-day step: only the latest is sent
    assert key(DUE + 9 * DAY) == "after:8"
    assert key(DUE + 40 * DAY) == "after:36"
    assert key(DUE + 41 * DAY) is None  # the cycle has closed


def test_escalation_once_its_days_have_passed_until_the_cycle_closes() -> None:
    policy = rules.Policy(escalate_after_days=10, stop_after_days=30)
    assert rules.escalation_step(DUE + 9 * DAY, DUE, policy) is None
    step = rules.escalation_step(DUE + 10 * DAY, DUE, policy)
    assert step is not None and step.key == "escalation:10"
    assert step.kind is rules.NoticeKind.ESCALATION
    assert rules.escalation_step(DUE + 30 * DAY, DUE, policy) is None


def test_a_custom_policy() -> None:
    policy = rules.Policy(before_days=(3, 14), after_first_days=2, after_every_days=10,
                          stop_after_days=25)
    assert [s.key for s in rules.steps(DUE, policy)] == [
        "before:14", "before:3", "after:2", "after:12", "after:22"]


def test_what_a_late_unit_and_its_parent_are_told() -> None:
    before = rules.steps(DUE, rules.Policy())[0]
    m = rules.reminder(before, now=before.at, unit="Xã Hóa Sơn",
                       campaign="Chung tay vì người nghèo", year=2026, due=DUE,
                       link="https://chungtay.example/v1/r")
    assert m.subject == "[Chung tay vì người nghèo] Nhắc nộp báo cáo năm 2026: còn 7 ngày"
    assert "Kính gửi: Xã Hóa Sơn" in m.body
    assert "trước 00:00 ngày 20/11/2026 (giờ Việt Nam), còn 7 ngày" in m.body
    assert "“Chung tay vì người nghèo”" in m.body and "https://chungtay.example/v1/r" in m.body
    late = rules.current_step(DUE + 8 * DAY, DUE, rules.Policy())
    assert late is not None
    m = rules.reminder(late, now=late.at, unit="Xã Hóa Sơn", campaign="C", year=2026,
                       due=DUE, link="L")
    assert m.subject == "[Chung tay vì người nghèo] Báo cáo năm 2026 đã quá hạn 8 ngày"
    step = rules.escalation_step(DUE + 7 * DAY, DUE, rules.Policy())
    assert step is not None
    m = rules.escalation(step, now=step.at, parent="Huyện Minh Hóa",
                         missing=["Xã Hóa Sơn", "Xã Dân Hóa"], campaign="C", year=2026, due=DUE,
                         link="L")
    assert m.subject == ("[Chung tay vì người nghèo] 2 đơn vị trực thuộc chưa nộp báo cáo năm "
                         "2026 (quá hạn 7 ngày)")
    assert "- Xã Hóa Sơn\n- Xã Dân Hóa" in m.body and "Kính gửi: Huyện Minh Hóa" in m.body


def test_a_step_sent_late_says_the_days_as_they_are() -> None:
    """The campaign was set up (or the system back) 3 days before the due instant: the 7-day
    step goes out then, and says 3 days; the 1-day-after step sent on day 6 says 6."""
    before = rules.steps(DUE, rules.Policy())[0]
    m = rules.reminder(before, now=DUE - 3 * DAY + timedelta(hours=2), unit="X", campaign="C",
                       year=2026, due=DUE, link="L")
    assert m.subject.endswith("còn 3 ngày") and "còn 3 ngày." in m.body
    after = rules.steps(DUE, rules.Policy())[2]
    m = rules.reminder(after, now=DUE + 6 * DAY + timedelta(hours=5), unit="X", campaign="C",
                       year=2026, due=DUE, link="L")
    assert m.subject.endswith("đã quá hạn 6 ngày")


@pytest.mark.parametrize(("url", "refused"), [
    ("http://hooks.example.vn/chungtay", "must be https"),
    ("https://127.0.0.1/x", "must be a public address"),
    ("https://10.1.2.3/x", "must be a public address"),
    ("https://169.254.169.254/latest/meta-data", "must be a public address"),
    ("https://[::1]/x", "must be a public address"),
    ("https://localhost:8003/x", "must be a public address"),
    ("https://hooks.example.vn/chungtay", None),
    ("https://203.113.1.9/hook", None),
])
def test_in_production_a_webhook_must_be_https_to_a_public_address(
        url: str, refused: str | None) -> None:
    if refused is None:
        service_reminders._check_webhook(url, Environment.PRODUCTION)
        return
    with pytest.raises(InvalidInput) as caught:
        service_reminders._check_webhook(url, Environment.PRODUCTION)
    assert caught.value.errors[0].field == "webhook_url"
    assert refused in caught.value.errors[0].message
    service_reminders._check_webhook(url, Environment.DEVELOPMENT)  # a developer's machine


def test_a_webhook_signature_is_what_the_receiver_recomputes() -> None:
    body = '{"subject": "Nhắc nộp báo cáo"}'.encode()
    value = rules.signature("bí-mật", 1_795_000_000, body)
    t, v1 = (part.split("=", 1)[1] for part in value.split(","))
    expected = hmac.new("bí-mật".encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert t == "1795000000" and hmac.compare_digest(v1, expected)
    assert rules.signature("another", 1_795_000_000, body) != value


def test_retries_back_off_four_times_longer_up_to_six_hours() -> None:
    first = timedelta(seconds=30)
    assert [rules.retry_delay(n, first) for n in (1, 2, 3)] == [
        timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=8)]
    assert rules.retry_delay(20, first) == timedelta(hours=6)
