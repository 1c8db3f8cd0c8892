"""The register of exemplary models and initiatives: pure rules (stand-outs, printable text),
the use cases on the real PostgreSQL in a transaction rolled back after each test (who
proposes, who recognises, replications, award links, what each caller reads, every change
audited and announced through the outbox), and the routes' door (roles, 401, 404 and 422)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest

from chungtay_common import hierarchy
from chungtay_common.auth import Role
from chungtay_common.context import Context
from chungtay_common.contracts.awards import ExemplaryKind, NomineeKind
from chungtay_common.contracts.registration import UnitKind, UnitSnapshot, UnitVersion
from chungtay_common.errors import AppError
from chungtay_common.refusals import NotAllowed, RuleBroken, StateConflict
from services.awards import domain_exemplary as rules
from services.awards import service as core
from services.awards.schemas import NominationIn, NomineeIn
from services.awards.schemas.exemplary import (
    AwardLinkIn,
    EvidenceRef,
    ExemplaryEditIn,
    ExemplaryIn,
    ExemplaryOut,
    RecognitionIn,
    ReplicationIn,
)
from services.awards.service import exemplary as service
from tests.awards.conftest import Tokens, World, report_submitted
from tests.conftest import next_code
from tests.support import assert_problem, context, ok, rolled_back

YEAR = 2024
RECOGNITION = RecognitionIn(recognised_by="Chủ tịch UBND tỉnh", decision_number="45/QĐ-UBND",
                            decided_on=date(2025, 3, 1))

# --------------------------------------------------------------------------- pure rules


def test_stand_outs_rank_reducers_and_escapes_each_unit_once() -> None:
    a, b, c, d = sorted(uuid.uuid4() for _ in range(4))
    figures = {
        a: rules.Figures({"households_total": 100, "poor_households": 8},
                         {"households_total": 100, "poor_households": 10}),  # 2 points
        b: rules.Figures({"households_total": 100, "poor_households": 5, "escaped_poverty": 40},
                         {"households_total": 100, "poor_households": 9}),  # 4 points
        c: rules.Figures({"households_total": 100, "poor_households": 9, "escaped_poverty": 90},
                         None),  # no year before: no reduction
        d: rules.Figures({"households_total": 100, "poor_households": 12},
                         {"households_total": 100, "poor_households": 10}),  # poorer
    }
    out = rules.stand_outs(figures, limit=2)
    assert [(s.unit_id, s.reasons) for s in out] == [
        (b, ("best_reduction", "most_escaped")), (a, ("best_reduction",)), (c, ("most_escaped",))]
    assert out[0].reduction_pp == pytest.approx(4.0) and out[0].poor_rate_pct == 5.0
    assert rules.stand_outs(figures, limit=1)[0].unit_id == b
    assert rules.stand_outs({}, limit=5) == []


def test_printable_drops_what_xml_refuses() -> None:
    assert rules.printable("a\x00b\x07c\td\ne\ufffe\u0085f") == "abc\td\nef"
    assert rules.printable("Hộ <ông> A & B") == "Hộ <ông> A & B"


def test_recognition_and_replication_rules() -> None:
    today = date(2025, 6, 1)
    with pytest.raises(StateConflict):
        rules.check_recognition(True, 2024, date(2025, 1, 1), today)
    with pytest.raises(RuleBroken) as e:
        rules.check_recognition(False, 2024, date(2023, 12, 31), today)
    assert e.value.field == "decided_on"
    with pytest.raises(RuleBroken):
        rules.check_recognition(False, 2024, date(2025, 6, 2), today)
    rules.check_recognition(False, 2024, date(2024, 1, 1), today)
    unit, other = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(StateConflict):
        rules.check_replication(False, 2024, unit, other, date(2025, 1, 1), today)
    with pytest.raises(RuleBroken) as e:
        rules.check_replication(True, 2024, unit, unit, date(2025, 1, 1), today)
    assert e.value.field == "unit_id"
    with pytest.raises(RuleBroken):
        rules.check_replication(True, 2024, unit, other, date(2023, 1, 1), today)
    with pytest.raises(NotAllowed):
        rules.check_recogniser(frozenset({Role.ADMIN}))
    with pytest.raises(NotAllowed):
        rules.check_editable(True, frozenset({Role.REPORTER}))
    rules.check_editable(True, frozenset({Role.BOARD}))
    with pytest.raises(RuleBroken):
        rules.check_year(2026, today)


# --------------------------------------------------------------------------- use cases


@pytest.fixture
async def conn(awards_db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    async with rolled_back(awards_db) as savepoint:
        yield savepoint


async def add_unit(conn: asyncpg.Connection, kind: UnitKind, name: str,
                   parent: uuid.UUID | None = None) -> uuid.UUID:
    """A unit in the service's copy of the hierarchy, as its consumer stores a snapshot."""
    unit_id = uuid.uuid4()
    await hierarchy.apply_snapshot(conn, UnitSnapshot(
        unit_id=unit_id, kind=kind, revision=1, versions=[UnitVersion(
            valid_from=date(2017, 1, 1), valid_to=None, name=name, parent_id=parent,
            code=None if kind is UnitKind.VILLAGE else next_code())]))
    return unit_id


@dataclass(frozen=True)
class Place:
    """Province → district A (communes a1, a2), district B (commune b1); another province."""

    province: uuid.UUID
    district_a: uuid.UUID
    a1: uuid.UUID
    a2: uuid.UUID
    b1: uuid.UUID
    other_province: uuid.UUID

    def reporter(self, unit: uuid.UUID, sub: str = "reporter") -> Context:
        return context(Role.REPORTER, unit=unit, sub=sub)

    @property
    def board(self) -> Context:
        return context(Role.BOARD, unit=self.province, sub="board")


@pytest.fixture
async def place(conn: asyncpg.Connection) -> Place:
    province = await add_unit(conn, UnitKind.PROVINCE, "Tỉnh Quảng Bình")
    district_a = await add_unit(conn, UnitKind.DISTRICT, "Huyện Minh Hóa", province)
    district_b = await add_unit(conn, UnitKind.DISTRICT, "Huyện Tuyên Hóa", province)
    return Place(province, district_a,
                 await add_unit(conn, UnitKind.COMMUNE, "Xã Hóa Hợp", district_a),
                 await add_unit(conn, UnitKind.COMMUNE, "Xã Dân Hóa", district_a),
                 await add_unit(conn, UnitKind.COMMUNE, "Xã Thanh Hóa", district_b),
                 await add_unit(conn, UnitKind.PROVINCE, "Tỉnh Quảng Trị"))


def model_in(unit: uuid.UUID, **fields: Any) -> ExemplaryIn:
    body: dict[str, Any] = {
        "name": "Mô hình nuôi bò sinh sản <Hóa Hợp> & Co", "unit_id": unit,
        "kind": ExemplaryKind.LIVELIHOOD_MODEL,
        "description": "Hai mươi hộ nghèo thoát nghèo nhờ nuôi bò.", "year": YEAR,
        "evidence": [EvidenceRef(reference="Báo cáo số 12/BC-UBND", note="kết quả 2024")],
        **fields}
    return ExemplaryIn(**body)


async def events(conn: asyncpg.Connection, since: int) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT key, event_type, body FROM outbox WHERE id > $1 ORDER BY id",
                            since)
    return [{"key": r["key"], "type": r["event_type"], **r["body"]["payload"]} for r in rows]


async def audits(conn: asyncpg.Connection, model_id: uuid.UUID) -> list[str]:
    return [r["action"] for r in await conn.fetch(
        "SELECT action FROM audit_log WHERE entity_type = 'exemplary_model' AND entity_id = $1"
        " ORDER BY id", str(model_id))]


async def outbox_end(conn: asyncpg.Connection) -> int:
    end: int = await conn.fetchval("SELECT COALESCE(max(id), 0) FROM outbox")
    return end


async def recognised(conn: asyncpg.Connection, place: Place) -> ExemplaryOut:
    model = await service.register(conn, place.reporter(place.a1), model_in(place.a1))
    return await service.recognise(conn, place.board, model.model_id, RECOGNITION)


async def test_a_reporter_proposes_for_its_subtree_audited_and_announced(
        conn: asyncpg.Connection, place: Place) -> None:
    start = await outbox_end(conn)
    model = await service.register(conn, place.reporter(place.a1), model_in(place.a1))
    assert not model.recognised and model.recognition is None
    assert model.name == "Mô hình nuôi bò sinh sản <Hóa Hợp> & Co"
    assert model.kind_label == "Mô hình sinh kế"
    assert model.evidence[0].reference == "Báo cáo số 12/BC-UBND"
    council = context(Role.COUNCIL, unit=place.district_a, sub="council-a")
    other = await service.register(conn, council, model_in(place.a2, kind=ExemplaryKind.HOUSEHOLD))
    assert other.unit_id == place.a2
    [registered, _] = await events(conn, start)
    assert registered == {
        "key": str(model.model_id), "type": "exemplary_model.registered",
        "model_id": str(model.model_id), "name": model.name, "kind": "livelihood_model",
        "unit_id": str(place.a1), "year": YEAR, "recognised": False, "recognition": None}
    assert await audits(conn, model.model_id) == ["exemplary_model.register"]


async def test_who_may_propose(conn: asyncpg.Connection, place: Place) -> None:
    with pytest.raises(AppError) as e:  # another commune's reporter
        await service.register(conn, place.reporter(place.b1), model_in(place.a1))
    assert e.value.status_code == 403
    with pytest.raises(AppError) as e:  # the board recognises, it does not propose
        await service.register(conn, place.board, model_in(place.a1))
    assert e.value.status_code == 403
    with pytest.raises(AppError) as e:  # a unit of no such year
        await service.register(conn, place.reporter(place.a1), model_in(place.a1, year=2016))
    assert e.value.status_code == 422
    with pytest.raises(RuleBroken):  # a year not begun
        await service.register(conn, place.reporter(place.a1), model_in(place.a1, year=2099))


async def test_the_board_of_the_province_recognises_once(conn: asyncpg.Connection,
                                                         place: Place) -> None:
    model = await service.register(conn, place.reporter(place.a1), model_in(place.a1))
    refusals: list[tuple[Context, type[Exception]]] = [
        (context(Role.COUNCIL, unit=place.district_a), NotAllowed),
        (context(Role.ADMIN, sub="admin"), NotAllowed),  # the administrator signs nothing
        (context(Role.BOARD, unit=place.other_province, sub="board-qt"), AppError),
        # whoever proposed it does not recognise it
        (context(Role.BOARD, Role.REPORTER, unit=place.province, sub="reporter"), NotAllowed),
    ]
    for ctx, refusal in refusals:
        with pytest.raises(refusal):
            await service.recognise(conn, ctx, model.model_id, RECOGNITION)
    start = await outbox_end(conn)
    out = await service.recognise(conn, place.board, model.model_id, RECOGNITION)
    assert out.recognised and out.recognition is not None
    assert out.recognition.decision_number == "45/QĐ-UBND"
    [event] = await events(conn, start)
    assert event["type"] == "exemplary_model.recognised" and event["recognised"] is True
    assert event["recognition"] == {"recognised_by": "Chủ tịch UBND tỉnh",
                                    "decision_number": "45/QĐ-UBND", "decided_on": "2025-03-01"}
    with pytest.raises(StateConflict):
        await service.recognise(conn, place.board, model.model_id, RECOGNITION)
    with pytest.raises(AppError) as e:
        await service.recognise(conn, place.board, uuid.uuid4(), RECOGNITION)
    # a board member who corrected a proposal does not recognise it: another one does
    other = await service.register(conn, place.reporter(place.a2, sub="reporter-a2"),
                                   model_in(place.a2))
    await service.edit(conn, place.board, other.model_id, ExemplaryEditIn(description="Sửa"))
    with pytest.raises(NotAllowed):
        await service.recognise(conn, place.board, other.model_id, RECOGNITION)
    second = context(Role.BOARD, unit=place.province, sub="board-2")
    assert (await service.recognise(conn, second, other.model_id, RECOGNITION)).recognised
    assert e.value.status_code == 404
    assert await audits(conn, model.model_id) == ["exemplary_model.register",
                                                  "exemplary_model.recognise"]


async def test_a_proposal_is_corrected_by_its_unit_a_recognised_model_by_the_board(
        conn: asyncpg.Connection, place: Place) -> None:
    model = await service.register(conn, place.reporter(place.a1), model_in(place.a1))
    start = await outbox_end(conn)
    edited = await service.edit(conn, place.reporter(place.a1), model.model_id,
                                ExemplaryEditIn(name="Mô hình trồng rừng", year=2023))
    assert (edited.name, edited.year, edited.version) == ("Mô hình trồng rừng", 2023, 2)
    with pytest.raises(AppError):  # moved to a unit out of the caller's subtree
        await service.edit(conn, place.reporter(place.a1), model.model_id,
                           ExemplaryEditIn(unit_id=place.b1))
    await service.recognise(conn, place.board, model.model_id, RECOGNITION)
    with pytest.raises(NotAllowed):
        await service.edit(conn, place.reporter(place.a1), model.model_id,
                           ExemplaryEditIn(description="Khác"))
    fixed = await service.edit(conn, place.board, model.model_id,
                               ExemplaryEditIn(description="Sửa lỗi chính tả"))
    assert fixed.recognised and fixed.description == "Sửa lỗi chính tả"
    assert [e["type"] for e in await events(conn, start)] == [
        "exemplary_model.changed", "exemplary_model.recognised", "exemplary_model.changed"]
    assert (await audits(conn, model.model_id)).count("exemplary_model.edit") == 2


async def test_replications_of_recognised_models_by_the_replicating_unit(
        conn: asyncpg.Connection, place: Place) -> None:
    proposal = await service.register(conn, place.reporter(place.a1), model_in(place.a1))
    body = ReplicationIn(unit_id=place.a2, replicated_on=date(2025, 5, 1),
                         outcome="Mười hộ áp dụng, năm hộ thoát nghèo")
    with pytest.raises(StateConflict):
        await service.replicate(conn, place.reporter(place.a2), proposal.model_id, body)
    model = await service.recognise(conn, place.board, proposal.model_id, RECOGNITION)
    with pytest.raises(AppError) as e:  # b1's reporter has no authority over a2
        await service.replicate(conn, place.reporter(place.b1), model.model_id, body)
    assert e.value.status_code == 403
    with pytest.raises(RuleBroken):  # not in its own unit
        await service.replicate(conn, place.reporter(place.a1), model.model_id,
                                body.model_copy(update={"unit_id": place.a1}))
    start = await outbox_end(conn)
    out = await service.replicate(conn, place.reporter(place.a2), model.model_id, body)
    assert [(r.unit_id, r.replicated_on) for r in out.replications] == [
        (place.a2, date(2025, 5, 1))]
    [event] = await events(conn, start)
    assert event["type"] == "exemplary_model.replicated" and event["recognised"] is True
    assert event["replication"]["unit_id"] == str(place.a2)
    assert event["replication"]["outcome"] == "Mười hộ áp dụng, năm hộ thoát nghèo"
    with pytest.raises(StateConflict):
        await service.replicate(conn, place.reporter(place.a2), model.model_id, body)


async def test_links_to_awards(conn: asyncpg.Connection, place: Place) -> None:
    proposal = await service.register(conn, place.reporter(place.a1), model_in(place.a1))
    nomination = await core.create_nomination(conn, place.reporter(place.a1), NominationIn(
        form_code="lao_dong_tien_tien", year=YEAR, proposing_unit_id=place.a1,
        nominee=NomineeIn(kind=NomineeKind.PERSON, unit_id=place.a1, name="Hồ Thị Lan"),
        achievements="Người khởi xướng mô hình."))
    with pytest.raises(StateConflict):  # a proposal is linked to no award
        await service.link_award(conn, place.reporter(place.a1), proposal.model_id,
                                 AwardLinkIn(nomination_id=nomination.nomination_id))
    model = await service.recognise(conn, place.board, proposal.model_id, RECOGNITION)
    start = await outbox_end(conn)
    out = await service.link_award(conn, place.reporter(place.a1), model.model_id,
                                   AwardLinkIn(nomination_id=nomination.nomination_id))
    assert [(a.nomination_id, a.status.value) for a in out.awards] == [
        (nomination.nomination_id, "drafted")]
    [event] = await events(conn, start)
    assert event["type"] == "exemplary_model.award_linked"
    assert event["nomination_id"] == str(nomination.nomination_id)
    with pytest.raises(StateConflict):
        await service.link_award(conn, place.reporter(place.a1), model.model_id,
                                 AwardLinkIn(nomination_id=nomination.nomination_id))
    with pytest.raises(AppError) as e:
        await service.link_award(conn, place.reporter(place.a1), model.model_id,
                                 AwardLinkIn(nomination_id=uuid.uuid4()))
    assert e.value.status_code == 422
    # the model is public data, the drafted dossier is not: a reader outside its subtree sees
    # the model without it, one over its proposing unit sees it
    outsider = place.reporter(place.b1, sub="outsider")
    assert (await service.read_model(conn, outsider, model.model_id)).awards == []
    page = await service.search(conn, outsider, year=YEAR, unit_id=None, kind=None,
                                recognised=True, limit=50, offset=0)
    assert [m.awards for m in page.items if m.model_id == model.model_id] == [[]]
    mine = await service.read_model(conn, place.reporter(place.a1), model.model_id)
    assert [a.nomination_id for a in mine.awards] == [nomination.nomination_id]


async def test_recognised_models_are_public_data_proposals_are_read_in_scope(
        conn: asyncpg.Connection, place: Place) -> None:
    proposal = await service.register(conn, place.reporter(place.a1), model_in(place.a1))
    model = await recognised(conn, place)
    outsider = place.reporter(place.b1, sub="outsider")
    page = await service.search(conn, outsider, year=YEAR, unit_id=place.district_a, kind=None,
                                recognised=None, limit=50, offset=0)
    assert [m.model_id for m in page.items] == [model.model_id]
    with pytest.raises(AppError) as e:
        await service.read_model(conn, outsider, proposal.model_id)
    assert e.value.status_code == 403
    assert (await service.read_model(conn, outsider, model.model_id)).recognised
    mine = await service.search(conn, place.reporter(place.a1), year=YEAR,
                                unit_id=place.district_a, kind=None, recognised=False,
                                limit=50, offset=0)
    assert [m.model_id for m in mine.items] == [proposal.model_id]
    both = await service.search(conn, place.board, year=YEAR, unit_id=place.province,
                                kind=ExemplaryKind.LIVELIHOOD_MODEL, recognised=None,
                                limit=50, offset=0)
    assert {m.model_id for m in both.items} == {proposal.model_id, model.model_id}
    assert both.total == 2
    none = await service.search(conn, place.board, year=YEAR, unit_id=place.province,
                                kind=ExemplaryKind.INITIATIVE, recognised=None, limit=50,
                                offset=0)
    assert none.total == 0
    assert "exemplary_model.read" in await audits(conn, model.model_id)
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action ="
                               " 'exemplary_model.list' AND actor = 'outsider'") == 1


async def test_candidates_are_the_communes_whose_figures_stand_out(
        conn: asyncpg.Connection, place: Place) -> None:
    system = context(sub="system")
    campaign = uuid.uuid4()

    async def report(unit: uuid.UUID, year: int, poor: int, escaped: int = 0) -> None:
        r = report_submitted(campaign, unit, year, poor)
        values = {**r.values, "escaped_poverty": escaped}
        await core.record_report(conn, system, r.model_copy(update={"values": values}),
                                 uuid.uuid4())

    await report(place.a1, YEAR - 1, 1000)
    await report(place.a1, YEAR, 700, escaped=50)  # 3 points
    await report(place.a2, YEAR - 1, 1000)
    await report(place.a2, YEAR, 900, escaped=300)  # 1 point, most out of poverty
    await report(place.b1, YEAR, 500)  # no year before
    await service.register(conn, place.reporter(place.a1), model_in(place.a1))
    out = await service.candidates(conn, YEAR, place.province, 1)
    assert [(c.unit_id, c.reasons, c.models_registered) for c in out] == [
        (place.a1, ["best_reduction"], 1), (place.a2, ["most_escaped"], 0)]
    assert out[0].reduction_pp == pytest.approx(3.0) and out[0].name == "Xã Hóa Hợp"
    only_b = await service.candidates(conn, YEAR, place.b1, 5)
    assert only_b == []


# --------------------------------------------------------------------------- the routes


async def test_routes_check_roles_and_bodies(awards: httpx.AsyncClient, tokens: Tokens,
                                             world: World) -> None:
    r = await awards.post("/v1/exemplary-models", json={})
    assert_problem(r, 401)
    body = {"name": "Tổ hợp tác <đan lát>", "unit_id": str(world.commune),
            "kind": "collective", "description": "Đan lát xuất khẩu", "year": YEAR}
    assert_problem(await awards.post("/v1/exemplary-models", json=body,
                                     headers=tokens(Role.VIEWER, world.commune)), 403)
    assert_problem(await awards.post("/v1/exemplary-models", json={**body, "kind": "x"},
                                     headers=tokens.reporter(world.commune)), 422, "kind")
    assert_problem(await awards.post("/v1/exemplary-models",
                                     json={**body, "description": "a\x07b"},
                                     headers=tokens.reporter(world.commune)), 422,
                   "description")
    model = ok(await awards.post("/v1/exemplary-models", json=body,
                                 headers=tokens.reporter(world.commune)), 201)
    url = f"/v1/exemplary-models/{model['model_id']}"
    decision = {"recognised_by": "UBND tỉnh", "decision_number": "7/QĐ-UBND",
                "decided_on": "2025-02-01"}
    assert_problem(await awards.post(url + "/recognise", json=decision,
                                     headers=tokens.admin), 403)
    assert_problem(await awards.post(url + "/recognise", json=decision,
                                     headers=tokens.council), 403)
    done = ok(await awards.post(url + "/recognise", json=decision, headers=tokens.board))
    assert done["recognised"] and done["recognition"]["decision_number"] == "7/QĐ-UBND"
    assert_problem(await awards.post(url + "/recognise", json=decision,
                                     headers=tokens.board), 409)
    read = ok(await awards.get(url, headers=tokens(Role.VIEWER, world.district_b)))
    assert read["name"] == "Tổ hợp tác <đan lát>"
    assert_problem(await awards.get(f"/v1/exemplary-models/{uuid.uuid4()}",
                                    headers=tokens.board), 404)
    page = ok(await awards.get("/v1/exemplary-models", params={
        "year": YEAR, "recognised": "true", "unit_id": str(world.district_a)},
        headers=tokens(Role.VIEWER, world.district_b)))
    assert model["model_id"] in [m["model_id"] for m in page["items"]]
    candidates = ok(await awards.get("/v1/exemplary-models/candidates", params={
        "year": YEAR, "unit_id": str(world.district_b)}, headers=tokens.board))
    assert str(world.cand_eligible) in [c["unit_id"] for c in candidates]
    by_unit = {c["unit_id"]: c for c in candidates}
    assert by_unit[str(world.cand_eligible)]["reduction_pp"] == pytest.approx(2.0)
    assert by_unit[str(world.cand_short)]["reduction_pp"] == pytest.approx(1.99)
