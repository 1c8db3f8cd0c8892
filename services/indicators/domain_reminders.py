"""Urging late units (đôn đốc, the plan's section IV.1): when a unit that has not reported is
reminded, what it is told, and how a webhook delivery is signed. Pure: no I/O.

A cycle's steps: some days before its due instant (7 and 1 by default), a day after it, then
every week, until the cycle closes (41 days after it by default: the province compiles its
summary at the end of the year). A unit is reminded at the latest step whose time has come; a
step missed while the system was down is not sent late once a later one has come. A unit that
has submitted gets nothing more. Some days after the due instant (7 by default) the level
above is told, once, which of its units are still missing.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chungtay_common.clock import VN

MAX_RETRY_DELAY = timedelta(hours=6)
SIGNATURE_HEADER = "X-Chungtay-Signature"
DELIVERY_HEADER = "X-Chungtay-Delivery"


class NoticeKind(StrEnum):
    BEFORE_DUE = "before_due"
    AFTER_DUE = "after_due"
    ESCALATION = "escalation"


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


@dataclass(frozen=True)
class Policy:
    """When a campaign's units are reminded, in days from the due instant."""

    before_days: tuple[int, ...] = (7, 1)
    after_first_days: int = 1
    after_every_days: int = 7
    stop_after_days: int = 41
    escalate_after_days: int = 7


@dataclass(frozen=True)
class Step:
    kind: NoticeKind
    key: str  # what makes a notice one of its kind: 'before:7', 'after:8', 'escalation:7'
    days: int  # before the due instant (before_due), after it (the others)
    at: datetime


def steps(due: datetime, policy: Policy) -> list[Step]:
    """Every reminder step of a cycle due at ``due``, in time order."""
    out = [Step(NoticeKind.BEFORE_DUE, f"before:{d}", d, due - timedelta(days=d))
           for d in sorted(set(policy.before_days), reverse=True)]
    day = policy.after_first_days
    while day < policy.stop_after_days:
        out.append(Step(NoticeKind.AFTER_DUE, f"after:{day}", day, due + timedelta(days=day)))
        day += policy.after_every_days
    return out


def closes(due: datetime, policy: Policy) -> datetime:
    return due + timedelta(days=policy.stop_after_days)


def current_step(now: datetime, due: datetime, policy: Policy) -> Step | None:
    """The step a unit still missing its report is reminded at, now (None: none yet, or the
    cycle has closed)."""
    if now >= closes(due, policy):
        return None
    passed = [s for s in steps(due, policy) if s.at <= now]
    return passed[-1] if passed else None


def escalation_step(now: datetime, due: datetime, policy: Policy) -> Step | None:
    """The step at which the level above is told, if its time has come and the cycle is
    open."""
    days = policy.escalate_after_days
    at = due + timedelta(days=days)
    if at <= now < closes(due, policy):
        return Step(NoticeKind.ESCALATION, f"escalation:{days}", days, at)
    return None


def due_in_vietnam(due: datetime) -> str:
    """The due instant as people read it: "before 20 November" is before its 00:00."""
    local = due.astimezone(VN)
    return f"trước {local:%H:%M} ngày {local:%d/%m/%Y} (giờ Việt Nam)"


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


SUBJECT = "[Chung tay vì người nghèo]"
SIGNATURE = ("Ban Thi đua - Khen thưởng tỉnh\n"
             "(Thông báo tự động của hệ thống chungtay. Đơn vị đã nộp báo cáo sẽ không nhận thêm "
             "nhắc nhở.)")


def days_left(now: datetime, due: datetime) -> int:
    """Whole days to the due instant, counting a part of a day as a day (at least 1)."""
    return max(1, math.ceil((due - now) / timedelta(days=1)))


def days_over(now: datetime, due: datetime) -> int:
    """Whole days since the due instant (at least 1)."""
    return max(1, (now - due) // timedelta(days=1))


def reminder(step: Step, *, now: datetime, unit: str, campaign: str, year: int,
             due: datetime, link: str) -> Message:
    """What a unit still missing its report is told at ``step``, sent at ``now`` (a step sent
    late, the system having been down, says the days as they are)."""
    if step.kind is NoticeKind.BEFORE_DUE:
        left = days_left(now, due)
        subject = f"{SUBJECT} Nhắc nộp báo cáo năm {year}: còn {left} ngày"
        when = f"Hạn nộp: {due_in_vietnam(due)}, còn {left} ngày."
        ask = "Đề nghị đơn vị hoàn thành và nộp báo cáo đúng hạn tại:"
    else:
        over = days_over(now, due)
        subject = f"{SUBJECT} Báo cáo năm {year} đã quá hạn {over} ngày"
        when = f"Hạn nộp: {due_in_vietnam(due)}; đã quá hạn {over} ngày."
        ask = "Đề nghị đơn vị nộp báo cáo ngay tại:"
    body = (f"Kính gửi: {unit}\n\n"
            f"{unit} chưa nộp báo cáo kết quả thực hiện giảm nghèo năm {year} của phong trào "
            f"“{campaign}”.\n{when}\n{ask}\n{link}\n\n{SIGNATURE}\n")
    return Message(subject, body)


def escalation(step: Step, *, now: datetime, parent: str, missing: Sequence[str],
               campaign: str, year: int, due: datetime, link: str) -> Message:
    """What the level above is told of its units still missing their reports."""
    over = days_over(now, due)
    subject = (f"{SUBJECT} {len(missing)} đơn vị trực thuộc chưa nộp báo cáo năm {year} "
               f"(quá hạn {over} ngày)")
    names = "\n".join(f"- {name}" for name in missing)
    body = (f"Kính gửi: {parent}\n\n"
            f"Đến nay, quá hạn nộp ({due_in_vietnam(due)}) {over} ngày, các đơn vị trực "
            f"thuộc sau chưa nộp báo cáo kết quả thực hiện giảm nghèo năm {year} của phong trào "
            f"“{campaign}”:\n{names}\n\n"
            f"Đề nghị {parent} đôn đốc các đơn vị nộp báo cáo. Tình hình nộp báo cáo:\n{link}\n\n"
            f"{SIGNATURE}\n")
    return Message(subject, body)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``. A
    receiver recomputes it with its secret and refuses an old timestamp (a replay)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def retry_delay(attempts: int, first: timedelta) -> timedelta:
    """How long after its ``attempts``-th failed try a delivery is tried again: ``first``,
    then four times longer each time, at most 6 hours."""
    delay: timedelta = first * (4 ** max(attempts - 1, 0))
    return min(delay, MAX_RETRY_DELAY)
