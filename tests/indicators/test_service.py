"""Use cases of services/indicators/service.py on the real PostgreSQL, each test inside a
transaction rolled back at its end. No Kafka: an event stops in the outbox, in the same
transaction as the change; units are put straight into the service's copy of the hierarchy.

The rules of reports (validation, warnings, derived values, aggregation, deadlines, the
lifecycle) are tested here; roles, status codes and problem bodies in ``test_api.py``."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from chungtay_common import clock, hierarchy
from chungtay_common.auth import Role
from chungtay_common.clock import VN
from chungtay_common.context import Context
from chungtay_common.contracts.awards import AwardRuleChanged
from chungtay_common.contracts.registration import UnitKind, UnitSnapshot, UnitVersion
from chungtay_common.errors import Forbidden, InvalidInput, NotFound
from chungtay_common.events import SYSTEM_ACTOR, new_envelope
from chungtay_common.refusals import NotAllowed, RuleBroken, StateConflict
from chungtay_common.topics import topic_name
from services.indicators import consumers, domain, service
from services.indicators.schemas import (
    CampaignIn,
    ConfirmIn,
    DataMigrationIn,
    IndicatorIn,
    ReasonIn,
    ReportOut,
    ReportRef,
    SubmitIn,
    TargetIn,
    ValuesIn,
)
from services.indicators.settings import IndicatorsSettings
from tests.conftest import next_code
from tests.indicators.conftest import SUBKINDS, Tree, count_rows
from tests.support import context

Conn = asyncpg.Connection
Json = dict[str, Any]
ADMIN = context(Role.ADMIN, sub="admin")
# another administrator: whoever submitted a report does not also accept it
CHECKER = context(Role.ADMIN, sub="admin-2")
COMMUNE = UnitKind.COMMUNE

VALUES: Json = {"households_total": 1000, "poor_households": 100,
                "near_poor_households": 80, "escaped_poverty": 20, "newly_poor": 5,
                "fell_back_into_poverty": 2, "initiatives": 3}


def values(**changes: Any) -> Json:
    return {k: v for k, v in {**VALUES, **changes}.items() if v is not None}


async def new_campaign(conn: Conn, years: tuple[int, int] = (2090, 2091),
                       kinds: tuple[UnitKind, ...] = (UnitKind.DISTRICT, COMMUNE)) -> uuid.UUID:
    out = await service.create_campaign(conn, ADMIN, CampaignIn(
        code=f"c-{uuid.uuid4().hex[:12]}", name="Chung tay vì người nghèo",
        first_year=years[0], last_year=years[1], participating_kinds=list(kinds)))
    return out.campaign_id


async def submit(conn: Conn, campaign: uuid.UUID, unit: uuid.UUID, year: int,
                 report: Json | None = None, ctx: Context = ADMIN) -> ReportOut:
    return await service.submit_report(conn, ctx, ReportRef(campaign, unit, year),
                                       SubmitIn(values=report))


async def save(conn: Conn, campaign: uuid.UUID, unit: uuid.UUID, year: int, report: Json
               ) -> ReportOut:
    return await service.save_report(conn, ADMIN, ReportRef(campaign, unit, year),
                                     ValuesIn(values=report))


async def set_target(conn: Conn, campaign: uuid.UUID, year: int, unit: uuid.UUID,
                     reduction_pp_min: float) -> None:
    await service.set_target(conn, ADMIN, campaign, year, unit,
                             TargetIn(reduction_pp_min=reduction_pp_min))


def fields(exc: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return sorted(e.field for e in exc.value.errors)


# ---------------------------------------------------------------------------------------------
# corrections, derived values, aggregates


async def test_a_correction_after_submission_replaces_the_values(conn: Conn,
                                                                 held_tree: Tree) -> None:
    t, campaign = held_tree, await new_campaign(conn)
    await submit(conn, campaign, t.commune_a1, 2090, values(initiatives=3))
    corrected = values(households_total=1200, poor_households=90, initiatives=None)
    out = await submit(conn, campaign, t.commune_a1, 2090, corrected)
    assert (out.status, out.version, out.values) == ("submitted", 2, corrected)
    assert out.derived.poor_rate_pct == pytest.approx(7.5)
    got = await service.get_report(conn, ReportRef(campaign, t.commune_a1, 2090))
    assert got.values == corrected
    assert await conn.fetchval("SELECT count(*) FROM reports WHERE campaign_id = $1"
                               " AND unit_id = $2", campaign, t.commune_a1) == 1

    await submit(conn, campaign, t.commune_a2, 2090,
                 values(households_total=800, poor_households=30, initiatives=None))
    sums = await service.aggregate(conn, campaign, 2090, t.district_a, COMMUNE)
    assert sums.reports == 2
    assert sums.values["households_total"] == 2000
    assert sums.values["poor_households"] == 120
    assert "initiatives" not in sums.values  # only in the replaced submission
    assert sums.derived.poor_rate_pct == pytest.approx(6.0)


async def test_rates_above_a_unit_are_a_ratio_of_sums(conn: Conn, held_tree: Tree) -> None:
    t, campaign = held_tree, await new_campaign(conn)
    small = values(households_total=100, poor_households=50, near_poor_households=10)
    large = values(households_total=10_000, poor_households=100, near_poor_households=200)
    await submit(conn, campaign, t.commune_a1, 2090, small)
    await submit(conn, campaign, t.commune_a2, 2090, large)
    await save(conn, campaign, t.commune_b1, 2090, large)  # a saved draft does not count
    got = await service.aggregate(conn, campaign, 2090, t.district_a, COMMUNE)
    assert got.reports == 2
    assert got.values["households_total"] == 10_100
    assert got.derived.poor_rate_pct == pytest.approx(150 / 10_100 * 100)
    assert got.derived.poor_rate_pct == pytest.approx(1.485, abs=0.0005)  # not 25.5 %
    province = await service.aggregate(conn, campaign, 2090, t.province, COMMUNE)
    assert (province.reports, province.values["poor_households"]) == (2, 150)
    with pytest.raises(InvalidInput) as refused:
        await service.aggregate(conn, campaign, 2090, uuid.uuid4(), COMMUNE)
    assert fields(refused) == ["unit_id"]


async def test_reduction_and_target_attainment_from_last_years_report(
        conn: Conn, held_tree: Tree) -> None:
    unit, campaign = held_tree.commune_a1, await new_campaign(conn)
    await set_target(conn, campaign, 2091, unit, 1.8)
    await submit(conn, campaign, unit, 2090, values(
        households_total=10_000, poor_households=510, near_poor_households=300))
    # 510 - 200 escaped + 15 newly poor + 5 fell back = 330: exactly 1.80 points down
    report = await submit(conn, campaign, unit, 2091, values(
        households_total=10_000, poor_households=330, near_poor_households=300,
        escaped_poverty=200, newly_poor=15, fell_back_into_poverty=5))
    assert report.warnings == []
    assert report.derived.reduction_pp == pytest.approx(1.8)
    assert report.derived.target_attainment_pct == pytest.approx(100.0)
    assert report.derived.target_met is True
    short = await submit(conn, campaign, unit, 2091, values(
        households_total=10_000, poor_households=331, near_poor_households=300,
        escaped_poverty=199, newly_poor=15, fell_back_into_poverty=5))
    assert short.derived.reduction_pp == pytest.approx(1.79)
    assert short.derived.target_met is False


async def test_a_target_of_zero_is_met_without_an_increase(conn: Conn, held_tree: Tree) -> None:
    unit, campaign = held_tree.commune_a2, await new_campaign(conn)
    await set_target(conn, campaign, 2091, unit, 0)
    await submit(conn, campaign, unit, 2090, values())
    report = await submit(conn, campaign, unit, 2091, values())
    assert report.derived.reduction_pp == 0
    assert report.derived.target_met is True
    assert report.derived.target_attainment_pct is None


async def test_warnings_are_returned_but_do_not_block(conn: Conn, held_tree: Tree) -> None:
    unit, campaign = held_tree.commune_b1, await new_campaign(conn)
    await submit(conn, campaign, unit, 2090, values())
    report = await submit(conn, campaign, unit, 2091, values(
        poor_households=300, near_poor_households=100))
    assert report.status == "submitted"
    assert {(w.code, w.field) for w in report.warnings} == {
        ("balance", "values.poor_households"), ("rate_jump", "values.poor_households"),
        ("outside_history", "values.poor_households")}


async def test_the_aggregate_reduction_compares_the_units_that_reported_both_years(
        conn: Conn, held_tree: Tree) -> None:
    t, campaign = held_tree, await new_campaign(conn)
    await submit(conn, campaign, t.commune_a1, 2090,
                 values(households_total=1000, poor_households=100))
    await submit(conn, campaign, t.commune_a2, 2090,
                 values(households_total=1000, poor_households=300))
    # only A1 reports in 2091: 10 % → 9 %, one point; not 20 % (both) → 9 % (A1 alone)
    await submit(conn, campaign, t.commune_a1, 2091,
                 values(households_total=1000, poor_households=90))
    await set_target(conn, campaign, 2091, t.district_a, 1.5)
    got = await service.aggregate(conn, campaign, 2091, t.district_a, COMMUNE)
    assert (got.reports, got.previous_reports, got.reduction_reports) == (1, 2, 1)
    assert got.derived.poor_rate_pct == pytest.approx(9.0)
    assert got.derived.reduction_pp == pytest.approx(1.0)
    assert got.derived.target_met is False
    first = await service.aggregate(conn, campaign, 2090, t.district_a, COMMUNE)
    assert (first.reports, first.previous_reports, first.reduction_reports) == (2, 0, 0)
    assert first.derived.reduction_pp is None


async def test_earlier_years_are_read_in_the_same_campaign_only(conn: Conn,
                                                               held_tree: Tree) -> None:
    t, campaign = held_tree, await new_campaign(conn)
    other = await new_campaign(conn)  # another standard of poverty
    await submit(conn, other, t.commune_a1, 2090, values())
    report = await submit(conn, campaign, t.commune_a1, 2091, values(
        poor_households=300, near_poor_households=100))
    assert report.warnings == []
    assert report.derived.reduction_pp is None
    await set_target(conn, campaign, 2091, t.district_a, 1.0)
    got = await service.aggregate(conn, campaign, 2091, t.district_a, COMMUNE)
    assert got.previous_reports == 0 and got.derived.reduction_pp is None


# ---------------------------------------------------------------------------------------------
# refusals


async def test_submission_refuses_a_report_missing_a_required_indicator(
        conn: Conn, held_tree: Tree) -> None:
    unit, campaign = held_tree.commune_a2, await new_campaign(conn)
    partial = values(escaped_poverty=None, newly_poor=None)
    before = await count_rows(conn)
    with pytest.raises(InvalidInput) as refused:
        await submit(conn, campaign, unit, 2090, partial)
    assert fields(refused) == ["values.escaped_poverty", "values.newly_poor"]
    assert await count_rows(conn) == before  # refused before anything is written
    # the same values may be saved as a draft, but the draft cannot be submitted
    assert (await save(conn, campaign, unit, 2090, partial)).status == "draft"
    with pytest.raises(InvalidInput) as refused:
        await submit(conn, campaign, unit, 2090)
    assert fields(refused) == ["values.escaped_poverty", "values.newly_poor"]
    report = await service.get_report(conn, ReportRef(campaign, unit, 2090))
    assert (report.status, report.version) == ("draft", 1)


async def test_a_year_outside_the_campaign_or_a_unit_not_active_then_is_refused(
        conn: Conn, held_tree: Tree) -> None:
    t = held_tree  # its units start on 2017-01-01
    campaign = await new_campaign(conn, (2016, 2018))
    before = await count_rows(conn)
    for unit, year, field in ((t.commune_a1, 2019, "year"), (t.commune_a1, 2016, "unit_id"),
                              (uuid.uuid4(), 2017, "unit_id"),
                              # a kind that does not take part in the campaign
                              (t.province, 2017, "unit_id")):
        with pytest.raises(InvalidInput) as refused:
            await save(conn, campaign, unit, year, VALUES)
        assert fields(refused) == [field], (unit, year)
    assert await count_rows(conn) == before
    with pytest.raises(NotFound):
        await save(conn, uuid.uuid4(), t.commune_a1, 2017, VALUES)


async def test_a_refused_transition_is_a_conflict_and_changes_nothing(
        conn: Conn, held_tree: Tree) -> None:
    unit, campaign = held_tree.commune_a1, await new_campaign(conn)
    ref = ReportRef(campaign, unit, 2090)
    await save(conn, campaign, unit, 2090, VALUES)
    with pytest.raises(StateConflict, match="cannot accept a report that is draft"):
        await service.accept_report(conn, CHECKER, ref)
    await submit(conn, campaign, unit, 2090)
    accepted = await service.accept_report(conn, CHECKER, ref)
    assert (accepted.status, accepted.version) == ("accepted", 3)
    for write in (save(conn, campaign, unit, 2090, VALUES), submit(conn, campaign, unit, 2090),
                  service.return_report(conn, ADMIN, ref, ReasonIn(reason="x"))):
        with pytest.raises(StateConflict, match="accepted and locked"):
            await write
    assert (await service.get_report(conn, ref)).version == 3
    reopened = await service.reopen_report(conn, ADMIN, ref, ReasonIn(reason="Phúc tra"))
    assert (reopened.status, reopened.version) == ("reopened", 4)
    with pytest.raises(NotFound):  # a review needs a report
        await service.accept_report(conn, CHECKER,
                                    ReportRef(campaign, held_tree.commune_a2, 2090))


async def test_report_statuses_are_labelled_in_vietnamese(conn: Conn, held_tree: Tree) -> None:
    unit, campaign = held_tree.commune_a1, await new_campaign(conn)
    ref = ReportRef(campaign, unit, 2090)
    labels = [(await save(conn, campaign, unit, 2090, VALUES)).status_label,
              (await submit(conn, campaign, unit, 2090)).status_label,
              (await service.return_report(conn, ADMIN, ref, ReasonIn(reason="x"))).status_label,
              (await submit(conn, campaign, unit, 2090)).status_label,
              (await service.accept_report(conn, CHECKER, ref)).status_label,
              (await service.reopen_report(conn, ADMIN, ref, ReasonIn(reason="y"))).status_label]
    assert labels == ["Dự thảo", "Đã nộp", "Trả lại", "Đã nộp", "Đã tiếp nhận", "Mở lại"]
    out = (await service.get_report(conn, ref)).model_dump(mode="json")
    assert (out["status"], out["status_label"]) == ("reopened", "Mở lại")
    history = await service.report_history(conn, ADMIN, ref)
    assert [v.model_dump(mode="json")["status_label"] for v in history] == labels
    board = await service.status_board(conn, campaign, 2090, held_tree.district_a)
    assert {(u.status, u.status_label) for u in board.units} == {
        ("reopened", "Mở lại"), (None, None)}


async def test_estimates_become_official_figures_as_a_new_version_with_who_and_when(
        conn: Conn, held_tree: Tree) -> None:
    unit, campaign = held_tree.commune_a1, await new_campaign(conn)
    ref = ReportRef(campaign, unit, 2090)
    with pytest.raises(StateConflict, match="cannot confirm a report that is draft"):
        await save(conn, campaign, unit, 2090, VALUES)
        await service.confirm_report(conn, ADMIN, ref, ConfirmIn())
    estimated = await submit(conn, campaign, unit, 2090)
    assert (estimated.figures, estimated.figures_label) == ("estimated", "Sơ bộ")
    await service.accept_report(conn, CHECKER, ref)
    clerk = context(Role.REPORTER, unit=unit, sub="thong-ke-xa")
    with pytest.raises(NotAllowed):  # the level above makes figures official, as it accepts
        await service.confirm_report(conn, clerk, ref, ConfirmIn())
    district = context(Role.REVIEWER, unit=held_tree.district_a, sub="phong-ldtbxh-huyen")
    official = await service.confirm_report(conn, district, ref, ConfirmIn(
        values=values(poor_households=96), note="Quyết định phê duyệt kết quả rà soát"))
    assert (official.figures, official.figures_label) == ("official", "Chính thức")
    assert (official.status, official.version) == ("accepted", estimated.version + 2)
    assert official.values["poor_households"] == 96
    last = (await service.report_history(conn, ADMIN, ref))[-1]
    assert (last.action, last.figures, last.actor) == ("confirm", "official",
                                                       "phong-ldtbxh-huyen")
    with pytest.raises(StateConflict, match="official already"):  # once
        await service.confirm_report(conn, district, ref, ConfirmIn(values=values()))
    assert last.note == "Quyết định phê duyệt kết quả rà soát"
    sent = await conn.fetch(
        "SELECT body FROM outbox WHERE event_type = 'report.submitted'"
        " AND body->'payload'->>'report_id' = $1 ORDER BY id", str(official.report_id))
    assert [(b["body"]["schema_version"], b["body"]["payload"]["figures"],
             b["body"]["payload"]["status"]) for b in sent] == [
        (2, "estimated", "submitted"), (2, "official", "accepted")]
    reopened = await service.reopen_report(conn, ADMIN, ref, ReasonIn(reason="Phúc tra"))
    resubmitted = await submit(conn, campaign, unit, 2090, values(poor_households=97))
    assert (reopened.figures, resubmitted.figures) == ("official", "estimated")


async def test_derived_indicators_cannot_be_defined_or_retired(conn: Conn) -> None:
    body = {"code": "poor_rate_pct", "name_vi": "Tỷ lệ", "name_en": "Rate",
            "unit_of_measure": "percent", "value_type": "decimal", "reported_by": ["commune"]}
    with pytest.raises(RuleBroken) as refused:
        await service.define_indicator(conn, ADMIN, IndicatorIn(**body))
    assert refused.value.field == "code"
    with pytest.raises(RuleBroken) as refused:
        await service.retire_indicator(conn, ADMIN, "reduction_pp")
    assert refused.value.field == "code"
    listed = {i.code: i for i in await service.list_indicators(conn)}
    assert listed["poor_rate_pct"].derived is True
    assert listed["reduction_pp"].retired is False
    with pytest.raises(RuleBroken) as refused:
        await service.define_indicator(conn, ADMIN, IndicatorIn(
            code=f"t_{uuid.uuid4().hex[:8]}", name_vi="x", name_en="x", unit_of_measure="x",
            min_value=10, max_value=5, reported_by=[COMMUNE]))
    assert refused.value.field == "max_value"


@pytest.mark.parametrize("code", ["households_total", "poor_households",
                                  "near_poor_households"])
async def test_an_indicator_the_derived_figures_read_cannot_be_retired(
        conn: Conn, held_tree: Tree, code: str) -> None:
    campaign = await new_campaign(conn)
    with pytest.raises(StateConflict, match=f"{code} cannot be retired: the derived figures"):
        await service.retire_indicator(conn, ADMIN, code)
    listed = {i.code: i for i in await service.list_indicators(conn)}
    assert listed[code].retired is False
    # so every report can still be submitted
    assert (await submit(conn, campaign, held_tree.commune_a1, 2090, VALUES)).status \
        == "submitted"


async def forget_award_rules(conn: Conn) -> None:
    """Award rules other tests' forms published (consumed by the app of the session) do not
    stop this test's retirements; rolled back with the test."""
    await conn.execute("DELETE FROM award_rule_indicators")


def rule_changed(form_code: str, version: int, *indicators: str) -> AwardRuleChanged:
    return AwardRuleChanged(form_code=form_code, version=version, rule={"all": [
        {"type": "report_on_time"},
        *({"type": "indicator_at_least", "indicator": code, "value": 1} for code in indicators)]})


async def test_an_indicator_read_by_a_current_award_rule_cannot_be_retired(conn: Conn) -> None:
    await forget_award_rules(conn)
    form = f"t_{uuid.uuid4().hex[:8]}"
    await consumers.on_award_rule_changed(conn, new_envelope(
        payload=rule_changed(form, 2, "initiatives", "livelihood_models"), producer="awards",
        subject_id=form, actor=SYSTEM_ACTOR))
    with pytest.raises(StateConflict, match=f"the current award rule of {form} reads it"):
        await service.retire_indicator(conn, ADMIN, "initiatives")
    # an older version arriving late changes nothing
    await service.record_award_rule(conn, rule_changed(form, 1))
    with pytest.raises(StateConflict):
        await service.retire_indicator(conn, ADMIN, "initiatives")
    # once the form's current rule no longer reads it, it may be retired
    await service.record_award_rule(conn, rule_changed(form, 3, "livelihood_models"))
    assert (await service.retire_indicator(conn, ADMIN, "initiatives")).retired is True
    with pytest.raises(StateConflict):
        await service.retire_indicator(conn, ADMIN, "livelihood_models")


async def test_a_campaign_keeps_the_catalogue_it_was_created_with(
        conn: Conn, held_tree: Tree) -> None:
    await forget_award_rules(conn)
    t, earlier = held_tree, await new_campaign(conn)
    # after the campaign is created the catalogue changes: a retirement, new bounds and a new
    # required indicator
    await service.retire_indicator(conn, ADMIN, "livelihood_models")
    await service.define_indicator(conn, ADMIN, IndicatorIn(
        code="initiatives", name_vi="Sáng kiến, cách làm hay", name_en="Initiatives",
        unit_of_measure="count", max_value=2, reported_by=list(domain.REPORTING_KINDS)))
    new_code = f"t_{uuid.uuid4().hex[:8]}"
    await service.define_indicator(conn, ADMIN, IndicatorIn(
        code=new_code, name_vi="Số hộ được vay vốn", name_en="Households lent",
        unit_of_measure="households", reported_by=[COMMUNE], required=True))
    later = await new_campaign(conn)
    report = values(livelihood_models=4)  # initiatives: 3
    # the earlier campaign's reports are validated against its own catalogue
    done = await submit(conn, earlier, t.commune_a1, 2090, report)
    assert (done.status, done.values["livelihood_models"]) == ("submitted", 4)
    kept = {i.code: i for i in await service.list_campaign_indicators(conn, earlier)}
    assert kept["livelihood_models"].retired is False and kept["initiatives"].version == 1
    assert new_code not in kept
    # a campaign created afterwards takes the catalogue as it is then
    with pytest.raises(InvalidInput) as refused:
        await submit(conn, later, t.commune_a1, 2090, report)
    assert fields(refused) == ["values.initiatives", "values.livelihood_models"]
    with pytest.raises(InvalidInput) as refused:
        await submit(conn, later, t.commune_a1, 2090, values(initiatives=2))
    assert fields(refused) == [f"values.{new_code}"]
    now = {i.code: i for i in await service.list_campaign_indicators(conn, later)}
    assert now["livelihood_models"].retired and now[new_code].required


async def test_a_target_is_set_for_a_year_of_the_campaign_and_a_unit_active_then(
        conn: Conn, held_tree: Tree) -> None:
    campaign = await new_campaign(conn, (2017, 2018))
    target = TargetIn(reduction_pp_min=1.5)
    for year, unit, field in ((2019, held_tree.district_a, "year"),
                              (2017, uuid.uuid4(), "unit_id")):
        with pytest.raises(InvalidInput) as refused:
            await service.set_target(conn, ADMIN, campaign, year, unit, target)
        assert fields(refused) == [field]
    with pytest.raises(RuleBroken) as broken:
        await service.set_target(conn, ADMIN, campaign, 2017, held_tree.district_a,
                                 TargetIn(households_out_min=10, households_out_max=9))
    assert broken.value.field == "households_out_max"


# ---------------------------------------------------------------------------------------------
# deadlines: punctuality, the status board and overdue notices

YEAR = 2085  # no campaign committed by another test has a cycle due by then (clock.frozen)
BEFORE_DUE = datetime(YEAR, 6, 1, 9, tzinfo=VN)
AFTER_DUE = datetime(YEAR, 12, 1, 9, tzinfo=VN)


async def test_the_status_board_before_and_after_the_due_date(conn: Conn,
                                                              held_tree: Tree) -> None:
    t, campaign = held_tree, await new_campaign(conn, (YEAR, YEAR))
    with clock.frozen(BEFORE_DUE):
        assert (await submit(conn, campaign, t.commune_a1, YEAR, VALUES)).on_time is True
        board = await service.status_board(conn, campaign, YEAR, t.province)
    assert board.due_at == domain.due_at(YEAR)
    assert {u.unit_id for u in board.units} == set(t.units) - {t.province}
    assert board.counts == {"on_time": 1, "not_yet_due": 4}

    with clock.frozen(AFTER_DUE):
        late = await submit(conn, campaign, t.commune_a2, YEAR, VALUES)
        await save(conn, campaign, t.commune_b1, YEAR, VALUES)
        # corrected after the due date: the first submission was on time
        again = await submit(conn, campaign, t.commune_a1, YEAR, values(initiatives=4))
        board = await service.status_board(conn, campaign, YEAR, t.province)
        district = await service.status_board(conn, campaign, YEAR, t.district_a)
    assert (late.on_time, late.submitted_at) == (False, AFTER_DUE)
    assert (again.on_time, again.first_submitted_at) == (True, BEFORE_DUE)
    by_unit = {u.unit_id: u for u in board.units}
    assert (by_unit[t.commune_a1].punctuality, by_unit[t.commune_a2].punctuality) == (
        "on_time", "late")
    # a draft is not a report
    assert (by_unit[t.commune_b1].status, by_unit[t.commune_b1].punctuality) == (
        "draft", "missing")
    assert by_unit[t.district_b].status is None
    assert board.counts == {"on_time": 1, "late": 1, "missing": 3}
    assert district.counts == {"on_time": 1, "late": 1, "missing": 1}
    assert {u.unit_id for u in district.units} == {t.district_a, t.commune_a1, t.commune_a2}
    with pytest.raises(InvalidInput) as refused:
        await service.status_board(conn, campaign, YEAR + 1, None)
    assert fields(refused) == ["year"]


async def overdue_sent(conn: Conn, campaign: uuid.UUID, tree: Tree) -> list[Json]:
    """The ``report.overdue`` events of ``campaign`` about ``tree``'s units in the outbox."""
    rows = await conn.fetch(
        "SELECT topic, body FROM outbox WHERE event_type = 'report.overdue'"
        " AND (body->'payload'->>'campaign_id')::uuid = $1 ORDER BY id", campaign)
    return [{"topic": r["topic"], **r["body"]} for r in rows
            if uuid.UUID(r["body"]["payload"]["unit_id"]) in tree.units]


async def test_report_overdue_goes_out_once_per_unit_missing_at_the_due_date(
        conn: Conn, held_tree: Tree, settings: IndicatorsSettings) -> None:
    t = held_tree
    campaign = await new_campaign(conn, (YEAR, YEAR), kinds=(COMMUNE,))
    with clock.frozen(BEFORE_DUE):
        await service.emit_overdue(conn, Context.system(settings))
        assert await overdue_sent(conn, campaign, t) == []  # not yet due
    with clock.frozen(AFTER_DUE):
        # submitted after the due date: the unit was still missing when it passed
        await submit(conn, campaign, t.commune_a1, YEAR, VALUES)
        await service.emit_overdue(conn, Context.system(settings))
        sent = await overdue_sent(conn, campaign, t)
        await service.emit_overdue(conn, Context.system(settings))  # the job runs again
        assert await overdue_sent(conn, campaign, t) == sent
    assert sorted(uuid.UUID(e["payload"]["unit_id"]) for e in sent) == sorted(t.communes)
    # the service's own event: its topic and name, acting as the system
    assert {(e["topic"], e["producer"], e["actor"]["subject"], tuple(e["actor"]["roles"]))
            for e in sent} == {(topic_name("indicators", settings.topic_namespace),
                                "indicators", "system", ("system",))}
    assert {datetime.fromisoformat(e["payload"]["due_at"]) for e in sent} == {
        domain.due_at(YEAR)}


async def test_no_overdue_notice_for_a_cycle_already_past_when_the_campaign_was_created(
        conn: Conn, held_tree: Tree, settings: IndicatorsSettings) -> None:
    # 2017 and 2018 were due before the campaign existed
    campaign = await new_campaign(conn, (2017, 2018), kinds=(COMMUNE,))
    await service.emit_overdue(conn, Context.system(settings))
    assert await overdue_sent(conn, campaign, held_tree) == []
    assert await conn.fetchval(
        "SELECT count(*) FROM overdue_notices WHERE campaign_id = $1", campaign) == 0
    # the status board still shows who is missing
    board = await service.status_board(conn, campaign, 2017, held_tree.province)
    assert board.counts == {"missing": 3}


# ---------------------------------------------------------------------------------------------
# the system's own writes, and metrics after the commit


async def test_the_catalogue_is_seeded_by_the_system_once(
        conn: Conn, settings: IndicatorsSettings) -> None:
    system = Context.system(settings)
    assert await service.seed_catalogue(conn, system) == 0  # seeded at start-up already
    await conn.execute("DELETE FROM indicators")
    assert await service.seed_catalogue(conn, system) == len(domain.SEED_CATALOGUE)
    events = await conn.fetch(
        "SELECT body FROM outbox WHERE event_type = 'indicator.defined'"
        " AND (body->>'correlation_id')::uuid = $1 ORDER BY id", system.correlation_id)
    assert [e["body"]["payload"]["code"] for e in events] == [
        i.code for i in domain.SEED_CATALOGUE]
    assert {(e["body"]["producer"], e["body"]["actor"]["subject"],
             tuple(e["body"]["actor"]["roles"])) for e in events} == {
        ("indicators", "system", ("system",))}
    audited = await conn.fetch(
        "SELECT actor, entity_id FROM audit_log WHERE action = 'indicator.seed'"
        " AND correlation_id = $1 ORDER BY id", system.correlation_id)
    assert [(r["actor"], r["entity_id"]) for r in audited] == [
        ("system", i.code) for i in domain.SEED_CATALOGUE]


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"chungtay_indicators_{name}_total", labels) or 0.0


async def test_a_submission_is_counted_once_its_transaction_commits(
        conn: Conn, held_tree: Tree) -> None:
    campaign = await new_campaign(conn)
    ctx = context(Role.ADMIN, sub="admin")

    def counts() -> tuple[float, float]:
        return (counted("reports_submitted", punctuality="on_time"),
                counted("report_actions", action="submit"))

    before = counts()
    await submit(conn, campaign, held_tree.commune_a1, 2090, VALUES, ctx)
    assert counts() == before  # not committed yet
    ctx.committed()
    assert counts() == (before[0] + 1, before[1] + 1)


# ---------------------------------------------------------------------------------------------
# authority on the day of the action

MOVED = date(2020, 1, 1)  # after the reports' year (2018), before today
ABOLISHED = date(2025, 7, 1)  # the district level abolished, provinces merged
# a 403 either way: chungtay_common.hierarchy refuses an acting unit gone with either
NO_AUTHORITY = (Forbidden, NotAllowed)


async def hold_history(conn: Conn, kind: UnitKind, *versions: tuple[date, date | None,
                                                                    uuid.UUID | None]
                       ) -> uuid.UUID:
    """A unit with several versions ``(valid_from, valid_to, parent)`` in the service's copy
    of the hierarchy."""
    unit_id, code = uuid.uuid4(), next_code()
    await hierarchy.apply_snapshot(conn, UnitSnapshot(
        unit_id=unit_id, kind=kind, revision=1, versions=[UnitVersion(
            valid_from=start, valid_to=end, code=code, name=f"{kind} {code}",
            subkind=SUBKINDS[kind], parent_id=parent) for start, end, parent in versions]))
    return unit_id


async def test_the_current_parent_reviews_a_report_of_a_commune_moved_after_its_year(
        conn: Conn, held_tree: Tree) -> None:
    t = held_tree
    # a commune of district A in 2018, moved to district B on 2020-01-01
    moved = await hold_history(conn, COMMUNE, (date(2017, 1, 1), MOVED, t.district_a),
                               (MOVED, None, t.district_b))
    campaign = await new_campaign(conn, (2017, 2018))
    ref = ReportRef(campaign, moved, 2018)
    # the report's unit is judged as it stood in 2018: a commune of district A then
    clerk = context(Role.REPORTER, unit=moved, sub="thong-ke-xa")
    await submit(conn, campaign, moved, 2018, VALUES, clerk)
    board_2018 = await service.status_board(conn, campaign, 2018, t.district_a)
    assert moved in {u.unit_id for u in board_2018.units}
    former = context(Role.REVIEWER, unit=t.district_a, sub="huyen-a")
    for review in (service.accept_report(conn, former, ref),
                   service.return_report(conn, former, ref, ReasonIn(reason="x"))):
        with pytest.raises(NotAllowed, match="level right above"):
            await review
    # its parent today reviews it
    current = context(Role.REVIEWER, unit=t.district_b, sub="huyen-b")
    accepted = await service.accept_report(conn, current, ref)
    assert accepted.status == "accepted"
    with pytest.raises(NotAllowed, match="level right above"):
        await service.confirm_report(conn, former, ref, ConfirmIn())
    assert (await service.confirm_report(conn, current, ref, ConfirmIn())).figures == "official"
    # who acted is read within the subtree of today: not by the former parent
    with pytest.raises(Forbidden):
        await service.report_history(conn, former, ref)
    assert [v.actor for v in await service.report_history(conn, current, ref)] == [
        "thong-ke-xa", "huyen-b", "huyen-b"]


async def test_a_unit_abolished_holds_no_authority_and_its_successor_does(conn: Conn) -> None:
    old_province = await hold_history(conn, UnitKind.PROVINCE, (date(2017, 1, 1), ABOLISHED,
                                                                 None))
    new_province = await hold_history(conn, UnitKind.PROVINCE, (ABOLISHED, None, None))
    district = await hold_history(conn, UnitKind.DISTRICT,
                                  (date(2017, 1, 1), ABOLISHED, old_province))
    commune = await hold_history(conn, COMMUNE, (date(2017, 1, 1), ABOLISHED, district),
                                 (ABOLISHED, None, new_province))
    campaign = await new_campaign(conn, (2017, 2018))
    ref = ReportRef(campaign, commune, 2018)
    await submit(conn, campaign, commune, 2018, VALUES,
                 context(Role.REPORTER, unit=commune, sub="thong-ke-xa"))
    # the district was the level above in 2018; it no longer exists
    abolished = context(Role.REVIEWER, unit=district, sub="huyen-cu")
    with pytest.raises(NO_AUTHORITY, match="does not exist on"):
        await service.accept_report(conn, abolished, ref)
    # nor does it write its own report of 2018 any more
    with pytest.raises(NO_AUTHORITY, match="does not exist on"):
        await service.save_report(conn, context(Role.REPORTER, unit=district, sub="huyen-cu"),
                                  ReportRef(campaign, district, 2018), ValuesIn(values=VALUES))
    # the old province's board has lost the commune, the new one's holds it
    old_board = context(Role.BOARD, unit=old_province, sub="ban-cu")
    new_board = context(Role.BOARD, unit=new_province, sub="ban-moi")
    with pytest.raises(NO_AUTHORITY, match="does not exist on"):
        await service.set_target(conn, old_board, campaign, 2018, commune,
                                 TargetIn(reduction_pp_min=1.0))
    target = await service.set_target(conn, new_board, campaign, 2018, commune,
                                      TargetIn(reduction_pp_min=1.0))
    assert target.unit_id == commune
    assert (await service.accept_report(conn, new_board, ref)).status == "accepted"


async def test_a_closed_unit_whose_district_is_gone_is_reviewed_by_the_level_above(
    conn: Conn,
) -> None:
    """A commune closed with its district: its reports go to the level above the district
    (the province), not to no one but the administrator."""
    province = await hold_history(conn, UnitKind.PROVINCE, (date(2017, 1, 1), None, None))
    district = await hold_history(conn, UnitKind.DISTRICT,
                                  (date(2017, 1, 1), ABOLISHED, province))
    commune = await hold_history(conn, COMMUNE, (date(2017, 1, 1), ABOLISHED, district))
    campaign = await new_campaign(conn, (2017, 2018))
    ref = ReportRef(campaign, commune, 2018)
    # the commune's own officials hold no authority since it was closed: the province enters
    await submit(conn, campaign, commune, 2018, VALUES,
                 context(Role.REPORTER, unit=province, sub="thong-ke-tinh"))
    reviewer = context(Role.REVIEWER, unit=province, sub="so-ld-tbxh")
    assert (await service.accept_report(conn, reviewer, ref)).status == "accepted"


# ---------------------------------------------------------------------------------------------
# separation of duties


async def test_whoever_submitted_a_report_neither_accepts_it_nor_makes_it_official(
        conn: Conn, held_tree: Tree) -> None:
    t, campaign = held_tree, await new_campaign(conn)
    ref = ReportRef(campaign, t.commune_a1, 2090)
    # a district official who may both enter its communes' reports and review them
    both = context(Role.REPORTER, Role.REVIEWER, unit=t.district_a, sub="can-bo-huyen")
    await submit(conn, campaign, t.commune_a1, 2090, VALUES, both)
    before = await count_rows(conn)
    with pytest.raises(NotAllowed, match="submitted this report may not accept it") as refused:
        await service.accept_report(conn, both, ref)
    assert getattr(refused.value.message, "vi", "").startswith("người đã nộp báo cáo")
    assert await count_rows(conn) == before
    # an administrator too
    await service.return_report(conn, both, ref, ReasonIn(reason="x"))
    await submit(conn, campaign, t.commune_a1, 2090, VALUES, ADMIN)
    with pytest.raises(NotAllowed):
        await service.accept_report(conn, ADMIN, ref)
    # the latest submission counts: the district official did not make this one
    assert (await service.accept_report(conn, both, ref)).status == "accepted"
    with pytest.raises(NotAllowed, match="may not make its figures official"):
        await service.confirm_report(conn, ADMIN, ref, ConfirmIn())
    assert (await service.confirm_report(conn, both, ref, ConfirmIn())).figures == "official"


# ---------------------------------------------------------------------------------------------
# data migrations: back-filled submissions


async def test_a_backfilled_submission_names_an_open_data_migration(
        conn: Conn, held_tree: Tree) -> None:
    unit, campaign = held_tree.commune_b1, await new_campaign(conn, (2017, 2018))
    ref = ReportRef(campaign, unit, 2018)
    when = datetime(2018, 11, 12, 9, tzinfo=VN)

    def backfill(migration_id: uuid.UUID | None, ctx: Context = ADMIN) -> Any:
        return service.write_report(conn, ctx, ref, domain.Action.SUBMIT, service.Entry(
            values=VALUES, submitted_at=when, migration_id=migration_id))

    before = await count_rows(conn)
    with pytest.raises(RuleBroken) as refused:
        await backfill(None)
    assert refused.value.field == "migration_id"
    with pytest.raises(RuleBroken) as refused:
        await backfill(uuid.uuid4())
    assert refused.value.field == "migration_id"
    closed = await service.open_data_migration(conn, ADMIN, DataMigrationIn(
        reference="CĐDL-01", reason="sổ năm 2017"))
    await service.close_data_migration(conn, ADMIN, closed.migration_id)
    with pytest.raises(RuleBroken, match="is closed") as refused:
        await backfill(closed.migration_id)
    assert refused.value.field == "migration_id"
    opened = await service.open_data_migration(conn, ADMIN, DataMigrationIn(
        reference="CĐDL-02", reason="sổ năm 2018"))
    with pytest.raises(NotAllowed):  # an administrator's only, as before
        await backfill(opened.migration_id, context(Role.REPORTER, unit=unit, sub="xa"))
    assert (await count_rows(conn))["report_versions"] == before["report_versions"]

    out = await backfill(opened.migration_id)
    assert (out.submitted_at, out.on_time) == (when, True)
    version = (await service.report_history(conn, ADMIN, ref))[-1]
    assert version.note == f"within data migration CĐDL-02 ({opened.migration_id})"
    audited = await conn.fetchval(
        "SELECT after FROM audit_log WHERE action = 'report.submit' AND entity_id = $1",
        str(out.report_id))
    assert audited["data_migration"]["migration_id"] == str(opened.migration_id)


async def test_data_migrations_are_opened_and_closed_by_an_administrator_and_audited(
        conn: Conn, held_tree: Tree) -> None:
    board = context(Role.BOARD, unit=held_tree.province, sub="ban")
    body = DataMigrationIn(reference="QĐ 12/2018", reason="nhập sổ báo cáo giấy")
    with pytest.raises(Forbidden):
        await service.open_data_migration(conn, board, body)
    opened = await service.open_data_migration(conn, ADMIN, body)
    assert (opened.opened_by, opened.open, opened.closed_at) == ("admin", True, None)
    with pytest.raises(Forbidden):
        await service.close_data_migration(conn, board, opened.migration_id)
    with pytest.raises(Forbidden):
        await service.list_data_migrations(conn, board.principal)
    closed = await service.close_data_migration(conn, CHECKER, opened.migration_id)
    assert (closed.closed_by, closed.open) == ("admin-2", False)
    with pytest.raises(StateConflict, match="closed already"):
        await service.close_data_migration(conn, ADMIN, opened.migration_id)
    with pytest.raises(NotFound):
        await service.close_data_migration(conn, ADMIN, uuid.uuid4())
    listed = await service.list_data_migrations(conn, ADMIN.principal)
    assert listed[0] == closed
    audited = await conn.fetch(
        "SELECT action, actor FROM audit_log WHERE entity_type = 'data_migration'"
        " AND entity_id = $1 ORDER BY id", str(opened.migration_id))
    assert [(r["action"], r["actor"]) for r in audited] == [
        ("data_migration.open", "admin"), ("data_migration.close", "admin-2")]
