"""The awards API over HTTP on the real stack: what HTTP and Kafka add to the use cases
(tokens, roles and scopes as status codes, problem bodies, idempotency, the consumers of the
indicators topic), the catalogue, registrations, evidence and the lists. The rules themselves
are tested on the use cases, in test_service.py."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from chungtay_common.auth import Role
from chungtay_common.context import Context
from chungtay_common.db import json_codecs
from services.awards import service
from services.awards.api import content_disposition
from services.awards.service import SEED_FORMS
from tests.awards.conftest import (
    DECISION,
    POOR_BEFORE,
    TARGET_PP,
    YEAR,
    Facts,
    Flow,
    Json,
    Tokens,
    World,
    awards_settings,
    report_submitted,
)
from tests.conftest import TestStack
from tests.support import assert_problem, eventually, ok

LDTT = "lao_dong_tien_tien"  # individuals; the district chairman grants it
GKH = "giay_khen_chu_tich_huyen"  # collectives; district chairman; report on time + target


async def get(client: httpx.AsyncClient, tokens: Tokens, n: Json) -> Json:
    r = await client.get(f"/v1/nominations/{n['nomination_id']}", headers=tokens.board)
    result: Json = ok(r, 200)
    return result


# --------------------------------------------------------------------------- catalogue


async def test_catalogue_is_seeded_with_its_rules(awards: httpx.AsyncClient,
                                                  tokens: Tokens) -> None:
    forms = {f["code"]: f for f in ok(await awards.get(
        "/v1/forms", headers=tokens.reporter(tokens.world.commune)))}
    seeded = {form.code: (form, rule) for form, rule in SEED_FORMS}
    assert len(seeded) == 18 and set(seeded) <= set(forms)
    for code, (form, rule) in seeded.items():
        got = forms[code]
        assert got["authority_level"] == form.authority_level.value
        assert got["rule_version"] == 1 and got["rule"] == rule
        assert got["above_province"] is (form.authority_level.value in (
            "prime_minister", "state_president"))
    assert forms["chien_si_thi_dua_cap_tinh"]["rule"] == SEED_FORMS[2][1]
    assert {k: forms["chien_si_thi_dua_cap_tinh"][k] for k in (
        "vote_threshold", "vote_comparison", "secret_ballot_required",
        "authority_level_label")} == {"vote_threshold": 0.9, "vote_comparison": "at_least",
                                      "secret_ballot_required": True,
                                      "authority_level_label": "Chủ tịch UBND tỉnh"}
    assert_problem(await awards.get("/v1/forms"), 401, type="unauthorized")


async def test_add_form(awards: httpx.AsyncClient, tokens: Tokens) -> None:
    body = {"code": "thu_giay_khen_xa", "name_vi": "Giấy khen (thử)",
            "category": "commendation", "for_whom": "household",
            "authority_level": "commune_chairman",
            "rule": {"all": [{"type": "no_award_within", "years": 1}]}}
    r = await awards.post("/v1/forms", headers=tokens.reporter(tokens.world.commune),
                          json=body)
    assert_problem(r, 403, type="forbidden")
    added = ok(await awards.post("/v1/forms", headers=tokens.board, json=body), 201)
    assert added["rule_version"] == 1 and added["above_province"] is False
    r = await awards.post("/v1/forms", headers=tokens.board, json=body)
    assert "exists" in assert_problem(r, 409, type="conflict")["detail"]
    bad = {**body, "code": "thu_sai", "rule": {"type": "reduction_at_least"}}
    assert_problem(await awards.post("/v1/forms", headers=tokens.board, json=bad), 422,
                   field="rule")
    central = {**body, "code": "thu_bang_khen_thu_tuong", "for_whom": "individual",
               "authority_level": "prime_minister"}
    assert ok(await awards.post("/v1/forms", headers=tokens.board, json=central),
              201)["above_province"] is True
    forms = {f["code"]: f for f in ok(await awards.get("/v1/forms", headers=tokens.board))}
    assert "thu_sai" not in forms and forms[central["code"]]["above_province"] is True
    # the board sets what the form needs of the council, and who signs it
    voting = {"vote_threshold": 0.75, "vote_comparison": "at_least",
              "secret_ballot_required": True, "signer_unit_kinds": None, "also_for": []}
    url = f"/v1/forms/{body['code']}/voting"
    assert_problem(await awards.put(url, headers=tokens.council, json=voting), 403)
    assert_problem(await awards.put(url, headers=tokens.board, json={
        k: v for k, v in voting.items() if k != "signer_unit_kinds"}), 422,
        field="signer_unit_kinds")
    assert_problem(await awards.put(url, headers=tokens.board,
                                    json={**voting, "vote_threshold": 0}), 422,
                   field="vote_threshold")
    set_ = ok(await awards.put(url, headers=tokens.board, json=voting))
    assert (set_["vote_threshold"], set_["vote_comparison"], set_["signer_unit_kinds"]) == (
        0.75, "at_least", ["commune"])


async def test_rule_change_is_versioned_and_nominations_keep_their_version(
    awards: httpx.AsyncClient, tokens: Tokens, flow: Flow, awards_db: asyncpg.Connection,
) -> None:
    code = "thu_lao_dong_gioi"
    r = await awards.post("/v1/forms", headers=tokens.board, json={
        "code": code, "name_vi": "Lao động giỏi (thử)", "category": "title",
        "for_whom": "individual", "authority_level": "district_chairman",
        "rule": {"type": "no_award_within", "years": 1}})
    assert r.status_code == 201, r.text
    before = await flow.to(await flow.nominate(code, flow.person()), "appraised")
    assert before["rule_version"] == 1 and before["appraisal"]["eligible"] is True

    new_rule = {"all": [{"type": "no_award_within", "years": 1}, {"type": "report_on_time"}]}
    r = await awards.put(f"/v1/forms/{code}/rule", headers=tokens.council,
                         json={"rule": new_rule})
    assert_problem(r, 403, type="forbidden")
    r = await awards.put(f"/v1/forms/{code}/rule", headers=tokens.board,
                         json={"rule": {"all": []}})
    assert_problem(r, 422, field="rule")
    r = await awards.put("/v1/forms/no_such_form/rule", headers=tokens.board,
                         json={"rule": new_rule})
    assert_problem(r, 404, type="not_found")
    r = await awards.put(f"/v1/forms/{code}/rule", headers=tokens.board,
                         json={"rule": new_rule, "note": "Quyết định 12/QĐ-UBND"})
    assert r.status_code == 200, r.text
    assert r.json()["rule_version"] == 2 and r.json()["rule"] == new_rule
    r = await awards.get(f"/v1/forms/{code}/rules", headers=tokens.board)
    history = r.json()
    assert [(v["version"], v["changed_by"]) for v in history] == [(1, "board"), (2, "board")]
    assert history[1]["note"] == "Quyết định 12/QĐ-UBND"

    after = await flow.to(await flow.nominate(code, flow.person()), "appraised")
    assert after["rule_version"] == 2 and after["appraisal"]["rule_version"] == 2
    assert after["appraisal"]["eligible"] is False  # a person has no report on time
    kept = await get(awards, tokens, before)
    assert kept["rule_version"] == 1 and kept["appraisal"]["rule_version"] == 1
    assert kept["appraisal"]["eligible"] is True
    audit = await awards_db.fetch(
        "SELECT actor, action, before, after FROM audit_log WHERE entity_type = 'award_form'"
        " AND entity_id = $1 ORDER BY id", code)
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("board", "award_form.add"), ("board", "award_rule.change")]
    assert audit[1]["before"]["rule_version"] == 1 and audit[1]["after"]["rule_version"] == 2


# --------------------------------------------------------------------------- enrollments


async def test_enrollment_window_and_not_enrolled_flag(
    awards: httpx.AsyncClient, tokens: Tokens, flow: Flow, world: World,
) -> None:
    closes = (date.today() + timedelta(days=30)).isoformat()
    reporter = tokens.reporter(world.commune)
    r = await awards.put(f"/v1/enrollment-windows/{YEAR}", headers=reporter,
                         json={"closes_on": closes})
    assert_problem(r, 403, type="forbidden")
    r = await awards.put(f"/v1/enrollment-windows/{YEAR}", headers=tokens.board,
                         json={"closes_on": closes})
    assert r.status_code == 200 and r.json()["closes_on"] == closes, r.text

    person = flow.person()
    body = {"unit_id": str(world.commune), "year": YEAR, "items": [
        {"form_code": LDTT, "nominee": person},
        {"form_code": "tap_the_lao_dong_tien_tien", "nominee": flow.unit(world.commune)}]}
    r = await awards.post("/v1/enrollments", headers=tokens.reporter(world.short), json=body)
    assert "outside the caller's unit scope" in assert_problem(r, 403)["detail"]
    r = await awards.post("/v1/enrollments", headers=reporter, json=body)
    assert r.status_code == 201, r.text
    enrollment = r.json()
    assert [i["form_code"] for i in enrollment["items"]] == [LDTT, "tap_the_lao_dong_tien_tien"]
    r = await awards.get("/v1/enrollments", headers=reporter,
                         params={"year": YEAR, "unit_id": str(world.commune)})
    assert {row["enrollment_id"] for row in r.json()} == {enrollment["enrollment_id"]}

    enrolled = await flow.nominate(LDTT, person)
    assert enrolled["enrolled"] is True and enrolled["flags"] == []
    not_enrolled = await flow.nominate("chien_si_thi_dua_co_so", person)
    assert not_enrolled["enrolled"] is False and not_enrolled["flags"] == ["not_enrolled"]
    submitted = await flow.submit(not_enrolled)
    assert submitted["flags"] == ["not_enrolled"]

    # a year whose window the board has not set (when it closes: test_service.py)
    r = await awards.post("/v1/enrollments", headers=reporter, json={**body, "year": YEAR - 2})
    assert "not open" in assert_problem(r, 409, type="conflict")["detail"]


# --------------------------------------------------------------------------- the whole path


async def test_whole_path_to_approval_at_the_district_level(
    awards: httpx.AsyncClient, tokens: Tokens, flow: Flow, world: World,
    awards_db: asyncpg.Connection,
) -> None:
    commune = world.eligible_commune()
    n = await flow.nominate(GKH, flow.unit(commune))
    assert n["status"] == "drafted" and n["nominee"]["kind"] == "unit"
    n = await flow.take(n, "edit", tokens.reporter(commune),
                        {"achievements": "Giảm 2,00 điểm tỷ lệ hộ nghèo, đạt chỉ tiêu."})
    assert n["achievements"].startswith("Giảm 2,00")
    n = await flow.submit(n)
    assert n["status"] == "submitted"
    n = await flow.review(n)
    assert n["status"] == "reviewed"
    assert n["council"]["votes_for"] == 7 and n["council"]["council_unit_id"] == str(
        world.district_a)
    n = await flow.appraise(n)
    assert n["status"] == "appraised" and n["rule_version"] == 1
    appraisal = n["appraisal"]
    assert appraisal["eligible"] is True and appraisal["years_used"] == [YEAR - 1, YEAR]
    assert appraisal["report_versions"] == {str(YEAR - 1): 1, str(YEAR): 1}
    parts = {p["rule"]["type"]: p for p in appraisal["result"]["facts"]["parts"]}
    assert parts["report_on_time"]["passed"] and parts["report_on_time"]["facts"] == {
        "on_time": True}
    assert parts["reduction_meets_target"]["facts"] == {"reduction_pp": pytest.approx(2.0),
                                                        "required_pp": 2.0}

    # the province's and the commune's chairmen do not sign a district form
    for wrong in (world.province, commune):
        r = await flow.refused(n, "approve", tokens.chairman(wrong), DECISION, 403)
        assert "granted by the district chairman" in r["detail"]
    n = await flow.take(n, "approve", tokens.chairman(world.district_a), DECISION)
    assert n["status"] == "approved"
    assert n["decision"] == {**DECISION, "authority_level": "district_chairman"}

    steps = [(s["seq"], s["step"], s["status"], s["actor"]) for s in n["steps"]]
    assert steps == [
        (1, "draft", "drafted", "reporter"), (2, "edit", "drafted", "reporter"),
        (3, "submit", "submitted", "reporter"), (4, "review", "reviewed", "council-a"),
        (5, "appraise", "appraised", "board"),
        (6, "approve", "approved", f"chairman-{world.district_a}")]
    by_step = {s["step"]: s for s in n["steps"]}
    assert by_step["review"]["comment"] == "Hội đồng nhất trí"
    assert by_step["review"]["actor_roles"] == ["council"]
    assert by_step["appraise"]["comment"] == "Đủ điều kiện"
    assert by_step["approve"]["details"]["number"] == DECISION["number"]
    ats = [s["at"] for s in n["steps"]]
    assert ats == sorted(ats)
    audit = await awards_db.fetch(
        "SELECT actor, actor_roles, action, at, after FROM audit_log"
        " WHERE entity_type = 'nomination' AND entity_id = $1 ORDER BY id", n["nomination_id"])
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("reporter", "nomination.draft"), ("reporter", "nomination.edit"),
        ("reporter", "nomination.submit"), ("council-a", "nomination.review"),
        ("board", "nomination.appraise"),
        (f"chairman-{world.district_a}", "nomination.approve")]
    assert audit[-1]["after"]["status"] == "approved" and audit[-1]["actor_roles"] == [
        "chairman"]


# --------------------------------------------------------------------------- refusals


BODIES: dict[str, Json] = {
    "edit": {"achievements": "Sửa đổi"}, "submit": {},
    "review": {"votes_for": 5, "votes_against": 0, "members": 7}, "appraise": {},
    "approve": DECISION,
    "reject": {"reason": "Không đạt"}, "return": {"reason": "Bổ sung"}, "forward": {},
    "revoke": {"reason": "Khai man", "decision": DECISION},
}


async def test_a_refused_step_is_a_problem_and_changes_nothing(
    flow: Flow, tokens: Tokens, world: World, awards_db: asyncpg.Connection,
) -> None:
    """Each kind of refusal as HTTP answers it (the rules: test_service.py)."""
    n = await flow.submit(await flow.nominate(LDTT, flow.person()))
    audited = ("SELECT count(*) FROM audit_log WHERE entity_id = $1"
               " AND action <> 'nomination.read'")  # reads are audited too
    audits = await awards_db.fetchval(audited, n["nomination_id"])
    # the state does not allow it
    r = await flow.refused(n, "approve", tokens.chairman(world.district_a), DECISION, 409)
    assert r["type"] == "conflict"
    assert r["detail"] == "cannot approve a nomination that is submitted"
    # the role does not
    r = await flow.refused(n, "review", tokens.board, BODIES["review"], 403)
    assert r["type"] == "forbidden" and "council" in r["detail"]
    # the unit is outside the caller's scope
    r = await flow.refused(n, "review", tokens(Role.COUNCIL, world.district_b),
                           BODIES["review"], 403)
    assert "outside the caller's unit scope" in r["detail"]
    # the input breaks a rule, or does not fit the schema
    await flow.refused(n, "review", tokens.council,
                       {"votes_for": 3, "votes_against": 3, "votes_abstain": 1, "members": 7},
                       422, "votes_for")
    # the council's total membership is always given, and the votes recorded
    await flow.refused(n, "review", tokens.council, {"votes_for": 5, "votes_against": 0},
                       422, "members")
    await flow.refused(n, "review", tokens.council,
                       {"votes_for": 0, "votes_against": 0, "members": 10}, 422, "votes_for")
    # the votes count against the council's total membership, and cannot exceed it
    await flow.refused(n, "review", tokens.council,
                       {"votes_for": 2, "votes_against": 1, "votes_abstain": 7, "members": 10},
                       422, "votes_for")
    await flow.refused(n, "review", tokens.council,
                       {"votes_for": 6, "votes_against": 3, "votes_abstain": 2, "members": 10},
                       422, "members")
    await flow.refused(n, "review", tokens.council,
                       {"votes_for": -1, "votes_against": 0, "members": 7}, 422, "votes_for")
    await flow.refused(n, "revoke", tokens.chairman(world.district_a), {"reason": "x"},
                       422, "decision")
    after = await get(flow.client, tokens, n)
    assert after["status"] == "submitted" and after["version"] == n["version"]
    assert len(after["steps"]) == len(n["steps"])
    assert await awards_db.fetchval(audited, n["nomination_id"]) == audits


@pytest.mark.parametrize("step", list(BODIES))
async def test_every_step_needs_a_token(flow: Flow, step: str) -> None:
    await flow.refused({"nomination_id": str(uuid.uuid4())}, step, {}, BODIES[step], 401)


async def test_unknown_nomination_is_404(flow: Flow, tokens: Tokens) -> None:
    await flow.refused({"nomination_id": str(uuid.uuid4())}, "submit",
                       tokens.reporter(tokens.world.commune), {}, 404)
    r = await flow.client.get(f"/v1/nominations/{uuid.uuid4()}", headers=tokens.board)
    assert_problem(r, 404, type="not_found")


async def test_nomination_is_drafted_only_by_the_proposing_units_reporter(
    flow: Flow, tokens: Tokens, world: World, awards: httpx.AsyncClient,
) -> None:
    body = {"form_code": LDTT, "year": YEAR, "nominee": flow.person(),
            "proposing_unit_id": str(world.commune), "achievements": "x"}
    for headers in (tokens.reporter(world.short), tokens.council, tokens.board):
        r = await awards.post("/v1/nominations", headers=headers, json=body)
        assert_problem(r, 403, type="forbidden")
    # the nominee must be the proposing unit or below it; the form must suit the nominee
    r = await awards.post("/v1/nominations", headers=tokens.reporter(world.short), json={
        **body, "proposing_unit_id": str(world.short)})
    assert_problem(r, 422, field="nominee.unit_id")
    r = await awards.post("/v1/nominations", headers=tokens.reporter(world.commune),
                          json={**body, "form_code": "tap_the_lao_dong_tien_tien"})
    assert_problem(r, 422, field="nominee.kind")
    r = await awards.post("/v1/nominations", headers=tokens.reporter(world.commune),
                          json={**body, "form_code": "no_such_form"})
    assert_problem(r, 422, field="form_code")


async def test_the_commonest_refusals_speak_vietnamese_when_asked(
    flow: Flow, tokens: Tokens, world: World,
) -> None:
    n = await flow.submit(await flow.nominate(LDTT, flow.person()))
    vi = {"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.8"}
    r = await flow.refused(n, "approve", tokens.chairman(world.district_a) | vi, DECISION, 409)
    assert r["detail"] == 'không thể phê duyệt hồ sơ đang ở trạng thái "Đã nộp"'
    r = await flow.refused(n, "review", tokens.board | vi, BODIES["review"], 403)
    assert r["detail"] == "thao tác này cần một trong các vai trò: Hội đồng thi đua"
    r = await flow.refused(n, "review", tokens.council | vi,
                           {"votes_for": 3, "votes_against": 3, "votes_abstain": 1,
                            "members": 7}, 422, "votes_for")
    assert r["errors"][0]["message"] == (
        "3/7 thành viên tán thành; hình thức này cần trên một nửa tổng số thành viên: hãy "
        "không khen thưởng hoặc trả lại hồ sơ")
    n = await flow.appraise(await flow.review(n))
    r = await flow.refused(n, "approve", tokens.chairman(world.province) | vi, DECISION, 403)
    assert "do Chủ tịch UBND huyện quyết định" in r["detail"]
    # English otherwise, as before
    r = await flow.refused(n, "review", tokens.council, BODIES["review"], 409)
    assert r["detail"] == "cannot review a nomination that is appraised"


async def test_shown_names_refuse_control_and_bidirectional_characters(
    flow: Flow, tokens: Tokens, world: World, awards: httpx.AsyncClient,
) -> None:
    body = {"form_code": LDTT, "year": YEAR, "proposing_unit_id": str(world.commune),
            "achievements": "x"}
    for bad in ("Trần Thị \u202eoaH", "Trần Thị Hoa\u2066", "Trần\x07 Thị Hoa",
                "Trần\nThị Hoa"):
        r = await awards.post("/v1/nominations", headers=tokens.reporter(world.commune),
                              json={**body, "nominee": {**flow.person(), "name": bad}})
        assert_problem(r, 422, field="nominee.name")
    r = await awards.post("/v1/forms", headers=tokens.board, json={
        "code": "thu_ten_hien_thi", "name_vi": "Giấy khen \u202b", "category": "title",
        "for_whom": "individual", "authority_level": "district_chairman",
        "rule": {"type": "judged_by_council"}})
    assert_problem(r, 422, field="name_vi")
    n = await flow.to(await flow.nominate(LDTT, flow.person()), "appraised")
    await flow.refused(n, "approve", tokens.chairman(world.district_a),
                       {**DECISION, "signer": "Chủ tịch \u202eUBND"}, 422, "signer")
    # a zero width character is taken out, not refused
    clean = await flow.nominate(LDTT, {**flow.person(), "name": "Lê\u200b Thị Hoa " +
                                       uuid.uuid4().hex[:6]})
    assert "\u200b" not in clean["nominee"]["name"]


async def test_a_citizen_id_is_twelve_digits_and_the_board_links_records(
    flow: Flow, tokens: Tokens, world: World, awards: httpx.AsyncClient,
) -> None:
    body = {"form_code": LDTT, "year": YEAR, "proposing_unit_id": str(world.commune),
            "achievements": "x"}
    for bad in ("12345", "04409500012a", "0440950001234"):
        r = await awards.post("/v1/nominations", headers=tokens.reporter(world.commune),
                              json={**body, "nominee": {**flow.person(), "citizen_id": bad}})
        assert_problem(r, 422, field="nominee.citizen_id")
    name = f"Đỗ Văn Hùng {uuid.uuid4().hex[:6]}"
    number = f"{secrets.randbelow(10**12):012d}"  # the numbers of runs before are recorded
    known = await flow.nominate(LDTT, {**flow.person(), "name": name, "citizen_id": number})
    unknown = await flow.nominate(LDTT, {**flow.person(), "name": name})
    assert unknown["possible_duplicate_of"] == [known["nominee"]["nominee_id"]]
    assert "possible_duplicate" in unknown["flags"]
    assert number not in str(known)  # the number is never shown
    url = f"/v1/persons/{unknown['nominee']['nominee_id']}"
    link = {"earlier_id": known["nominee"]["nominee_id"], "reason": "Cùng một người"}
    assert_problem(await awards.post(f"{url}/link", headers=tokens.council, json=link), 403)
    linked = ok(await awards.post(f"{url}/link", headers=tokens.board, json=link))
    assert linked["linked_to"] == known["nominee"]["nominee_id"]
    assert linked["possible_duplicate_of"] == []
    assert ok(await awards.get(url, headers=tokens.board))["linked_by"] == linked["linked_by"]
    for other in (tokens.council, tokens.reporter(world.commune)):  # the board's only
        assert_problem(await awards.get(url, headers=other), 403)
    assert_problem(await awards.get(f"/v1/persons/{uuid.uuid4()}", headers=tokens.board), 404)


# --------------------------------------------------------------------------- re-appraisal


async def test_corrected_report_flags_the_appraised_nomination_for_reappraisal(
    flow: Flow, tokens: Tokens, world: World, facts: Facts, awards_db: asyncpg.Connection,
) -> None:
    commune = world.eligible_commune()
    n = await flow.to(await flow.nominate(GKH, flow.unit(commune)), "appraised")
    assert n["appraisal"]["eligible"] is True and "needs_reappraisal" not in n["flags"]
    # the same version again (a redelivery) flags nothing: a target set after it, for the
    # same unit (same key, so consumed after it), shows it was processed
    await facts.report(commune, YEAR, 800, version=1)
    await facts.target(commune, YEAR + 1, 1.0)
    await facts.held({}, {(commune, YEAR + 1)})
    assert (await get(flow.client, tokens, n))["needs_reappraisal"] is False
    # a higher version does
    await facts.report(commune, YEAR, 850, version=2)
    await facts.held({(commune, YEAR): 2})
    async for attempt in eventually():
        with attempt:
            flagged = await get(flow.client, tokens, n)
            assert flagged["needs_reappraisal"] is True
    assert flagged["flags"] == ["not_enrolled", "needs_reappraisal"]
    assert "version 1 → 2" in flagged["reappraisal_reason"]
    assert flagged["version"] == n["version"] + 1
    flag = flagged["steps"][-1]
    assert (flag["step"], flag["status"], flag["actor"], flag["actor_roles"]) == (
        "flag_reappraisal", "appraised", "system", ["system"])
    assert flag["comment"] == flagged["reappraisal_reason"]
    assert flag["details"]["from_version"] == 1 and flag["details"]["to_version"] == 2
    audit = await awards_db.fetchrow(
        "SELECT actor, after FROM audit_log WHERE entity_id = $1"
        " AND action = 'nomination.flag_reappraisal'", n["nomination_id"])
    assert audit is not None
    assert audit["actor"] == "system" and audit["after"]["year"] == YEAR
    r = await flow.refused(n, "approve", tokens.chairman(world.district_a), DECISION, 409)
    assert "appraise it again" in r["detail"]

    again = await flow.appraise(flagged)
    assert again["needs_reappraisal"] is False and again["flags"] == ["not_enrolled"]
    assert again["appraisal"]["report_versions"] == {str(YEAR - 1): 1, str(YEAR): 2}
    assert again["appraisal"]["eligible"] is False  # 1.50 points now
    r = await flow.refused(again, "approve", tokens.chairman(world.district_a), DECISION, 409)
    assert "not eligible" in r["detail"]
    # the year before is read too: correcting it flags the nomination again
    await facts.report(commune, YEAR - 1, POOR_BEFORE + 60, version=2)
    async for attempt in eventually():
        with attempt:
            assert (await get(flow.client, tokens, n))["needs_reappraisal"] is True
    final = await flow.appraise(again)
    assert final["appraisal"]["eligible"] is True  # 10.60 % → 8.50 %: 2.10 points
    assert final["appraisal"]["report_versions"] == {str(YEAR - 1): 2, str(YEAR): 2}
    approved = await flow.take(final, "approve", tokens.chairman(world.district_a), DECISION)
    assert approved["status"] == "approved"


async def test_a_correction_consumed_while_appraising_is_read_by_the_appraisal(
    stack: TestStack, flow: Flow, tokens: Tokens, world: World, facts: Facts,
    awards_db: asyncpg.Connection,
) -> None:
    """The consumer stores a corrected report in a transaction that is still open when the
    board appraises: the appraisal waits for it and reads the correction (before, it read the
    old version and nothing flagged it), so there is nothing to flag."""
    commune = world.eligible_commune()
    n = await flow.to(await flow.nominate(GKH, flow.unit(commune)), "reviewed")
    settings = awards_settings(stack)
    conn = await asyncpg.connect(settings.dsn())
    await json_codecs(conn)
    try:
        tx = conn.transaction()
        await tx.start()
        # as the consumer does: the facts row is now locked, at version 2
        await service.record_report(conn, Context.system(settings), report_submitted(
            facts.campaign_id, commune, YEAR, 790, version=2), uuid.uuid4())
        appraisal = asyncio.create_task(flow.appraise(n))
        async for attempt in eventually():
            with attempt:  # the appraisal waits for the consumer's lock
                assert await awards_db.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
                    " AND wait_event_type = 'Lock' AND query LIKE '%FROM reported_facts%'",
                    settings.pg_database) == 1
        assert not appraisal.done()
        await tx.commit()
        appraised = await appraisal
    finally:
        await conn.close()
    after = await get(flow.client, tokens, appraised)
    assert after["appraisal"]["report_versions"][str(YEAR)] == 2
    assert after["needs_reappraisal"] is False
    assert after["appraisal"]["result"]["facts"]["parts"][1]["facts"]["reduction_pp"] == (
        pytest.approx(2.1))


async def test_the_target_set_last_is_the_one_appraised(
    flow: Flow, world: World, facts: Facts, awards_db: asyncpg.Connection,
) -> None:
    commune = world.eligible_commune()
    other = Facts(facts.producer, facts.topic, awards_db)  # another campaign
    await other.target(commune, YEAR, 5.0)
    await other.held({}, {(commune, YEAR)})
    n = await flow.to(await flow.nominate(GKH, flow.unit(commune)), "appraised")
    parts = {p["rule"]["type"]: p for p in n["appraisal"]["result"]["facts"]["parts"]}
    assert parts["reduction_meets_target"]["facts"]["required_pp"] == 5.0
    assert n["appraisal"]["eligible"] is False
    await facts.target(commune, YEAR, TARGET_PP)  # set again, later: that one counts
    async for attempt in eventually():
        with attempt:
            assert await awards_db.fetchval(
                "SELECT reduction_pp_min FROM unit_targets WHERE unit_id = $1"
                " ORDER BY set_at DESC LIMIT 1", commune) == TARGET_PP
    n = await flow.appraise(n)
    assert n["appraisal"]["eligible"] is True


async def test_a_rule_value_must_be_finite(awards: httpx.AsyncClient, tokens: Tokens) -> None:
    for value in (b"Infinity", b"NaN", b"-Infinity", b"1e300"):
        body = (b'{"rule": {"type": "indicator_at_least", "indicator": "initiatives",'
                b' "value": ' + value + b'}}')
        r = await awards.put(f"/v1/forms/{GKH}/rule", content=body,
                             headers={**tokens.board, "content-type": "application/json"})
        assert_problem(r, 422, field="rule")
    r = await awards.get(f"/v1/forms/{GKH}/rules", headers=tokens.board)
    assert [v["version"] for v in ok(r)] == [1]


# --------------------------------------------------------------------------- evidence


async def test_evidence_is_stored_as_sent(flow: Flow, tokens: Tokens, world: World,
                                          awards: httpx.AsyncClient,
                                          awards_db: asyncpg.Connection) -> None:
    n = await flow.nominate(LDTT, flow.person())
    nid = n["nomination_id"]
    content = b"%PDF-1.7\n" + bytes(range(256)) * 40
    headers = {**tokens.reporter(world.commune), "content-type": "application/pdf",
               "x-file-name": "bien-ban-hop.pdf"}
    r = await awards.post(f"/v1/nominations/{nid}/evidence", headers=headers, content=content)
    ev = ok(r, 201)
    assert ev["file_name"] == "bien-ban-hop.pdf" and ev["media_type"] == "application/pdf"
    assert ev["size_bytes"] == len(content)
    assert ev["sha256"] == hashlib.sha256(content).hexdigest()
    assert ev["added_by"] == "reporter"

    r = await awards.get(f"/v1/nominations/{nid}/evidence/{ev['evidence_id']}",
                         headers=tokens.board)
    assert r.status_code == 200 and r.content == content
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["digest"] == f"sha-256={ev['sha256']}"
    assert "bien-ban-hop.pdf" in r.headers["content-disposition"]
    r = await awards.get(f"/v1/nominations/{nid}/evidence/{uuid.uuid4()}",
                         headers=tokens.board)
    assert_problem(r, 404, type="not_found")

    dossier = await get(awards, tokens, n)
    assert [(e["file_name"], e["sha256"]) for e in dossier["evidence"]] == [
        ("bien-ban-hop.pdf", ev["sha256"])]
    step = dossier["steps"][-1]
    assert step["step"] == "evidence" and step["comment"] == "bien-ban-hop.pdf"
    assert step["details"]["size_bytes"] == len(content)
    assert await awards_db.fetchval(
        "SELECT count(*) FROM audit_log WHERE entity_id = $1 AND action = 'nomination.evidence'",
        nid) == 1

    limit = 5 * 1024 * 1024
    r = await awards.post(f"/v1/nominations/{nid}/evidence", headers=headers,
                          content=b"x" * (limit + 1))
    assert_problem(r, 413, type="payload_too_large")
    r = await awards.post(f"/v1/nominations/{nid}/evidence", headers=headers, content=b"")
    assert_problem(r, 422, field="body")
    r = await awards.post(f"/v1/nominations/{nid}/evidence",
                          headers={**headers, **tokens.reporter(world.short)}, content=b"x")
    assert "outside the caller's unit scope" in assert_problem(r, 403)["detail"]
    r = await awards.post(f"/v1/nominations/{nid}/evidence",
                          headers={**headers, "x-file-name": ""}, content=b"x")
    assert_problem(r, 422, field="header.x-file-name")
    assert len((await get(awards, tokens, n))["evidence"]) == 1

    approved = await flow.take(await flow.to(n, "appraised"), "approve",
                               tokens.chairman(world.district_a), DECISION)
    r = await awards.post(f"/v1/nominations/{nid}/evidence", headers=headers, content=b"x")
    assert "approved" in assert_problem(r, 409, type="conflict")["detail"]
    assert approved["status"] == "approved"


async def test_evidence_is_read_only_in_scope(flow: Flow, tokens: Tokens, world: World,
                                              awards: httpx.AsyncClient) -> None:
    n = await flow.nominate(LDTT, flow.person())
    r = await awards.post(f"/v1/nominations/{n['nomination_id']}/evidence", content=b"%PDF-1",
                          headers={**tokens.reporter(world.commune),
                                   "content-type": "application/pdf", "x-file-name": "a.pdf"})
    url = f"/v1/nominations/{n['nomination_id']}/evidence/{ok(r, 201)['evidence_id']}"
    for outside in (tokens.reporter(world.short), tokens(Role.COUNCIL, world.district_b),
                    tokens.chairman(world.district_b), tokens(Role.VIEWER, world.district_b)):
        r = await awards.get(url, headers=outside)
        assert_problem(r, 403, type="forbidden")
    for inside in (tokens.reporter(world.commune), tokens.council, tokens.board,
                   tokens.admin, tokens(Role.VIEWER, world.province)):
        r = await awards.get(url, headers=inside)
        assert r.status_code == 200 and r.content == b"%PDF-1", r.text
    r = await awards.get(f"/v1/nominations/{uuid.uuid4()}/evidence/{uuid.uuid4()}",
                         headers=tokens.board)
    assert_problem(r, 404, type="not_found")
    assert_problem(await awards.get(url), 401)


MEDIA_TYPES = {
    "application/pdf": b"%PDF-1.7", "image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG",
    "application/msword": b"\xd0\xcf\x11\xe0",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": b"PK\x03\x04",
    "application/vnd.ms-excel": b"\xd0\xcf\x11\xe0",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": b"PK\x03\x04",
    "text/plain": "Biên bản".encode(),
}


async def test_evidence_only_of_the_allowed_media_types(flow: Flow, tokens: Tokens,
                                                        world: World,
                                                        awards: httpx.AsyncClient) -> None:
    """PDF, JPEG, PNG, Word and Excel (old and new) and plain text; anything else is 415, naming
    the type sent, and nothing is stored."""
    n = await flow.nominate(LDTT, flow.person())
    url = f"/v1/nominations/{n['nomination_id']}/evidence"
    headers = {**tokens.reporter(world.commune), "x-file-name": "tep"}
    for media_type, content in MEDIA_TYPES.items():
        r = await awards.post(url, headers={**headers, "content-type": media_type},
                              content=content)
        assert ok(r, 201)["media_type"] == media_type
    # parameters aside, any case: stored as the bare type
    r = await awards.post(url, headers={**headers, "content-type": "TEXT/Plain; charset=utf-8"},
                          content=b"x")
    assert ok(r, 201)["media_type"] == "text/plain"
    for refused in ("text/html", "image/svg+xml", "application/javascript",
                    "application/octet-stream", "application/zip", "text/plain-x"):
        r = await awards.post(url, headers={**headers, "content-type": refused},
                              content=b"<script>alert(1)</script>")
        body = assert_problem(r, 415, type="unsupported_media_type")
        assert refused in body["detail"]
    # no content type at all is application/octet-stream: refused too
    r = await awards.post(url, headers=headers, content=b"x")
    assert "application/octet-stream" in assert_problem(r, 415)["detail"]
    assert len((await get(awards, tokens, n))["evidence"]) == len(MEDIA_TYPES) + 1


async def test_evidence_is_downloaded_as_an_attachment_never_sniffed(
    flow: Flow, tokens: Tokens, world: World, awards: httpx.AsyncClient,
) -> None:
    n = await flow.nominate(LDTT, flow.person())
    nid = n["nomination_id"]
    r = await awards.post(f"/v1/nominations/{nid}/evidence", content=b"%PDF-1",
                          headers={**tokens.reporter(world.commune),
                                   "content-type": "application/pdf",
                                   "x-file-name": 'bien ban "hop" 100%.pdf'})
    ev = ok(r, 201)
    r = await awards.get(f"/v1/nominations/{nid}/evidence/{ev['evidence_id']}",
                         headers=tokens.board)
    assert r.status_code == 200 and r.content == b"%PDF-1"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"] == (
        'attachment; filename="bien ban _hop_ 100_.pdf"; '
        "filename*=UTF-8''bien%20ban%20%22hop%22%20100%25.pdf")


@pytest.mark.parametrize(("name", "header"), [
    ("Biên bản họp đợt 1.pdf",
     'attachment; filename="Bien ban hop dot 1.pdf"; '
     "filename*=UTF-8''Bi%C3%AAn%20b%E1%BA%A3n%20h%E1%BB%8Dp%20%C4%91%E1%BB%A3t%201.pdf"),
    ("ĐỒNG TÂM/x\\y.docx",
     'attachment; filename="DONG TAM_x_y.docx"; '
     "filename*=UTF-8''%C4%90%E1%BB%92NG%20T%C3%82M%2Fx%5Cy.docx"),
    ("文件.txt", 'attachment; filename="__.txt"; filename*=UTF-8\'\'%E6%96%87%E4%BB%B6.txt'),
])
def test_content_disposition_names_the_file_for_every_client(name: str, header: str) -> None:
    """RFC 6266 with an ASCII ``filename`` (Vietnamese marks dropped, đ as d, the rest ``_``)
    and the exact name in ``filename*`` (RFC 5987)."""
    assert content_disposition(name) == header


async def test_a_nomination_carries_at_most_the_evidence_limit(
    flow: Flow, tokens: Tokens, world: World, awards: httpx.AsyncClient,
    awards_db: asyncpg.Connection, stack: TestStack,
) -> None:
    """``evidence_max_files`` (default 20) files per nomination; the next is 409 (a conflict
    with the dossier's state: another file fits once the limit is raised)."""
    limit = awards_settings(stack).evidence_max_files
    assert limit == 20
    n = await flow.nominate(LDTT, flow.person())
    url = f"/v1/nominations/{n['nomination_id']}/evidence"
    headers = {**tokens.reporter(world.commune), "content-type": "text/plain"}
    for i in range(limit):
        ok(await awards.post(url, headers={**headers, "x-file-name": f"{i}.txt"},
                             content=b"x"), 201)
    r = await awards.post(url, headers={**headers, "x-file-name": "over.txt"}, content=b"x")
    assert f"at most {limit}" in assert_problem(r, 409, type="conflict")["detail"]
    assert await awards_db.fetchval("SELECT count(*) FROM evidence WHERE nomination_id = $1",
                                    n["nomination_id"]) == limit


async def test_evidence_downloads_are_audited(flow: Flow, tokens: Tokens, world: World,
                                              awards: httpx.AsyncClient,
                                              awards_db: asyncpg.Connection) -> None:
    """Who downloaded which file, when (``evidence.read``); a refused download leaves no row."""
    n = await flow.nominate(LDTT, flow.person())
    nid = n["nomination_id"]
    r = await awards.post(f"/v1/nominations/{nid}/evidence", content=b"%PDF-1",
                          headers={**tokens.reporter(world.commune),
                                   "content-type": "application/pdf", "x-file-name": "a.pdf"})
    ev = ok(r, 201)
    url = f"/v1/nominations/{nid}/evidence/{ev['evidence_id']}"
    read = ("SELECT actor, actor_roles, actor_unit_id, at, before, after FROM audit_log"
            " WHERE action = 'evidence.read' AND entity_type = 'evidence' AND entity_id = $1"
            " ORDER BY at, id")
    assert_problem(await awards.get(url, headers=tokens.reporter(world.short)), 403)
    assert_problem(await awards.get(f"/v1/nominations/{nid}/evidence/{uuid.uuid4()}",
                                    headers=tokens.board), 404)
    assert await awards_db.fetch(read, ev["evidence_id"]) == []

    before = await awards_db.fetchval("SELECT now()")
    assert (await awards.get(url, headers=tokens.reporter(world.commune))).status_code == 200
    assert (await awards.get(url, headers=tokens.board)).status_code == 200
    rows = await awards_db.fetch(read, ev["evidence_id"])
    assert [r["actor"] for r in rows] == ["reporter", "board"]
    assert rows[0]["actor_unit_id"] == world.commune
    assert all(r["at"] >= before and r["before"] is None for r in rows)
    assert rows[0]["after"] == {"nomination_id": nid, "file_name": "a.pdf",
                                "media_type": "application/pdf", "sha256": ev["sha256"]}


# --------------------------------------------------------------------------- lists


async def test_search_candidates_public_list_and_history(
    flow: Flow, tokens: Tokens, world: World, awards: httpx.AsyncClient,
) -> None:
    # candidates in district B: the eligible commune, not the one 0.01 short, not the one
    # already nominated, not the district (no data)
    nominated = await flow.nominate(GKH, flow.unit(world.cand_nominated))
    r = await awards.get("/v1/candidates", headers=tokens.board, params={
        "form_code": GKH, "year": YEAR, "unit_id": str(world.district_b)})
    assert r.status_code == 200, r.text
    candidates = r.json()
    assert [c["unit_id"] for c in candidates] == [str(world.cand_eligible)]
    assert candidates[0]["kind"] == "commune" and candidates[0]["results"][0]["passed"]
    r = await awards.get("/v1/candidates", headers=tokens.board,
                         params={"form_code": LDTT, "year": YEAR})
    assert_problem(r, 422, field="form_code")

    async def search(**params: Any) -> list[str]:
        r = await awards.get("/v1/nominations", headers=tokens.board,
                             params={**params, "limit": 500})
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["total"] == len(page["items"])
        return [i["nomination_id"] for i in page["items"]]

    nid = nominated["nomination_id"]
    assert await search(unit_id=str(world.district_b)) == [nid]
    assert await search(unit_id=str(world.district_b), status="drafted", year=YEAR,
                        form_code=GKH) == [nid]
    assert await search(unit_id=str(world.district_b), status="submitted") == []
    assert await search(unit_id=str(world.district_b), year=YEAR - 1) == []
    assert await search(unit_id=str(world.district_b), form_code=LDTT) == []
    assert nid not in await search(unit_id=str(world.district_a))
    assert nid in await search(unit_id=str(world.province), form_code=GKH)

    # the public list of a year's approved awards needs no token
    person = flow.person()
    n = await flow.to(await flow.nominate(LDTT, person), "appraised")
    n = await flow.take(n, "approve", tokens.chairman(world.district_a), DECISION)
    r = await awards.get("/v1/awards", params={"year": YEAR})
    assert r.status_code == 200, r.text
    mine = [a for a in r.json() if a["nominee_name"] == person["name"]]
    assert mine == [{"year": YEAR, "form_code": LDTT, "form_name": "Lao động tiên tiến",
                     "nominee_kind": "person", "nominee_name": person["name"],
                     "unit_id": str(world.commune),
                     "decision": {**DECISION, "authority_level": "district_chairman"}}]
    r = await awards.get("/v1/awards", params={"year": YEAR - 1})
    assert person["name"] not in {a["nominee_name"] for a in r.json()}
    assert_problem(await awards.get("/v1/awards"), 422, field="query.year")

    history = await awards.get(f"/v1/nominees/person/{n['nominee']['nominee_id']}/awards",
                               headers=tokens.reporter(world.commune))
    assert [(h["form_code"], h["status"]) for h in history.json()] == [(LDTT, "approved")]
    assert_problem(await awards.get(f"/v1/nominees/person/{n['nominee']['nominee_id']}/awards"),
                   401)


async def test_a_step_retried_with_its_idempotency_key_is_taken_once(
    flow: Flow, tokens: Tokens, world: World, awards: httpx.AsyncClient,
) -> None:
    n = await flow.nominate(LDTT, flow.person())
    headers = {**tokens.reporter(world.commune), "idempotency-key": f"submit-{uuid.uuid4()}"}
    url = f"/v1/nominations/{n['nomination_id']}/submit"
    first = await awards.post(url, headers=headers)
    again = await awards.post(url, headers=headers)
    assert first.status_code == again.status_code == 200, again.text
    assert again.headers["idempotency-replayed"] == "true" and again.json() == first.json()
    assert [s["step"] for s in (await get(awards, tokens, n))["steps"]] == ["draft", "submit"]
    # without the key, the same request is a second submit: refused by state
    r = await awards.post(url, headers=tokens.reporter(world.commune))
    assert_problem(r, 409, type="conflict")


async def test_every_write_takes_an_optional_idempotency_key(
    flow: Flow, tokens: Tokens, world: World, awards: httpx.AsyncClient,
) -> None:
    """Not the steps only: a window, a registration, a file of evidence."""
    closes = {"closes_on": (date.today() + timedelta(days=30)).isoformat()}
    writes: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
        ("PUT", f"/v1/enrollment-windows/{YEAR}", tokens.board, {"json": closes}),
        ("POST", "/v1/enrollments", tokens.reporter(world.commune), {"json": {
            "unit_id": str(world.commune), "year": YEAR,
            "items": [{"form_code": LDTT, "nominee": flow.person()}]}}),
        ("POST", f"/v1/nominations/{(await flow.nominate(LDTT, flow.person()))['nomination_id']}"
                 "/evidence", {**tokens.reporter(world.commune), "x-file-name": "a.pdf",
                               "content-type": "application/pdf"}, {"content": b"%PDF-1"}),
    ]
    for method, url, headers, body in writes:
        keyed = {**headers, "idempotency-key": f"write-{uuid.uuid4()}"}
        first = await awards.request(method, url, headers=keyed, **body)
        again = await awards.request(method, url, headers=keyed, **body)
        assert ok(first) == ok(again) and again.headers["idempotency-replayed"] == "true"
        assert "idempotency-replayed" not in first.headers
        # without a key, it just runs
        unkeyed = await awards.request(method, url, headers=headers, **body)
        assert ok(unkeyed) and "idempotency-replayed" not in unkeyed.headers


async def test_seeded_forms_are_in_the_audit_log(awards: httpx.AsyncClient,
                                                 awards_db: asyncpg.Connection) -> None:
    rows = await awards_db.fetch(
        "SELECT actor, entity_id, after FROM audit_log WHERE action = 'award_form.seed'"
        " ORDER BY id")
    assert [r["entity_id"] for r in rows] == [form.code for form, _ in SEED_FORMS]
    assert {r["actor"] for r in rows} == {"system"}
    assert rows[0]["after"]["rule_version"] == 1
