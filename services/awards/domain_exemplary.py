"""Pure rules of the register of exemplary models and initiatives (điển hình tiên tiến, mô
hình, sáng kiến): who proposes and who recognises, what a recognition and a replication must
say, which units' figures stand out. No I/O."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import date

from chungtay_common.auth import Role
from chungtay_common.contracts.awards import ExemplaryKind
from chungtay_common.messages import en_vi
from chungtay_common.refusals import NotAllowed, RuleBroken, StateConflict
from services.awards.domain import CLOSED, Status

KIND_LABELS: dict[ExemplaryKind, str] = {
    ExemplaryKind.COLLECTIVE: "Tập thể điển hình",
    ExemplaryKind.INDIVIDUAL: "Cá nhân điển hình",
    ExemplaryKind.HOUSEHOLD: "Hộ gia đình điển hình",
    ExemplaryKind.LIVELIHOOD_MODEL: "Mô hình sinh kế",
    ExemplaryKind.INITIATIVE: "Sáng kiến",
}

# who proposes a model for the register (for their subtree), and who recognises it
PROPOSERS = (Role.REPORTER, Role.COUNCIL)
RECOGNISERS = (Role.BOARD,)


def check_year(year: int, today: date) -> None:
    """A model is found in a year that has begun."""
    if year > today.year:
        raise RuleBroken("year", en_vi(f"{year} has not begun", f"năm {year} chưa bắt đầu"))


def check_editable(recognised: bool, roles: Set[Role]) -> None:
    """A proposal is corrected by its proposers; a recognised model, by the board only (the
    public register shows it as recognised)."""
    if recognised and Role.BOARD not in roles:
        raise NotAllowed(en_vi("a recognised model is corrected by the board only",
                               "điển hình đã được công nhận chỉ Ban Thi đua - Khen thưởng "
                               "được sửa"))


def check_recogniser(roles: Set[Role]) -> None:
    """A recognition is the board's decision: not the administrator's (who operates the
    system and signs nothing)."""
    if Role.BOARD not in roles:
        raise NotAllowed(en_vi("only the board recognises an exemplary model",
                               "chỉ Ban Thi đua - Khen thưởng công nhận điển hình"))


def check_not_proposer(subject: str, proposers: Set[str]) -> None:
    """Whoever proposed or corrected a model does not recognise it (separation of duties)."""
    if subject in proposers:
        raise NotAllowed(en_vi("whoever proposed or corrected a model does not recognise it",
                               "người đề xuất hoặc sửa điển hình không được tự công nhận"))


def _check_day(field: str, day: date, model_year: int, today: date) -> None:
    """A day of the model's life: in its year or later, not in the future."""
    if day.year < model_year:
        raise RuleBroken(field, en_vi(
            f"must not be before the model's year ({model_year})",
            f"không được trước năm của điển hình ({model_year})"))
    if day > today:
        raise RuleBroken(field, en_vi("must not be in the future",
                                      "không được là ngày trong tương lai"))


def check_recognition(recognised: bool, model_year: int, decided_on: date, today: date) -> None:
    """Once only, by a decision of the model's year or later, not in the future."""
    if recognised:
        raise StateConflict(en_vi("the model is already recognised",
                                  "điển hình đã được công nhận"))
    _check_day("decided_on", decided_on, model_year, today)


def check_replication(recognised: bool, model_year: int, model_unit: uuid.UUID,
                      unit_id: uuid.UUID, replicated_on: date, today: date) -> None:
    """A recognised model is replicated in another unit, in its year or later, not in the
    future."""
    if not recognised:
        raise StateConflict(en_vi("only a recognised model is replicated",
                                  "chỉ điển hình đã được công nhận mới được nhân rộng"))
    if unit_id == model_unit:
        raise RuleBroken("unit_id", en_vi("a model is replicated in another unit than its own",
                                          "điển hình được nhân rộng ở đơn vị khác"))
    _check_day("replicated_on", replicated_on, model_year, today)


def check_linkable(recognised: bool, status: Status) -> None:
    """A recognised model is linked to a dossier on its way or granted, not to a closed
    one."""
    if not recognised:
        raise StateConflict(en_vi("only a recognised model is linked to an award",
                                  "chỉ điển hình đã được công nhận mới được liên kết khen "
                                  "thưởng"))
    if status in CLOSED:
        raise StateConflict(en_vi(f"the nomination is {status.value}: it cannot be linked",
                                  f"hồ sơ ở trạng thái {status.value}: không thể liên kết"))


def printable(text: str) -> str:
    """Text as a page or a feed may carry it: without control characters (but tab and line
    breaks) and noncharacters, which XML 1.0 and HTML refuse."""
    return "".join(c for c in text
                   if c in "\t\n\r" or not (unicodedata.category(c) in ("Cc", "Cs")
                                            or c in "\ufffe\uffff"))


# --------------------------------------------------------------------------- stand-outs


@dataclass(frozen=True)
class Figures:
    """A unit's reported values of a year and of the year before (of the same campaign)."""

    now: Mapping[str, float]
    before: Mapping[str, float] | None


@dataclass(frozen=True)
class StandOut:
    unit_id: uuid.UUID
    poor_rate_pct: float | None
    reduction_pp: float | None
    escaped_poverty: float | None
    reasons: tuple[str, ...]  # best_reduction, most_escaped


def rate(values: Mapping[str, float]) -> float | None:
    total, poor = values.get("households_total"), values.get("poor_households")
    if not total or poor is None:
        return None
    return poor / total * 100


def stand_outs(figures: Mapping[uuid.UUID, Figures], limit: int) -> list[StandOut]:
    """The ``limit`` best reducers of the poor-household rate (points, against the year
    before) and the ``limit`` units with most households out of poverty; each unit once,
    with why. Ties are kept in the unit id's order, so the answer is stable."""
    rows: dict[uuid.UUID, tuple[float | None, float | None, float | None]] = {}
    for unit_id, f in figures.items():
        now = rate(f.now)
        before = rate(f.before) if f.before is not None else None
        reduction = before - now if now is not None and before is not None else None
        rows[unit_id] = (now, reduction, f.now.get("escaped_poverty"))
    order = sorted(rows)
    best = [u for u in sorted((u for u in order if rows[u][1] is not None),
                              key=lambda u: -(rows[u][1] or 0.0))
            if (rows[u][1] or 0.0) > 0][:limit]
    most = [u for u in sorted((u for u in order if rows[u][2]),
                              key=lambda u: -(rows[u][2] or 0.0))][:limit]
    out = []
    for unit_id in dict.fromkeys([*best, *most]):
        reasons = tuple(r for r, chosen in (("best_reduction", best), ("most_escaped", most))
                        if unit_id in chosen)
        now, reduction, escaped = rows[unit_id]
        out.append(StandOut(unit_id, now, reduction, escaped, reasons))
    return out
