"""The use cases of the awards service on the real PostgreSQL, each test in a transaction rolled
back at its end: the lifecycle by role and state, each stage's deciders, authority levels,
appraisal against reported facts, re-appraisal flags, registrations. No HTTP and no Kafka: the
service's own copy of the hierarchy and of reported facts is fed as its consumers feed it."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel, ValidationError

from chungtay_common import clock, hierarchy
from chungtay_common.auth import Role
from chungtay_common.context import Context
from chungtay_common.contracts.awards import NomineeKind
from chungtay_common.contracts.registration import UnitKind, UnitSnapshot, UnitVersion
from chungtay_common.errors import AppError, from_refusal
from chungtay_common.events import SYSTEM_ACTOR, new_envelope
from chungtay_common.refusals import DomainError
from services.awards import service
from services.awards.consumers import indicator_handlers
from services.awards.domain import TRANSITIONS, Status, Step
from services.awards.schemas import (
    CommentIn,
    DecisionIn,
    EditIn,
    EnrollmentIn,
    EnrollmentItemIn,
    FormIn,
    InitiativeIn,
    NominationIn,
    NominationOut,
    NomineeIn,
    PersonLinkIn,
    ReasonIn,
    ReviewIn,
    RevokeIn,
    RuleIn,
    VotingIn,
    WindowIn,
)
from tests.awards.conftest import (
    POOR_EXACT,
    POOR_SHORT,
    TARGET_PP,
    YEAR,
    FactFeed,
    awards_settings,
    report_submitted,
    target_set,
)
from tests.conftest import TestStack, next_code
from tests.support import context, rolled_back

LDTT = "lao_dong_tien_tien"  # individuals; the district chairman grants it
CSTDCS = "chien_si_thi_dua_co_so"  # individuals; LDTT of the same year + an initiative
FOLLOWS = "thu_noi_tiep_ldtt"  # added by the tests: individuals; needs LDTT the year before
GKH = "giay_khen_chu_tich_huyen"  # collectives; district chairman; report on time + target
BKT = "bang_khen_chu_tich_tinh"  # collectives; provincial chairman
GDVH = "gia_dinh_van_hoa"  # households; commune chairman
PM = "thu_uc_thu_tuong"  # added by the tests: individuals, the Prime Minister
CENTRAL = "thu_uc_co_chinh_phu"  # added by the tests: collectives, the Prime Minister

DECISION = DecisionIn(number="123/QĐ-UBND", signed_on=date(2025, 1, 20), signer="Nguyễn Văn A")
BODIES: dict[Step, BaseModel | None] = {
    Step.EDIT: EditIn(achievements="Sửa đổi"),
    Step.SUBMIT: None,
    Step.REVIEW: ReviewIn(votes_for=5, votes_against=0, members=7),
    Step.APPRAISE: CommentIn(),
    Step.APPROVE: DECISION,
    Step.REJECT: ReasonIn(reason="Không đạt"),
    Step.RETURN: ReasonIn(reason="Bổ sung"),
    Step.FORWARD: CommentIn(),
    Step.REVOKE: RevokeIn(reason="Khai man", decision=DECISION),
}
ALLOWED = {step: allowed for step, (allowed, _) in TRANSITIONS.items()}
AFTER = {step: after for step, (_, after) in TRANSITIONS.items()}


@pytest.fixture
async def conn(awards_db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """The service's database (migrated and seeded by ``awards``) in a transaction rolled back
    after the test, on the session's connection (a new one would prepare every statement
    again: these tests took twice as long)."""
    async with rolled_back(awards_db) as savepoint:
        yield savepoint


async def add_unit(conn: asyncpg.Connection, kind: UnitKind, name: str,
                   parent: uuid.UUID | None = None, valid_from: date = date(2017, 1, 1),
                   valid_to: date | None = None) -> uuid.UUID:
    """A unit in the service's copy of the hierarchy, as its consumer stores a snapshot."""
    unit_id = uuid.uuid4()
    await hierarchy.apply_snapshot(conn, UnitSnapshot(
        unit_id=unit_id, kind=kind, revision=1, versions=[UnitVersion(
            valid_from=valid_from, valid_to=valid_to, name=name, parent_id=parent,
            code=None if kind is UnitKind.VILLAGE else next_code())]))
    return unit_id


class ConsumedFacts(FactFeed):
    """Reported facts and targets handed to the use cases as the consumer hands them."""

    def __init__(self, conn: asyncpg.Connection, system: Context) -> None:
        super().__init__()
        self.conn, self.system = conn, system

    async def report(self, unit_id: uuid.UUID, year: int, poor: int, *, version: int = 1,
                     on_time: bool = True) -> None:
        await service.record_report(self.conn, self.system, report_submitted(
            self.campaign_id, unit_id, year, poor, version=version, on_time=on_time),
            uuid.uuid4())

    async def target(self, unit_id: uuid.UUID, year: int, reduction_pp_min: float) -> None:
        await service.record_target(self.conn, target_set(self.campaign_id, unit_id, year,
                                                          reduction_pp_min))


@dataclass(frozen=True)
class Place:
    """Province → district A (a commune with a village, a neighbouring commune) and district B
    (a commune)."""

    province: uuid.UUID
    district: uuid.UUID
    commune: uuid.UUID
    village: uuid.UUID
    neighbour: uuid.UUID
    district_b: uuid.UUID
    commune_b: uuid.UUID


class Dossiers:
    """Nominations taken through their steps by the use cases, on the test's connection, by
    callers of each role; reported facts fed as the consumer feeds them."""

    def __init__(self, conn: asyncpg.Connection, place: Place, system: Context) -> None:
        self.conn, self.p = conn, place
        self.facts = ConsumedFacts(conn, system)

    # ------------------------------------------------------------------ callers

    def reporter(self, unit: uuid.UUID | None = None) -> Context:
        return context(Role.REPORTER, unit=unit or self.p.commune, sub="reporter")

    @property
    def council(self) -> Context:
        return context(Role.COUNCIL, unit=self.p.district, sub="council-a")

    @property
    def board(self) -> Context:
        return context(Role.BOARD, unit=self.p.province, sub="board")

    def chairman(self, unit: uuid.UUID) -> Context:
        return context(Role.CHAIRMAN, unit=unit, sub=f"chairman-{unit}")

    # ------------------------------------------------------------------ nominations

    def person(self, unit: uuid.UUID | None = None, position: str = "cán bộ") -> NomineeIn:
        return NomineeIn(kind=NomineeKind.PERSON, unit_id=unit or self.p.commune,
                         name=f"Trần Thị {uuid.uuid4().hex[:8]}", position=position)

    @staticmethod
    def unit(unit_id: uuid.UUID) -> NomineeIn:
        return NomineeIn(kind=NomineeKind.UNIT, unit_id=unit_id)

    def nomination(self, form: str, nominee: NomineeIn, proposing: uuid.UUID | None = None,
                   year: int = YEAR) -> Awaitable[NominationOut]:
        proposing = proposing or nominee.unit_id
        return service.create_nomination(self.conn, self.reporter(proposing), NominationIn(
            form_code=form, year=year, nominee=nominee, proposing_unit_id=proposing,
            achievements="Hoàn thành xuất sắc nhiệm vụ giảm nghèo."))

    async def nominate(self, form: str, nominee: NomineeIn, proposing: uuid.UUID | None = None,
                       year: int = YEAR) -> NominationOut:
        return await self.nomination(form, nominee, proposing, year)

    def take(self, n: NominationOut, step: Step, ctx: Context,
             body: BaseModel | None = None) -> Awaitable[NominationOut]:
        return service.step(self.conn, ctx, n.nomination_id, step,
                            body if body is not None else BODIES[step])

    async def to(self, n: NominationOut, status: Status) -> NominationOut:
        """Take a drafted nomination to ``status`` (submitted, reviewed or appraised) by the
        usual path."""
        # a council does not review its own unit's proposals: the province's reviews the
        # district's
        council = (self.council if n.proposing_unit_id != self.p.district
                   else context(Role.COUNCIL, unit=self.p.province, sub="council-province"))
        for step, ctx in ((Step.SUBMIT, self.reporter(n.proposing_unit_id)),
                          (Step.REVIEW, council), (Step.APPRAISE, self.board)):
            n = await self.take(n, step, ctx)
            if n.status is status:
                return n
        raise AssertionError(f"{status} is not on the usual path")

    async def get(self, n: NominationOut) -> NominationOut:
        return await service.get_nomination(self.conn, n.nomination_id)

    async def refused(self, use_case: Awaitable[Any], status: int,
                      field: str | None = None) -> str:
        """The use case is refused as HTTP would answer with ``status`` (naming ``field``);
        returns the refusal's message. Like a refused request, it leaves no trace."""
        with pytest.raises((DomainError, AppError)) as caught:
            async with self.conn.transaction():  # a savepoint: as a refused request, no trace
                await use_case
        error = caught.value
        problem = (from_refusal(error) if isinstance(error, DomainError) else error).problem()
        assert problem.status == status, problem
        if field is not None:
            assert field in [e.field for e in problem.errors], problem
        return problem.detail

    # ------------------------------------------------------------------ forms

    async def central_form(self, code: str, for_whom: str, rule: dict[str, Any]) -> str:
        """A form the Prime Minister grants (above the province's authority)."""
        await service.add_form(self.conn, self.board, FormIn(
            code=code, name_vi=f"Bằng khen của Thủ tướng (thử {code})",
            category="commendation", for_whom=for_whom, authority_level="prime_minister",
            rule=rule))
        return code

    async def follows_ldtt(self) -> str:
        """A form the district's chairman grants to whoever held LDTT the year before."""
        await service.add_form(self.conn, self.board, FormIn(
            code=FOLLOWS, name_vi="Danh hiệu thử", category="title", for_whom="individual",
            authority_level="district_chairman",
            rule={"type": "held_title_consecutive", "form_code": LDTT, "years": 1}))
        return FOLLOWS

    async def at(self, status: Status, central: bool = False) -> NominationOut:
        """A fresh nomination of a person in ``status``, of a form above the province when
        forwarded or ``central``, else of one the district's chairman grants."""
        form = LDTT
        if central or status is Status.FORWARDED:
            form = await self.central_form(PM, "individual",
                                           {"type": "no_award_within", "years": 1})
        n = await self.nominate(form, self.person())
        if status in (Status.REJECTED, Status.RETURNED):
            n = await self.to(n, Status.SUBMITTED)
            step = Step.REJECT if status is Status.REJECTED else Step.RETURN
            return await self.take(n, step, self.council, ReasonIn(reason="Chưa đạt"))
        if status in (Status.SUBMITTED, Status.REVIEWED):
            return await self.to(n, status)
        if status is not Status.DRAFTED:
            n = await self.to(n, Status.APPRAISED)
        if status is Status.FORWARDED:
            n = await self.take(n, Step.FORWARD, self.board)
        if status in (Status.APPROVED, Status.REVOKED):
            n = await self.take(n, Step.APPROVE, self.chairman(self.p.district))
        if status is Status.REVOKED:
            n = await self.take(n, Step.REVOKE, self.chairman(self.p.district))
        assert n.status is status
        return n


@pytest.fixture
async def d(conn: asyncpg.Connection, stack: TestStack) -> Dossiers:
    province = await add_unit(conn, UnitKind.PROVINCE, "Tỉnh Thử")
    district = await add_unit(conn, UnitKind.DISTRICT, "Huyện Minh Hóa", province)
    commune = await add_unit(conn, UnitKind.COMMUNE, "Xã Hóa Hợp", district)
    district_b = await add_unit(conn, UnitKind.DISTRICT, "Huyện Tuyên Hóa", province)
    place = Place(province=province, district=district, commune=commune,
                  village=await add_unit(conn, UnitKind.VILLAGE, "Thôn Yên Hợp", commune),
                  neighbour=await add_unit(conn, UnitKind.COMMUNE, "Xã Trọng Hóa", district),
                  district_b=district_b,
                  commune_b=await add_unit(conn, UnitKind.COMMUNE, "Xã Thanh", district_b))
    return Dossiers(conn, place, Context.system(awards_settings(stack)))


# --------------------------------------------------------------------------- by state


@pytest.mark.parametrize("status", list(Status))
async def test_every_step_refused_by_state(d: Dossiers, status: Status) -> None:
    n = await d.at(status)
    for step, allowed in ALLOWED.items():
        if status in allowed:
            continue
        ctx = d.board if step is not Step.EDIT else d.reporter()
        message = await d.refused(d.take(n, step, ctx), 409)
        assert message == f"cannot {step.value} a nomination that is {status.value}"


@pytest.mark.parametrize(("step", "status"), [(step, status) for step, statuses in ALLOWED.items()
                                              for status in sorted(statuses)])
async def test_every_step_allowed_from_its_states(d: Dossiers, step: Step,
                                                  status: Status) -> None:
    n = await d.at(status, central=step is Step.FORWARD)
    if step in (Step.EDIT, Step.SUBMIT):
        ctx = d.reporter()
    elif step is Step.REVIEW or (step in (Step.REJECT, Step.RETURN)
                                 and status is Status.SUBMITTED):
        ctx = d.council
    elif step in (Step.APPROVE, Step.REVOKE) and status is not Status.FORWARDED:
        ctx = d.chairman(d.p.district)
    else:
        ctx = d.board
    after = await d.take(n, step, ctx)
    assert after.status is AFTER[step]
    assert (after.steps[-1].step, after.steps[-1].status) == (step.value, AFTER[step])


# --------------------------------------------------------------------------- by role


def wrong_callers(d: Dossiers, step: Step) -> list[Context]:
    """Who may not take ``step`` (the wrong role, or the right one outside the unit)."""
    p = d.p
    viewer = context(Role.VIEWER, unit=p.province)
    return {
        Step.EDIT: [d.council, d.board, d.chairman(p.district), d.reporter(p.neighbour), viewer],
        Step.SUBMIT: [d.council, d.board, d.chairman(p.district), d.reporter(p.district_b),
                      viewer],
        Step.REVIEW: [d.reporter(), d.board, d.chairman(p.district),
                      context(Role.COUNCIL, unit=p.district_b), viewer],
        Step.APPRAISE: [d.reporter(), d.council, d.chairman(p.province),
                        context(Role.BOARD, unit=p.district_b), viewer],
        Step.APPROVE: [d.reporter(), d.council, d.board, d.chairman(p.province),
                       d.chairman(p.district_b), viewer],  # LDTT: a commune chairman signs it
        Step.REJECT: [d.reporter(), context(Role.COUNCIL, unit=p.district_b), viewer],
        Step.RETURN: [d.reporter(), context(Role.COUNCIL, unit=p.district_b), viewer],
        Step.FORWARD: [d.reporter(), d.council, d.chairman(p.province), viewer],
        Step.REVOKE: [d.reporter(), d.council, d.board, d.chairman(p.province), viewer],
    }[step]


@pytest.mark.parametrize("step", list(Step))
async def test_every_step_refused_by_role(d: Dossiers, step: Step) -> None:
    status = {Step.EDIT: Status.DRAFTED, Step.SUBMIT: Status.DRAFTED,
              Step.REVIEW: Status.SUBMITTED, Step.APPRAISE: Status.REVIEWED,
              Step.APPROVE: Status.APPRAISED, Step.REJECT: Status.REVIEWED,
              Step.RETURN: Status.REVIEWED, Step.FORWARD: Status.APPRAISED,
              Step.REVOKE: Status.APPROVED}[step]
    n = await d.at(status, central=step is Step.FORWARD)
    for ctx in wrong_callers(d, step):
        await d.refused(d.take(n, step, ctx), 403)


async def test_each_stage_has_its_own_deciders(d: Dossiers) -> None:
    no = ReasonIn(reason="x")
    submitted = await d.to(await d.nominate(LDTT, d.person()), Status.SUBMITTED)
    # before the council's review only the council returns or rejects
    await d.refused(d.take(submitted, Step.RETURN, d.board, no), 403)
    await d.refused(d.take(submitted, Step.REJECT, d.chairman(d.p.district), no), 403)
    reviewed = await d.take(submitted, Step.REVIEW, d.council)
    # once reviewed, it is the board's
    await d.refused(d.take(reviewed, Step.RETURN, d.council, no), 403)
    appraised = await d.take(reviewed, Step.APPRAISE, d.board)
    await d.refused(d.take(appraised, Step.REJECT, d.council, no), 403)
    await d.refused(d.take(appraised, Step.RETURN, d.chairman(d.p.district), no), 403)
    # the signing chairman may decline what is put before it
    n = await d.take(appraised, Step.REJECT, d.chairman(d.p.district),
                     ReasonIn(reason="Không ký quyết định"))
    assert n.status is Status.REJECTED


async def test_a_chairman_declines_only_a_form_of_its_own_level(d: Dossiers) -> None:
    n = await d.to(await d.nominate(CSTDCS, d.person()), Status.APPRAISED)
    # in scope of the proposing commune, but CSTDCS is signed by the district's chairman
    for wrong in (d.p.commune, d.p.province):
        message = await d.refused(d.take(n, Step.REJECT, d.chairman(wrong),
                                         ReasonIn(reason="Không ký")), 403)
        assert "district chairman" in message
    n = await d.take(n, Step.REJECT, d.chairman(d.p.district), ReasonIn(reason="Không ký"))
    assert n.status is Status.REJECTED


async def test_council_review_needs_a_majority_for(d: Dossiers) -> None:
    n = await d.to(await d.nominate(LDTT, d.person()), Status.SUBMITTED)
    await d.refused(d.take(n, Step.REVIEW, d.council,
                           ReviewIn(votes_for=3, votes_against=3, votes_abstain=1,
                                    members=7)),
                    422, "votes_for")


async def test_council_votes_count_against_all_its_members(d: Dossiers) -> None:
    n = await d.to(await d.nominate(LDTT, d.person()), Status.SUBMITTED)
    # 2 for, 1 against, 7 abstaining: 2 of the 10 members is not more than half
    message = await d.refused(d.take(n, Step.REVIEW, d.council, ReviewIn(
        votes_for=2, votes_against=1, votes_abstain=7, members=10)), 422, "votes_for")
    assert "more than half of all members" in message
    # the membership is always given (never taken to be the votes cast), and a review records
    # the votes
    with pytest.raises(ValidationError) as missing:
        ReviewIn(votes_for=5, votes_against=0)  # type: ignore[call-arg]
    assert [e["loc"] for e in missing.value.errors()] == [("members",)]
    message = await d.refused(d.take(n, Step.REVIEW, d.council, ReviewIn(
        votes_for=0, votes_against=0, members=10)), 422, "votes_for")
    assert "no votes were recorded" in message
    for absent in (ReviewIn(votes_for=2, votes_against=1, members=10),
                   ReviewIn(votes_for=5, votes_against=0, members=10)):
        await d.refused(d.take(n, Step.REVIEW, d.council, absent), 422, "votes_for")
    await d.refused(d.take(n, Step.REVIEW, d.council, ReviewIn(
        votes_for=6, votes_against=3, votes_abstain=2, members=10)), 422, "members")
    n = await d.take(n, Step.REVIEW, d.council, ReviewIn(votes_for=6, votes_against=0,
                                                         members=10))
    assert n.status is Status.REVIEWED and n.council is not None
    assert (n.council["members"], n.council["secret_ballot"]) == (10, False)


async def test_provincial_model_worker_needs_ninety_percent_by_secret_ballot(
    d: Dossiers,
) -> None:
    forms = {f.code: f for f in await service.list_forms(d.conn)}
    cstd = forms["chien_si_thi_dua_cap_tinh"]
    assert (cstd.vote_threshold, cstd.vote_comparison, cstd.secret_ballot_required) == (
        0.9, "at_least", True)
    assert (forms[LDTT].vote_threshold, forms[LDTT].vote_comparison) == (0.5, "more_than")
    n = await d.to(await d.nominate(cstd.code, d.person()), Status.SUBMITTED)
    await d.refused(d.take(n, Step.REVIEW, d.council, ReviewIn(
        votes_for=8, votes_against=0, members=10, secret_ballot=True)), 422, "votes_for")
    await d.refused(d.take(n, Step.REVIEW, d.council, ReviewIn(
        votes_for=10, votes_against=0, members=10)), 422, "secret_ballot")
    n = await d.take(n, Step.REVIEW, d.council, ReviewIn(
        votes_for=9, votes_against=1, members=10, secret_ballot=True))
    assert n.status is Status.REVIEWED


async def test_the_board_sets_what_a_form_needs_of_the_council_and_who_signs_it(
    d: Dossiers, conn: asyncpg.Connection,
) -> None:
    voting = VotingIn(vote_threshold=Decimal("0.75"), vote_comparison="at_least",
                      secret_ballot_required=True, signer_unit_kinds=["province"],
                      also_for=["household"])
    for caller in (d.council, d.reporter(), d.chairman(d.p.district)):
        await d.refused(service.set_voting(conn, caller, LDTT, voting), 403)
    await d.refused(service.set_voting(conn, d.board, "no_such_form", voting), 404)
    form = await service.set_voting(conn, d.board, LDTT, voting)
    assert (form.vote_threshold, form.vote_comparison, form.secret_ballot_required,
            form.signer_unit_kinds, form.also_for) == (0.75, "at_least", True, ["province"],
                                                       ["household"])
    audit = await conn.fetchrow("SELECT actor, before, after FROM audit_log"
                                " WHERE action = 'award_form.voting' AND entity_id = $1", LDTT)
    assert audit is not None and audit["actor"] == "board"
    assert (audit["before"]["vote_threshold"], audit["after"]["vote_threshold"]) == (0.5, 0.75)
    # the review now needs three quarters of all members by secret ballot
    n = await d.to(await d.nominate(LDTT, d.person()), Status.SUBMITTED)
    await d.refused(d.take(n, Step.REVIEW, d.council, ReviewIn(
        votes_for=7, votes_against=3, members=10, secret_ballot=True)), 422, "votes_for")
    await d.refused(d.take(n, Step.REVIEW, d.council, ReviewIn(
        votes_for=8, votes_against=2, members=10)), 422, "secret_ballot")
    await d.take(n, Step.REVIEW, d.council, ReviewIn(votes_for=8, votes_against=2, members=10,
                                                     secret_ballot=True))
    # the start-up's seed leaves the board's setting alone
    await service.seed_catalogue(conn, d.facts.system)
    again = {f.code: f for f in await service.list_forms(conn)}[LDTT]
    assert (again.vote_threshold, again.signer_unit_kinds) == (0.75, ["province"])


async def test_a_chairman_does_not_approve_an_award_to_the_unit_they_head(
    d: Dossiers,
) -> None:
    await d.facts.eligible(d.p.district, d.p.commune)
    own = await d.to(await d.nominate(GKH, d.unit(d.p.district)), Status.APPRAISED)
    assert own.appraisal is not None and own.appraisal["eligible"] is True
    message = await d.refused(d.take(own, Step.APPROVE, d.chairman(d.p.district)), 403)
    assert "level above" in message
    # the same chairman approves it for a unit below it
    below = await d.to(await d.nominate(GKH, d.unit(d.p.commune)), Status.APPRAISED)
    assert (await d.take(below, Step.APPROVE, d.chairman(d.p.district))).status \
        is Status.APPROVED


# --------------------------------------------------------------------------- authority


async def _commune_moved(conn: asyncpg.Connection, before: uuid.UUID, after: uuid.UUID,
                         on: date) -> uuid.UUID:
    """A commune under ``before`` until ``on``, under ``after`` since."""
    unit_id = uuid.uuid4()
    code = next_code()
    await hierarchy.apply_snapshot(conn, UnitSnapshot(
        unit_id=unit_id, kind=UnitKind.COMMUNE, revision=1, versions=[
            UnitVersion(valid_from=date(2017, 1, 1), valid_to=on, name="Xã Trung Hóa",
                        parent_id=before, code=code),
            UnitVersion(valid_from=on, valid_to=None, name="Xã Trung Hóa", parent_id=after,
                        code=code)]))
    return unit_id


async def test_authority_is_judged_on_the_day_of_the_action(
    d: Dossiers, conn: asyncpg.Connection,
) -> None:
    """A commune moved from district A to district B on 2025-07-01, after its dossier's year
    (2024): the dossier is judged as the commune stood in 2024, but who acts on it is judged
    today. A has lost its authority over the commune, B holds it; a district abolished on that
    day holds none at all."""
    reorganised = date(2025, 7, 1)
    moved = await _commune_moved(conn, d.p.district, d.p.district_b, reorganised)
    abolished = await add_unit(conn, UnitKind.DISTRICT, "Huyện Tuyên Hóa cũ", d.p.province,
                               valid_to=reorganised)
    from_abolished = await _commune_moved(conn, abolished, d.p.district_b, reorganised)
    for commune, former in ((moved, d.p.district), (from_abolished, abolished)):
        n = await d.take(await d.nominate(LDTT, d.person(commune)), Step.SUBMIT,
                         d.reporter(commune))
        message = await d.refused(d.take(n, Step.REVIEW, context(Role.COUNCIL, unit=former)),
                                  403)
        assert ("outside the caller's unit scope" in message if former == d.p.district
                else "does not exist on" in message)
        n = await d.take(n, Step.REVIEW, context(Role.COUNCIL, unit=d.p.district_b))
        n = await d.take(n, Step.APPRAISE, d.board)
        await d.refused(d.take(n, Step.APPROVE, d.chairman(former)), 403)
        n = await d.take(n, Step.APPROVE, d.chairman(d.p.district_b))
        assert n.status is Status.APPROVED and n.decision is not None
        assert n.decision.authority_level == "district_chairman"
        # the nominee is judged as it stood in its year: the commune then, with its name
        assert n.nominee.unit_id == commune and n.year == YEAR
    # the former district no longer reads the dossiers either; the present one does
    await d.refused(service.read_nomination(conn, context(Role.COUNCIL, unit=d.p.district),
                                            n.nomination_id), 403)
    assert (await service.read_nomination(conn, context(Role.COUNCIL, unit=d.p.district_b),
                                          n.nomination_id)).status is Status.APPROVED


async def test_dossiers_are_read_within_the_callers_subtree_and_each_read_is_audited(
    d: Dossiers, conn: asyncpg.Connection,
) -> None:
    n = await d.nominate(LDTT, d.person())  # proposed by a commune of district A
    mine = context(Role.VIEWER, unit=d.p.district, sub="viewer-a")
    other = context(Role.VIEWER, unit=d.p.district_b, sub="viewer-b")

    async def found(caller: Context, unit_id: uuid.UUID | None = None) -> set[uuid.UUID]:
        page = await service.search(conn, caller, year=YEAR, status=None, form_code=None,
                                    unit_id=unit_id, limit=500, offset=0)
        return {item.nomination_id for item in page.items}

    assert n.nomination_id in await found(mine)
    assert (await service.read_nomination(conn, mine, n.nomination_id)).steps
    # another district neither lists nor reads it, nor asks for district A's dossiers
    assert n.nomination_id not in await found(other)
    await d.refused(service.read_nomination(conn, other, n.nomination_id), 403)
    await d.refused(found(other, d.p.district), 403)
    await d.refused(service.list_enrollments(conn, other, YEAR, d.p.commune), 403)
    # the board of another province reads nothing of this one; this province's reads it all
    elsewhere = await add_unit(conn, UnitKind.PROVINCE, "Tỉnh Quảng Trị")
    await d.refused(service.read_nomination(conn, context(Role.BOARD, unit=elsewhere),
                                            n.nomination_id), 403)
    assert n.nomination_id in await found(d.board)
    # a dossier the district proposed about a commune's person is the district's: the
    # commune neither reads nor lists it
    above = await d.nominate(LDTT, d.person(), proposing=d.p.district)
    commune = context(Role.VIEWER, unit=d.p.commune, sub="viewer-c")
    assert above.nomination_id not in await found(commune)
    await d.refused(service.read_nomination(conn, commune, above.nomination_id), 403)
    # each read, by whom and of what, is in the audit log
    reads = await conn.fetch(
        "SELECT action, entity_id, actor_unit_id FROM audit_log WHERE actor = 'viewer-a'"
        " ORDER BY id")
    assert [(r["action"], r["actor_unit_id"]) for r in reads] == [
        ("nomination.search", d.p.district), ("nomination.read", d.p.district)]
    assert reads[1]["entity_id"] == str(n.nomination_id)


async def test_separation_of_duties(d: Dossiers, conn: asyncpg.Connection) -> None:
    """Who proposed a dossier does not decide it; a council does not review its own unit's
    proposals (nor, ever, an award to its own unit); the system administrator signs no
    decision."""
    await d.facts.eligible(d.p.district, d.p.commune)
    n = await d.to(await d.nominate(LDTT, d.person()), Status.APPRAISED)
    # the commune reporter who drafted and submitted it holds the chairman's role too
    both = context(Role.REPORTER, Role.CHAIRMAN, unit=d.p.commune, sub="reporter")
    message = await d.refused(d.take(n, Step.APPROVE, both), 403)
    assert "someone else decides it" in message
    await d.refused(d.take(n, Step.REJECT, both, ReasonIn(reason="Không đủ điều kiện")), 403)
    # the administrator operates the system: it takes no signed decision
    admin = context(Role.ADMIN, sub="admin")
    message = await d.refused(d.take(n, Step.APPROVE, admin), 403)
    assert "chairman" in message
    assert (await d.get(n)).status is Status.APPRAISED
    approved = await d.take(n, Step.APPROVE, d.chairman(d.p.commune))
    await d.refused(d.take(approved, Step.REVOKE, admin), 403)
    # the district council reviews its communes' proposals, not the district's own
    own = await d.take(await d.nominate(GKH, d.unit(d.p.district)), Step.SUBMIT,
                       d.reporter(d.p.district))
    message = await d.refused(d.take(own, Step.REVIEW, d.council), 403)
    assert "council above" in message
    for step in (Step.REJECT, Step.RETURN):  # nor turns them back itself
        message = await d.refused(d.take(own, step, d.council), 403)
        assert "council above" in message
    reviewed = await d.take(own, Step.REVIEW, context(Role.COUNCIL, unit=d.p.province))
    assert reviewed.status is Status.REVIEWED


@pytest.mark.parametrize(("form", "nominee", "right", "wrong", "level"), [
    (BKT, "unit", "province", ["district", "neighbour"], "provincial_chairman"),
    (GDVH, "household", "commune", ["district", "province"], "commune_chairman"),
    (LDTT, "person", "district", ["province", "district_b"], "district_chairman"),
])
async def test_a_form_is_approved_only_at_its_authority_level(
    d: Dossiers, form: str, nominee: str, right: str, wrong: list[str], level: str,
) -> None:
    if nominee == "unit":
        await d.facts.eligible(d.p.neighbour)
        n = await d.nominate(form, d.unit(d.p.neighbour))
    elif nominee == "household":
        n = await d.nominate(form, NomineeIn(kind=NomineeKind.HOUSEHOLD, unit_id=d.p.village,
                                             name="Hộ ông Hồ Văn A"), proposing=d.p.commune)
    else:
        n = await d.nominate(form, d.person())
    n = await d.to(n, Status.APPRAISED)
    assert n.appraisal is not None and n.appraisal["eligible"] is True, n.appraisal
    for name in wrong:
        await d.refused(d.take(n, Step.APPROVE, d.chairman(getattr(d.p, name))), 403)
    await d.refused(d.take(n, Step.APPROVE, d.board), 403)
    n = await d.take(n, Step.APPROVE, d.chairman(getattr(d.p, right)))
    assert n.status is Status.APPROVED and n.decision is not None
    assert n.decision.authority_level == level


async def test_form_above_the_province_is_forwarded_then_the_central_decision_recorded(
    d: Dossiers,
) -> None:
    pm = await d.central_form(PM, "individual", {"type": "no_award_within", "years": 1})
    n = await d.to(await d.nominate(pm, d.person()), Status.APPRAISED)
    assert n.appraisal is not None and n.appraisal["eligible"] is True
    # the province does not grant it: neither its chairman nor the board approves it yet
    await d.refused(d.take(n, Step.APPROVE, d.chairman(d.p.province)), 403)
    assert "forwarded first" in await d.refused(d.take(n, Step.APPROVE, d.board), 409)
    for wrong in (d.chairman(d.p.province), d.council, d.reporter()):
        await d.refused(d.take(n, Step.FORWARD, wrong), 403)
    n = await d.take(n, Step.FORWARD, d.board, CommentIn(comment="Trình Thủ tướng"))
    assert n.status is Status.FORWARDED
    await d.refused(d.take(n, Step.APPROVE, d.chairman(d.p.province)), 403)
    central = DecisionIn(number="456/QĐ-TTg", signed_on=date(2025, 4, 1), signer="Thủ tướng")
    n = await d.take(n, Step.APPROVE, d.board, central)
    assert n.status is Status.APPROVED and n.decision is not None
    assert n.decision.model_dump(mode="json") == {**central.model_dump(mode="json"),
                                                  "authority_level": "prime_minister"}
    assert [s.step for s in n.steps][-2:] == ["forward", "approve"]
    # a form the province grants is approved, not forwarded
    own = await d.to(await d.nominate(LDTT, d.person()), Status.APPRAISED)
    assert "approve it instead" in await d.refused(d.take(own, Step.FORWARD, d.board), 409)


async def test_next_years_nomination_can_be_approved(d: Dossiers) -> None:
    """A chairman signs today for a nomination of a year that has not ended (or begun)."""
    year = clock.today().year + 1
    n = await d.to(await d.nominate(LDTT, d.person(), year=year), Status.APPRAISED)
    n = await d.take(n, Step.APPROVE, d.chairman(d.p.district))
    assert n.status is Status.APPROVED and n.year == year


# --------------------------------------------------------------------------- appraisal


async def test_not_eligible_appraisal_cannot_be_approved(d: Dossiers) -> None:
    await d.facts.eligible(d.p.neighbour, poor_now=POOR_SHORT)
    short = await d.to(await d.nominate(GKH, d.unit(d.p.neighbour)), Status.APPRAISED)
    assert short.appraisal is not None and short.appraisal["eligible"] is False
    parts = {p["rule"]["type"]: p for p in short.appraisal["result"]["facts"]["parts"]}
    assert parts["report_on_time"]["passed"] is True
    target = parts["reduction_meets_target"]
    assert target["passed"] is False
    assert target["facts"]["reduction_pp"] == pytest.approx(1.99)
    assert "1.99" in target["explanation"]
    message = await d.refused(d.take(short, Step.APPROVE, d.chairman(d.p.district)), 409)
    assert "not eligible" in message

    await d.facts.eligible(d.p.commune, on_time=False)
    late = await d.to(await d.nominate(GKH, d.unit(d.p.commune)), Status.APPRAISED)
    assert late.appraisal is not None
    parts = {p["rule"]["type"]: p for p in late.appraisal["result"]["facts"]["parts"]}
    assert parts["report_on_time"]["passed"] is False
    assert parts["reduction_meets_target"]["passed"] is True
    await d.refused(d.take(late, Step.APPROVE, d.chairman(d.p.district)), 409)
    # the board rejects it instead
    rejected = await d.take(late, Step.REJECT, d.board, ReasonIn(reason="Báo cáo nộp muộn"))
    assert rejected.status is Status.REJECTED


async def test_appraisal_keeps_what_it_read(d: Dossiers) -> None:
    await d.facts.eligible(d.p.commune)
    n = await d.to(await d.nominate(GKH, d.unit(d.p.commune)), Status.APPRAISED)
    assert n.rule_version == 1 and n.appraisal is not None
    assert n.appraisal["eligible"] is True and n.appraisal["years_used"] == [YEAR - 1, YEAR]
    assert n.appraisal["report_versions"] == {str(YEAR - 1): 1, str(YEAR): 1}
    assert n.appraisal["reads_awards"] is False
    parts = {p["rule"]["type"]: p for p in n.appraisal["result"]["facts"]["parts"]}
    assert parts["reduction_meets_target"]["facts"] == {"reduction_pp": pytest.approx(2.0),
                                                        "required_pp": TARGET_PP}
    assert n.steps[-1].details == {"eligible": True, "rule_version": 1}


async def test_a_promoted_person_is_the_same_nominee(d: Dossiers) -> None:
    person = d.person(position="cán bộ")
    earlier = await d.to(await d.nominate(LDTT, person, year=YEAR - 1), Status.APPRAISED)
    await d.take(earlier, Step.APPROVE, d.chairman(d.p.district))
    promoted = await d.to(await d.nominate(await d.follows_ldtt(), person.model_copy(update={
        "position": "phó chủ tịch"})), Status.APPRAISED)
    assert promoted.nominee.nominee_id == earlier.nominee.nominee_id
    assert promoted.nominee_details == {"position": "phó chủ tịch"}
    assert promoted.appraisal is not None
    assert promoted.appraisal["eligible"] is True  # LDTT held in YEAR - 1


# --------------------------------------------------------------------------- one person


async def test_the_decomposed_spelling_of_a_name_is_the_same_person(d: Dossiers) -> None:
    composed = unicodedata.normalize("NFC", f"Nguyễn Thị Hường {uuid.uuid4().hex[:6]}")
    person = d.person().model_copy(update={"name": composed})
    # as a caller that bypasses the request's normalisation would give it
    decomposed = person.model_copy(update={
        "name": unicodedata.normalize("NFD", composed.upper()) + "\u200b"})
    earlier = await d.to(await d.nominate(LDTT, person, year=YEAR - 1), Status.APPRAISED)
    await d.take(earlier, Step.APPROVE, d.chairman(d.p.district))
    first = await d.nominate(LDTT, person)
    await d.refused(d.nomination(LDTT, decomposed), 409)
    assert first.nominee.nominee_id == earlier.nominee.nominee_id
    # the history is shared: the title of YEAR - 1 counts for the decomposed spelling
    later = await d.to(await d.nominate(await d.follows_ldtt(), decomposed), Status.APPRAISED)
    assert later.nominee.nominee_id == earlier.nominee.nominee_id
    assert later.nominee.name == composed.upper()  # stored in NFC, without the zero width
    assert later.appraisal is not None and later.appraisal["eligible"] is True


async def test_namesakes_with_different_citizen_ids_are_two_people(d: Dossiers) -> None:
    name = f"Trần Văn An {uuid.uuid4().hex[:6]}"
    one = d.person().model_copy(update={"name": name, "citizen_id": "044095000123"})
    two = one.model_copy(update={"citizen_id": "044095000999"})
    first, second = await d.nominate(LDTT, one), await d.nominate(LDTT, two)
    assert first.nominee.nominee_id != second.nominee.nominee_id
    assert (await d.get(first)).possible_duplicate_of == []
    assert second.possible_duplicate_of == [] and "possible_duplicate" not in second.flags
    # the citizen ID number decides, in any unit: the same person is refused a second time
    await d.refused(d.nomination(LDTT, one.model_copy(update={"unit_id": d.p.neighbour})), 409)


async def test_namesakes_without_a_citizen_id_are_flagged_not_merged(d: Dossiers) -> None:
    name = f"Lê Thị Mai {uuid.uuid4().hex[:6]}"
    known = d.person().model_copy(update={"name": name, "citizen_id": "044186000321"})
    unknown = d.person().model_copy(update={"name": name.upper()})
    first = await d.nominate(LDTT, known)
    # the numbered person is nominated in another unit since: still a namesake of the first
    moved = await d.nominate(CSTDCS, known.model_copy(update={"unit_id": d.p.neighbour}))
    assert moved.nominee.nominee_id == first.nominee.nominee_id
    second = await d.nominate(LDTT, unknown)
    assert first.nominee.nominee_id != second.nominee.nominee_id
    assert second.possible_duplicate_of == [first.nominee.nominee_id]
    assert "possible_duplicate" in second.flags
    assert (await d.get(first)).possible_duplicate_of == [second.nominee.nominee_id]
    person = await service.get_person(d.conn, d.board, second.nominee.nominee_id)
    assert person.possible_duplicate_of == [first.nominee.nominee_id]
    assert person.has_citizen_id is False and person.linked_to is None
    # a namesake without a number in the unit the numbered person moved to is flagged too; in
    # a unit neither was nominated in, not
    there = await d.nominate(LDTT, unknown.model_copy(update={"unit_id": d.p.neighbour}))
    assert there.possible_duplicate_of == [first.nominee.nominee_id]
    elsewhere = await d.nominate(LDTT, unknown.model_copy(update={"unit_id": d.p.commune_b}))
    assert elsewhere.possible_duplicate_of == []
    # once the board links them, they are one person's records, no longer flagged
    await service.link_person(d.conn, d.board, second.nominee.nominee_id,
                              PersonLinkIn(earlier_id=first.nominee.nominee_id,
                                           reason="Cùng một người (đối chiếu hồ sơ)"))
    assert (await d.get(second)).possible_duplicate_of == []


async def test_a_citizen_id_neither_shows_through_the_id_nor_lets_another_take_over(
    d: Dossiers, conn: asyncpg.Connection,
) -> None:
    number, name = "044095000777", f"Hoàng Văn Nam {uuid.uuid4().hex[:6]}"
    person = d.person().model_copy(update={"name": name, "citizen_id": number})
    first = await d.nominate(LDTT, person)
    nid = first.nominee.nominee_id
    # the id is random, not derived from the number (which trying the numbers would recover)
    assert uuid.UUID(nid).version == 4
    assert nid != str(uuid.uuid5(uuid.UUID("6f1c1f2e-6b0c-4d43-9f4e-6e0f3c7a2a10"),
                                 f"person:citizen:{number}"))
    # the number under another name is refused; under the person's name, in another unit, it
    # is the same person, whose recorded unit and name do not move with it
    message = await d.refused(d.nomination(CSTDCS, person.model_copy(
        update={"name": "Kẻ Mạo Danh", "unit_id": d.p.neighbour})), 422, "nominee.citizen_id")
    assert "belongs to another person's name" in message
    moved = await d.nominate(CSTDCS, person.model_copy(
        update={"name": name.upper(), "unit_id": d.p.neighbour}))
    assert moved.nominee.nominee_id == nid
    row = await conn.fetchrow("SELECT unit_id, name FROM persons WHERE nominee_id = $1", nid)
    assert row is not None and (row["unit_id"], row["name"]) == (d.p.commune, name)
    # only the board reads a person record
    for caller in (d.reporter(), d.council):
        await d.refused(service.get_person(conn, caller, nid), 403)
    assert (await service.get_person(conn, d.board, nid)).has_citizen_id is True
    # two records that carry different numbers are two people: never linked
    other = await d.nominate(LDTT, d.person().model_copy(
        update={"name": name, "citizen_id": "044095000778"}))
    await d.refused(service.link_person(conn, d.board, other.nominee.nominee_id, PersonLinkIn(
        earlier_id=nid, reason="Trùng tên")), 409)


async def test_the_migration_gives_a_person_known_by_number_a_random_id(
    d: Dossiers, conn: asyncpg.Connection,
) -> None:
    number = "044095000555"
    n = await d.nominate(LDTT, d.person().model_copy(update={"citizen_id": number}))
    later = await d.nominate(LDTT, d.person())
    derived = str(uuid.uuid5(uuid.UUID("6f1c1f2e-6b0c-4d43-9f4e-6e0f3c7a2a10"),
                             f"person:citizen:{number}"))
    # as the code before it left them: an id derived from the number, used and linked to
    await conn.execute("DROP INDEX persons_citizen_id")
    for table in ("persons", "nominations"):
        await conn.execute(f"UPDATE {table} SET nominee_id = $2 WHERE nominee_id = $1",
                           n.nominee.nominee_id, derived)
    await conn.execute("UPDATE persons SET linked_to = $2 WHERE nominee_id = $1",
                       later.nominee.nominee_id, derived)
    migration = Path(service.__file__).parents[1] / "migrations" / "007_person_ids.sql"
    await conn.execute(migration.read_text(encoding="utf-8"))
    new = await conn.fetchval("SELECT nominee_id FROM persons WHERE citizen_id = $1", number)
    assert new != derived and uuid.UUID(new).version == 4
    assert await conn.fetchval("SELECT count(*) FROM persons WHERE nominee_id = $1",
                               derived) == 0
    assert (await d.get(n)).nominee.nominee_id == new
    assert await conn.fetchval("SELECT linked_to FROM persons WHERE nominee_id = $1",
                               later.nominee.nominee_id) == new


async def test_a_person_who_moved_keeps_their_titles_through_a_link(
    d: Dossiers, conn: asyncpg.Connection,
) -> None:
    name = f"Phạm Văn Bình {uuid.uuid4().hex[:6]}"
    before = d.person(d.p.commune).model_copy(update={"name": name})
    after = d.person(d.p.neighbour).model_copy(update={"name": name})
    earlier = await d.to(await d.nominate(LDTT, before, year=YEAR - 1), Status.APPRAISED)
    await d.take(earlier, Step.APPROVE, d.chairman(d.p.district))
    follows = await d.follows_ldtt()
    moved = await d.to(await d.nominate(follows, after), Status.APPRAISED)
    assert moved.nominee.nominee_id != earlier.nominee.nominee_id
    assert moved.appraisal is not None and moved.appraisal["eligible"] is False
    # only the board links
    link = PersonLinkIn(earlier_id=earlier.nominee.nominee_id, reason="Chuyển công tác")
    await d.refused(service.link_person(conn, d.council, moved.nominee.nominee_id, link), 403)
    person = await service.link_person(conn, d.board, moved.nominee.nominee_id, link)
    assert person.linked_to == earlier.nominee.nominee_id and person.linked_by == "board"
    audit = await conn.fetchrow(
        "SELECT actor, at, after FROM audit_log WHERE action = 'person.link'"
        " AND entity_id = $1", moved.nominee.nominee_id)
    assert audit is not None and audit["actor"] == "board" and audit["at"] is not None
    assert audit["after"]["linked_to"] == earlier.nominee.nominee_id
    # the appraisal that read the history is flagged, and the new one reads the linked title
    flagged = await d.get(moved)
    assert flagged.needs_reappraisal is True
    again = await d.take(flagged, Step.APPRAISE, d.board)
    assert again.appraisal is not None and again.appraisal["eligible"] is True
    # linked once, never in a circle
    await d.refused(service.link_person(conn, d.board, moved.nominee.nominee_id, link), 409)
    await d.refused(service.link_person(conn, d.board, earlier.nominee.nominee_id, PersonLinkIn(
        earlier_id=moved.nominee.nominee_id, reason="Vòng")), 409)
    # revoking the earlier title flags the later record's appraisal
    await d.take(earlier, Step.REVOKE, d.chairman(d.p.district), RevokeIn(
        reason="Hồ sơ khai man", decision=DecisionIn(number="791/QĐ-UBND",
                                                      signed_on=date(2025, 6, 1),
                                                      signer="Chủ tịch huyện")))
    assert (await d.get(again)).needs_reappraisal is True


# --------------------------------------------------------------------------- re-appraisal


async def test_a_corrected_report_flags_the_nominations_that_read_its_year(
    d: Dossiers,
) -> None:
    await d.facts.eligible(d.p.commune)
    n = await d.to(await d.nominate(GKH, d.unit(d.p.commune)), Status.APPRAISED)
    # the same version again (a redelivery), or a report of a year the appraisal did not
    # read, flags nothing
    await d.facts.report(d.p.commune, YEAR, POOR_EXACT)
    await d.facts.report(d.p.commune, YEAR + 1, 700)
    await d.facts.report(d.p.commune, YEAR + 1, 650, version=2)
    assert (await d.get(n)).needs_reappraisal is False
    await d.facts.report(d.p.commune, YEAR, 850, version=2)
    flagged = await d.get(n)
    assert flagged.needs_reappraisal is True and flagged.version == n.version + 1
    assert flagged.reappraisal_reason == f"the {YEAR} report was corrected (version 1 → 2)"
    flag = flagged.steps[-1]
    assert (flag.step, flag.status, flag.actor, flag.actor_roles) == (
        "flag_reappraisal", Status.APPRAISED, "system", ["system"])
    assert flag.details["from_version"] == 1 and flag.details["to_version"] == 2
    # appraised again, it reads the correction
    again = await d.take(flagged, Step.APPRAISE, d.board)
    assert again.needs_reappraisal is False and again.appraisal is not None
    assert again.appraisal["report_versions"] == {str(YEAR - 1): 1, str(YEAR): 2}
    assert again.appraisal["eligible"] is False  # 1.50 points now


async def test_the_consumer_counts_flags_once_its_transaction_has_committed(
    d: Dossiers, stack: TestStack,
) -> None:
    await d.facts.eligible(d.p.commune)
    await d.to(await d.nominate(GKH, d.unit(d.p.commune)), Status.APPRAISED)
    handle = indicator_handlers(awards_settings(stack))["report.submitted"]
    corrected = new_envelope(
        payload=report_submitted(d.facts.campaign_id, d.p.commune, YEAR, 850, version=2),
        producer="indicators", subject_id=str(d.p.commune), actor=SYSTEM_ACTOR)
    flags = REGISTRY.get_sample_value("chungtay_awards_reappraisal_flags_total") or 0.0
    effect = await handle(d.conn, corrected)
    assert REGISTRY.get_sample_value("chungtay_awards_reappraisal_flags_total") == flags
    assert effect is not None
    effect()  # as the consumer does once the event's transaction has committed
    assert REGISTRY.get_sample_value("chungtay_awards_reappraisal_flags_total") == flags + 1
    row = await d.conn.fetchrow(
        "SELECT correlation_id, actor FROM audit_log WHERE action = 'nomination.flag_reappraisal'"
        " ORDER BY id DESC LIMIT 1")
    assert row is not None and row["actor"] == "system"
    assert row["correlation_id"] == corrected.correlation_id


async def test_a_nomination_flagged_for_reappraisal_is_decided_only_once_appraised_again(
    d: Dossiers,
) -> None:
    central = await d.central_form(CENTRAL, "collective", {"type": "reduction_meets_target"})
    await d.facts.eligible(d.p.commune, d.p.neighbour)
    appraised = await d.to(await d.nominate(central, d.unit(d.p.commune)), Status.APPRAISED)
    forwarded = await d.take(await d.to(await d.nominate(central, d.unit(d.p.neighbour)),
                                        Status.APPRAISED), Step.FORWARD, d.board)
    await d.facts.report(d.p.commune, YEAR, 790, version=2)  # corrected: 2.10 points
    await d.facts.report(d.p.neighbour, YEAR, 790, version=2)
    appraised, forwarded = await d.get(appraised), await d.get(forwarded)
    assert appraised.needs_reappraisal and forwarded.needs_reappraisal
    assert forwarded.status is Status.FORWARDED
    central_decision = DecisionIn(number="9/QĐ-TTg", signed_on=date(2025, 5, 5),
                                  signer="Thủ tướng")
    assert "appraise it again" in await d.refused(d.take(appraised, Step.FORWARD, d.board), 409)
    assert "appraise it again" in await d.refused(
        d.take(forwarded, Step.APPROVE, d.board, central_decision), 409)
    for n in (appraised, forwarded):
        again = await d.take(n, Step.APPRAISE, d.board)
        assert again.status is Status.APPRAISED and not again.needs_reappraisal
        assert again.appraisal is not None
        assert again.appraisal["result"]["facts"]["reduction_pp"] == pytest.approx(2.1)
        again = await d.take(again, Step.FORWARD, d.board)
        approved = await d.take(again, Step.APPROVE, d.board, central_decision)
        assert approved.decision is not None
        assert approved.decision.authority_level == "prime_minister"


async def test_granting_or_revoking_an_award_flags_the_nominations_that_read_awards(
    d: Dossiers, conn: asyncpg.Connection,
) -> None:
    person = d.person()
    chair = d.chairman(d.p.district)
    earlier = await d.to(await d.nominate(LDTT, person, year=YEAR - 1), Status.APPRAISED)
    follows = await d.follows_ldtt()
    reader = await d.to(await d.nominate(follows, person), Status.APPRAISED)
    assert reader.appraisal is not None
    assert reader.appraisal["eligible"] is False  # no LDTT held in YEAR - 1 yet
    assert reader.appraisal["reads_awards"] is True
    # a nomination of the same nominee of an earlier year does not read that award
    older = await d.to(await d.nominate(follows, person, year=YEAR - 2), Status.APPRAISED)

    await d.take(earlier, Step.APPROVE, chair)
    flagged = await d.get(reader)
    assert flagged.needs_reappraisal is True and "needs_reappraisal" in flagged.flags
    assert flagged.reappraisal_reason is not None
    assert f"{LDTT} of {YEAR - 1} was granted" in flagged.reappraisal_reason
    step = flagged.steps[-1]
    assert (step.step, step.status, step.actor) == (
        "flag_reappraisal", Status.APPRAISED, f"chairman-{d.p.district}")
    assert step.details["nomination_id"] == str(earlier.nomination_id)
    assert (await d.get(older)).needs_reappraisal is False
    await d.refused(d.take(flagged, Step.APPROVE, chair), 409)
    reader = await d.take(flagged, Step.APPRAISE, d.board)
    assert reader.appraisal is not None and reader.appraisal["eligible"] is True

    await d.take(earlier, Step.REVOKE, chair, RevokeIn(reason="Hồ sơ khai man", decision=(
        DecisionIn(number="790/QĐ-UBND", signed_on=date(2025, 6, 1), signer="Chủ tịch huyện"))))
    flagged = await d.get(reader)
    assert flagged.needs_reappraisal is True and flagged.reappraisal_reason is not None
    assert f"{LDTT} of {YEAR - 1} was revoked" in flagged.reappraisal_reason
    audit = await conn.fetch(
        "SELECT actor, after FROM audit_log WHERE entity_id = $1"
        " AND action = 'nomination.flag_reappraisal' ORDER BY id", str(reader.nomination_id))
    assert [(a["actor"], a["after"]["change"]) for a in audit] == [
        (f"chairman-{d.p.district}", "granted"), (f"chairman-{d.p.district}", "revoked")]
    again = await d.take(flagged, Step.APPRAISE, d.board)
    assert again.appraisal is not None and again.appraisal["eligible"] is False


# --------------------------------------------------------------------------- the lifecycle


async def test_return_for_correction_then_resubmit(d: Dossiers) -> None:
    n = await d.to(await d.nominate(LDTT, d.person()), Status.SUBMITTED)
    n = await d.take(n, Step.RETURN, d.council, ReasonIn(reason="Thiếu biên bản họp"))
    assert n.status is Status.RETURNED and n.steps[-1].comment == "Thiếu biên bản họp"
    n = await d.take(n, Step.EDIT, d.reporter(),
                     EditIn(achievements="Bổ sung biên bản họp bình xét."))
    assert n.status is Status.DRAFTED
    n = await d.to(n, Status.APPRAISED)
    n = await d.take(n, Step.RETURN, d.board, ReasonIn(reason="Cần bổ sung minh chứng"))
    assert n.status is Status.RETURNED
    n = await d.take(n, Step.SUBMIT, d.reporter())  # submitted again as it is
    assert n.status is Status.SUBMITTED
    assert [s.step for s in n.steps] == [
        "draft", "submit", "return", "edit", "submit", "review", "appraise", "return",
        "submit"]


async def test_reject_then_the_nominee_may_be_nominated_again(d: Dossiers) -> None:
    person = d.person()
    n = await d.to(await d.nominate(LDTT, person), Status.REVIEWED)
    n = await d.take(n, Step.REJECT, d.board, ReasonIn(reason="Không đủ tiêu chuẩn"))
    assert n.status is Status.REJECTED and n.steps[-1].comment == "Không đủ tiêu chuẩn"
    again = await d.nominate(LDTT, person)
    assert again.nominee.nominee_id == n.nominee.nominee_id


async def test_duplicate_open_nomination_is_refused(d: Dossiers) -> None:
    person = d.person()
    first = await d.nominate(LDTT, person)
    await d.refused(d.nomination(LDTT, person), 409)
    await d.to(first, Status.SUBMITTED)
    await d.refused(d.nomination(LDTT, person), 409)
    # another form, or another year, is another nomination
    await d.nominate(CSTDCS, person)
    await d.nominate(LDTT, person, year=YEAR - 1)
    await d.nominate(GKH, d.unit(d.p.commune))
    await d.refused(d.nomination(GKH, d.unit(d.p.commune)), 409)


async def test_revocation(d: Dossiers, conn: asyncpg.Connection) -> None:
    person = d.person()
    n = await d.to(await d.nominate(LDTT, person), Status.APPRAISED)
    n = await d.take(n, Step.APPROVE, d.chairman(d.p.district))
    revoke = RevokeIn(reason="Hồ sơ khai man", decision=DecisionIn(
        number="789/QĐ-UBND", signed_on=date(2025, 6, 1), signer="Chủ tịch huyện"))
    await d.refused(d.take(n, Step.REVOKE, d.reporter(), revoke), 403)
    await d.refused(d.take(n, Step.REVOKE, d.chairman(d.p.province), revoke), 403)
    n = await d.take(n, Step.REVOKE, d.chairman(d.p.district), revoke)
    assert n.status is Status.REVOKED and n.revocation == {
        "reason": "Hồ sơ khai man",
        "decision": {**revoke.decision.model_dump(mode="json"),
                     "authority_level": "district_chairman"}}
    assert n.decision is not None and n.decision.number == DECISION.number  # the grant is kept
    assert n.steps[-1].comment == "Hồ sơ khai man"
    await d.refused(d.take(n, Step.REVOKE, d.chairman(d.p.district), revoke), 409)
    assert person.name not in {a.nominee_name for a in await service.public_awards(conn, YEAR)}
    history = await service.nominee_history(conn, d.board, NomineeKind.PERSON, n.nominee.nominee_id)
    assert [(h.status, h.form_code) for h in history] == [(Status.REVOKED, LDTT)]
    # a revoked award no longer blocks a nomination
    await d.nominate(LDTT, person)


# --------------------------------------------------------------------------- registrations


async def test_registrations_are_taken_until_the_window_closes(d: Dossiers) -> None:
    year = YEAR - 5  # a year whose window no other test sets
    body = EnrollmentIn(unit_id=d.p.commune, year=year, items=[
        EnrollmentItemIn(form_code=LDTT, nominee=d.person())])
    message = await d.refused(service.enroll(d.conn, d.reporter(), body), 409)
    assert "not open" in message
    with clock.frozen(datetime(2025, 3, 1, 12, tzinfo=UTC)):
        await service.set_window(d.conn, d.board, year, WindowIn(closes_on=date(2025, 3, 1)))
        await service.enroll(d.conn, d.reporter(), body)  # on the day it closes
    with clock.frozen(datetime(2025, 3, 2, 12, tzinfo=UTC)):
        message = await d.refused(service.enroll(d.conn, d.reporter(), body), 409)
    assert message == f"registrations for {year} closed on 2025-03-01"


async def test_enrollment_is_looked_at_again_on_submission(d: Dossiers) -> None:
    person = d.person()
    n = await d.nominate(LDTT, person)
    assert n.enrolled is False and "not_enrolled" in n.flags
    await service.set_window(d.conn, d.board, YEAR,
                             WindowIn(closes_on=clock.today() + timedelta(days=2)))
    await service.enroll(d.conn, d.reporter(), EnrollmentIn(
        unit_id=d.p.commune, year=YEAR, items=[
            EnrollmentItemIn(form_code=LDTT, nominee=person)]))
    n = await d.to(n, Status.SUBMITTED)
    assert n.enrolled is True and "not_enrolled" not in n.flags


async def test_a_unit_that_existed_for_part_of_the_year_is_enrolled(d: Dossiers) -> None:
    unit = await add_unit(d.conn, UnitKind.COMMUNE, "Xã Tạm", d.p.district,
                          valid_from=date(YEAR, 3, 1), valid_to=date(YEAR, 9, 1))
    await service.set_window(d.conn, d.board, YEAR,
                             WindowIn(closes_on=clock.today() + timedelta(days=30)))
    out = await service.enroll(d.conn, d.reporter(d.p.district), EnrollmentIn(
        unit_id=d.p.district, year=YEAR, items=[
            EnrollmentItemIn(form_code=GKH, nominee=d.unit(unit))]))
    assert out.items[0]["nominee"]["unit_id"] == str(unit)
    # in a year it did not exist in, it is refused, naming the item
    await service.set_window(d.conn, d.board, YEAR + 1,
                             WindowIn(closes_on=clock.today() + timedelta(days=30)))
    await d.refused(service.enroll(d.conn, d.reporter(d.p.district), EnrollmentIn(
        unit_id=d.p.district, year=YEAR + 1, items=[
            EnrollmentItemIn(form_code=GKH, nominee=d.unit(unit))])),
        422, "items.0.nominee.unit_id")


async def test_states_and_levels_carry_their_vietnamese_labels(d: Dossiers) -> None:
    forms = {f.code: f.model_dump(mode="json") for f in await service.list_forms(d.conn)}
    assert forms[GDVH]["authority_level_label"] == "Chủ tịch UBND xã"
    assert forms[BKT]["authority_level_label"] == "Chủ tịch UBND tỉnh"
    assert forms["huan_chuong_lao_dong"]["authority_level_label"] == "Chủ tịch nước"
    n = await d.nominate(LDTT, d.person())
    assert n.model_dump(mode="json")["status_label"] == "Dự thảo"
    n = await d.to(n, Status.REVIEWED)
    assert n.model_dump(mode="json")["status_label"] == "Đã xét (Hội đồng)"
    n = await d.take(await d.take(n, Step.APPRAISE, d.board), Step.APPROVE,
                     d.chairman(d.p.district))
    out = n.model_dump(mode="json")
    assert (out["status_label"], out["decision_level_label"]) == (
        "Đã khen thưởng", "Chủ tịch UBND huyện")
    assert [s["status_label"] for s in out["steps"]][:2] == ["Dự thảo", "Đã nộp"]


# --------------------------------------------------------------------------- seed and chains


async def test_the_seed_reaches_an_existing_catalogue(d: Dossiers, conn: asyncpg.Connection
                                                      ) -> None:
    """A catalogue seeded before: the official names, and the rules the seed changed as a new
    version by the system; a rule the board changed stays the board's."""
    system = d.facts.system
    assert await service.seed_catalogue(conn, system) == 0  # seeded at start-up already
    old_rule = {"all": [{"type": "no_award_within", "years": 1}]}
    await conn.execute("UPDATE award_forms SET name_vi = 'Thôn, tổ dân phố văn hóa'"
                       " WHERE code = 'thon_van_hoa'")
    for table, column in (("award_rules", "form_code"), ("award_forms", "code")):
        await conn.execute(f"DELETE FROM {table} WHERE {column} = 'huan_chuong_lao_dong_hang_nhat'")
    for code, author in ((LDTT, "system"), (GDVH, "board")):
        await conn.execute(
            "INSERT INTO award_rules (form_code, version, rule, note, changed_by)"
            " SELECT $1, max(version) + 1, $2, 'before', $3 FROM award_rules"
            " WHERE form_code = $1", code, old_rule, author)
    assert await service.seed_catalogue(conn, system) == 3
    forms = {f.code: f for f in await service.list_forms(conn)}
    assert forms["thon_van_hoa"].name_vi == "Thôn, bản, tổ dân phố văn hóa"
    assert forms["huan_chuong_lao_dong_hang_nhat"].rule_version == 1
    history = await service.rule_history(conn, LDTT)
    assert history[-1].rule == {"type": "judged_by_council"}
    assert history[-1].changed_by == "system" and history[-1].note == service.SEED_NOTE
    assert forms[GDVH].rule == old_rule  # the board's
    assert await service.seed_catalogue(conn, system) == 0


async def test_the_start_up_announces_every_forms_current_rule(
    d: Dossiers, conn: asyncpg.Connection,
) -> None:
    """The indicators service learns the rules it protects indicators for from
    ``award_rule.changed``: each start-up announces every form's current rule once (the same
    version again: its consumers keep the rule as they had it), the board's forms and rules
    too, so rules written before it listened, or whose events retention dropped, reach it."""
    await d.follows_ldtt()
    await service.change_rule(conn, d.board, GDVH, RuleIn(rule={"type": "judged_by_council"},
                                                          note="Hội đồng xét"))
    # a seeded form that no dossier of another test references, taken away (rolled back)
    removed = None
    for code in ("thon_van_hoa", "gia_dinh_van_hoa", "tap_the_lao_dong_tien_tien"):
        try:
            async with conn.transaction():
                await conn.execute("DELETE FROM award_rules WHERE form_code = $1", code)
                await conn.execute("DELETE FROM award_forms WHERE code = $1", code)
        except asyncpg.ForeignKeyViolationError:
            continue
        removed = code
        break
    assert removed is not None
    start = await conn.fetchval("SELECT COALESCE(max(id), 0) FROM outbox")
    assert await service.seed_catalogue(conn, d.facts.system) == 1  # the form added back
    rows = await conn.fetch("SELECT key, body FROM outbox WHERE id > $1"
                            " AND event_type = 'award_rule.changed' ORDER BY id", start)
    forms = {f.code: f for f in await service.list_forms(conn)}
    announced = [(r["body"]["payload"]["form_code"], r["body"]["payload"]["version"])
                 for r in rows]
    assert sorted(announced) == sorted((c, f.rule_version) for c, f in forms.items())
    assert {FOLLOWS, GDVH, removed} <= {code for code, _ in announced}
    for r in rows:
        assert r["key"] == r["body"]["payload"]["form_code"]
        assert r["body"]["payload"]["rule"] == forms[r["key"]].rule


async def test_ldtt_can_be_won_two_years_running(d: Dossiers) -> None:
    person = d.person()
    for year in (YEAR - 1, YEAR):
        n = await d.to(await d.nominate(LDTT, person, year=year), Status.APPRAISED)
        assert n.appraisal is not None and n.appraisal["eligible"] is True
        await d.take(n, Step.APPROVE, d.chairman(d.p.district))


async def test_grassroots_model_worker_reads_the_years_ldtt_and_a_recorded_initiative(
    d: Dossiers, conn: asyncpg.Connection,
) -> None:
    person = d.person()
    ldtt = await d.to(await d.nominate(LDTT, person), Status.APPRAISED)
    cstd = await d.to(await d.nominate(CSTDCS, person), Status.APPRAISED)
    assert cstd.appraisal is not None and cstd.appraisal["eligible"] is False
    # granting LDTT of the same year flags it
    await d.take(ldtt, Step.APPROVE, d.chairman(d.p.district))
    assert (await d.get(cstd)).needs_reappraisal is True
    cstd = await d.take(cstd, Step.APPRAISE, d.board)
    assert cstd.appraisal is not None and cstd.appraisal["eligible"] is False  # no initiative
    body = InitiativeIn(person=person, year=YEAR, title="Mô hình nuôi bò sinh sản",
                        recognised_by="Hội đồng sáng kiến huyện Minh Hóa",
                        decision_number="15/QĐ-UBND", decided_on=date(YEAR, 11, 2))
    # a reporter does not record it, nor a council over another unit
    await d.refused(service.record_initiative(conn, d.reporter(), body), 403)
    await d.refused(service.record_initiative(
        conn, context(Role.COUNCIL, unit=d.p.district_b, sub="council-b"), body), 403)
    await d.refused(service.record_initiative(conn, d.council, body.model_copy(
        update={"person": d.unit(d.p.commune)})), 422, "person.kind")
    recorded = await service.record_initiative(conn, d.council, body)
    assert recorded.person.nominee_id == cstd.nominee.nominee_id
    assert (await d.get(cstd)).needs_reappraisal is True
    cstd = await d.take(cstd, Step.APPRAISE, d.board)
    assert cstd.appraisal is not None and cstd.appraisal["eligible"] is True
    parts = {p["rule"]["type"]: p for p in cstd.appraisal["result"]["facts"]["parts"]}
    assert parts["initiative_recognised"]["facts"]["initiatives"][0]["decision_number"] == (
        "15/QĐ-UBND")
    assert await service.list_initiatives(conn, NomineeKind.PERSON, recorded.person.nominee_id
                                          ) == [{"year": YEAR, "title": body.title,
                                                 "recognised_by": body.recognised_by,
                                                 "decision_number": "15/QĐ-UBND",
                                                 "decided_on": date(YEAR, 11, 2)}]


async def test_years_are_compared_within_one_campaign(d: Dossiers) -> None:
    """The 2016–2020 and 2021–2025 poverty standards differ: a reduction is not computed from
    a report of another campaign."""
    system, unit = d.facts.system, d.p.commune
    old_standard, new_standard = uuid.uuid4(), uuid.uuid4()
    await service.record_report(d.conn, system, report_submitted(
        old_standard, unit, YEAR - 1, 1_000), uuid.uuid4())
    await service.record_report(d.conn, system, report_submitted(
        new_standard, unit, YEAR, 800), uuid.uuid4())
    await service.record_target(d.conn, target_set(new_standard, unit, YEAR, TARGET_PP))
    n = await d.to(await d.nominate(GKH, d.unit(unit)), Status.APPRAISED)
    assert n.appraisal is not None and n.appraisal["eligible"] is False
    parts = {p["rule"]["type"]: p for p in n.appraisal["result"]["facts"]["parts"]}
    assert parts["reduction_meets_target"]["facts"]["reduction_pp"] is None
    # the new campaign's own report of the year before makes the comparison
    await service.record_report(d.conn, system, report_submitted(
        new_standard, unit, YEAR - 1, 1_000), uuid.uuid4())
    n = await d.take(n, Step.APPRAISE, d.board)
    assert n.appraisal is not None and n.appraisal["eligible"] is True


# --------------------------------------------------------------------------- who signs


async def _appraised_in(d: Dossiers, form: str, nominee: NomineeIn) -> NominationOut:
    """A nomination proposed by the nominee's own unit, reviewed by that unit's council."""
    n = await d.nominate(form, nominee)
    n = await d.take(n, Step.SUBMIT, d.reporter(nominee.unit_id))
    n = await d.take(n, Step.REVIEW, context(Role.COUNCIL, unit=nominee.unit_id, sub="hđ"))
    return await d.take(n, Step.APPRAISE, d.board)


async def test_heads_of_agencies_mass_organisations_and_enterprises_sign_for_their_people(
    d: Dossiers, conn: asyncpg.Connection,
) -> None:
    agency = await add_unit(conn, UnitKind.AGENCY, "Sở LĐ-TB&XH", d.p.province)
    union = await add_unit(conn, UnitKind.MASS_ORG, "Hội Nông dân tỉnh", d.p.province)
    firm = await add_unit(conn, UnitKind.ENTERPRISE, "Công ty May Minh Hóa", d.p.district)
    forms = {f.code: f for f in await service.list_forms(conn)}
    assert forms[LDTT].signer_unit_kinds == ["district", "commune", "agency", "mass_org",
                                             "enterprise"]
    assert forms[BKT].signer_unit_kinds == ["province"]
    # the department's head signs its Giấy khen, LĐTT and CSTĐ cơ sở for its people
    for form in ("giay_khen_thu_truong", LDTT):
        n = await _appraised_in(d, form, d.person(agency))
        await d.refused(d.take(n, Step.APPROVE, d.chairman(firm)), 403)  # not its people
        n = await d.take(n, Step.APPROVE, d.chairman(agency))
        assert n.decision is not None and n.decision.authority_level == "district_chairman"
    cstd = await _appraised_in(d, CSTDCS, d.person(agency))
    assert cstd.status is Status.APPRAISED
    await d.refused(d.take(cstd, Step.APPROVE, d.chairman(d.p.province)), 403)
    # a mass organisation's and an enterprise's head sign the Giấy khen of their own people;
    # a People's Committee chairman does not sign the head's Giấy khen
    for unit in (union, firm):
        n = await _appraised_in(d, "giay_khen_thu_truong", d.person(unit))
        if unit == firm:
            message = await d.refused(d.take(n, Step.APPROVE, d.chairman(d.p.district)), 403)
            assert "agency, mass_org, enterprise" in message
        assert (await d.take(n, Step.APPROVE, d.chairman(unit))).status is Status.APPROVED
    # the mass organisation's head does not sign CSTĐ cơ sở: its own council does not review
    # it either (the province's does), and its head does not approve it
    cstd = await d.take(await d.nominate(CSTDCS, d.person(union)), Step.SUBMIT,
                        d.reporter(union))
    message = await d.refused(d.take(cstd, Step.REVIEW, context(Role.COUNCIL, unit=union)), 403)
    assert "council above" in message
    cstd = await d.take(cstd, Step.REVIEW, context(Role.COUNCIL, unit=d.p.province))
    cstd = await d.take(cstd, Step.APPRAISE, d.board)
    await d.refused(d.take(cstd, Step.APPROVE, d.chairman(union)), 403)


async def test_a_commune_chairman_signs_lao_dong_tien_tien(d: Dossiers) -> None:
    n = await d.to(await d.nominate(LDTT, d.person()), Status.APPRAISED)
    n = await d.take(n, Step.APPROVE, d.chairman(d.p.commune))
    assert n.decision is not None and n.decision.authority_level == "commune_chairman"


async def test_a_form_goes_to_the_kinds_of_nominee_it_names(d: Dossiers) -> None:
    household = NomineeIn(kind=NomineeKind.HOUSEHOLD, unit_id=d.p.village, name="Hộ ông Lê C")
    # Giấy khen of the district chairman: a collective, a person or a household
    for nominee in (d.unit(d.p.commune), d.person(), household):
        n = await d.nominate(GKH, nominee, proposing=d.p.commune)
        assert n.nominee.kind == nominee.kind
    # a yearly title stays for its own kind
    await d.refused(d.nomination(LDTT, d.unit(d.p.commune)), 422, "nominee.kind")
    code = "thu_giay_khen_nhieu"
    form = await service.add_form(d.conn, d.board, FormIn(
        code=code, name_vi="Giấy khen (thử)", category="commendation", for_whom="collective",
        authority_level="district_chairman", rule={"type": "judged_by_council"},
        signer_unit_kinds=["district", "agency"], also_for=["individual"]))
    assert (form.signer_unit_kinds, form.also_for) == (["district", "agency"], ["individual"])
    await d.nominate(code, d.person())
    await d.refused(d.nomination(code, household, proposing=d.p.commune), 422, "nominee.kind")
