"""Demo nominations for `make run`: one in every state, for the Quảng Bình districts' 2017 results
(the year with real targets), each step taken by a token of the role that has the authority.

The dossiers, people and decision numbers are invented (SYNTHETIC demo data).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
from tenacity import AsyncRetrying, stop_after_delay, wait_fixed

SYNTHETIC = "DỮ LIỆU GIẢ LẬP / SYNTHETIC DEMO DATA"
YEAR = 2017
DISTRICTS = {"450": "Đồng Hới", "452": "Minh Hóa", "453": "Tuyên Hóa", "454": "Quảng Trạch",
             "455": "Bố Trạch", "456": "Quảng Ninh", "457": "Lệ Thủy", "458": "Ba Đồn"}

Minter = Callable[[str, str, str | None], str]  # (subject, role, unit id) -> token


class Demo:
    def __init__(self, awards_url: str, indicators_url: str, ids: dict[str, str],
                 mint: Minter, say: Callable[[str], None]) -> None:
        self.awards_url = awards_url
        self.indicators_url = indicators_url
        self.ids = ids
        self.mint = mint
        self.say = say
        self.province = ids["44"]
        self.decisions = 0

    def client(self, role: str, unit: str | None, base: str | None = None) -> httpx.AsyncClient:
        token = self.mint(f"demo-{role}-{unit or 'all'}", role, unit)
        return httpx.AsyncClient(base_url=base or self.awards_url, timeout=60,
                                 headers={"authorization": f"Bearer {token}"})

    async def call(self, role: str, unit: str | None, method: str, path: str,
                   body: Any = None) -> dict[str, Any]:
        async with self.client(role, unit) as c:
            r = await c.request(method, path, json=body)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path} as {role}: {r.status_code} {r.text}")
        result: dict[str, Any] = r.json()
        return result

    async def nominate(self, district: str, form: str, nominee: dict[str, Any] | None = None,
                       year: int = YEAR) -> str:
        unit = self.ids[district]
        n = await self.call("reporter", unit, "POST", "/v1/nominations", {
            "form_code": form, "year": year, "proposing_unit_id": unit,
            "nominee": nominee or {"kind": "unit", "unit_id": unit},
            "achievements": f"{SYNTHETIC}: thành tích giảm nghèo năm {year} của "
                            f"{DISTRICTS[district]}"})
        return str(n["nomination_id"])

    async def to(self, nomination: str, district: str, last: str,
                 signer: str | None = None) -> None:
        """Take the dossier through the steps up to ``last``. The district proposes, so the
        council above it (the province's) reviews: no council reviews its own unit's."""
        unit = self.ids[district]
        steps: list[tuple[str, str | None, str, Any]] = [
            ("submit", "reporter", unit, None),
            ("review", "council", self.province,
             {"votes_for": 7, "votes_against": 0, "votes_abstain": 1, "members": 9,
              "comment": "Hội đồng TĐKT tỉnh thống nhất đề nghị"}),
            ("appraise", "board", self.province, {"comment": "Ban TĐKT tỉnh thẩm định"}),
        ]
        for step, role, who, body in steps:
            await self.call(role, who, "POST", f"/v1/nominations/{nomination}/{step}", body)
            if step == last:
                return
        self.decisions += 1
        decision = {"number": f"{100 + self.decisions}/QĐ-UBND (demo)",
                    "signed_on": f"{YEAR + 1}-01-15", "signer": "Chủ tịch UBND (demo)"}
        chair_unit = self.province if signer == "province" else unit
        await self.call("chairman", chair_unit, "POST", f"/v1/nominations/{nomination}/approve",
                        decision)

    async def load(self) -> None:
        existing = await self.call("board", self.province, "GET",
                                   f"/v1/nominations?year={YEAR}&limit=1")
        if existing["total"]:
            self.say("awards demo already loaded")
            await self.exemplary_models()  # added to the demo later: loaded if missing
            return
        # the awards service learns reported facts from the indicators events: wait for them
        async for attempt in AsyncRetrying(wait=wait_fixed(1), stop=stop_after_delay(90),
                                           reraise=True):
            with attempt:
                found = await self.call("board", self.province, "GET",
                                        f"/v1/candidates?form_code=tap_the_lao_dong_tien_tien"
                                        f"&year={YEAR}")
                assert len(found) >= 5, f"{len(found)} candidates so far"
        # đăng ký thi đua: open the window, register, then close it on its historical date
        opened = (date.today() + timedelta(days=2)).isoformat()  # whatever the time zone
        await self.call("board", self.province, "PUT", f"/v1/enrollment-windows/{YEAR}",
                        {"closes_on": opened})
        for code in DISTRICTS:
            unit = self.ids[code]
            await self.call("reporter", unit, "POST", "/v1/enrollments", {
                "unit_id": unit, "year": YEAR, "items": [
                    {"form_code": f, "nominee": {"kind": "unit", "unit_id": unit}}
                    for f in ("tap_the_lao_dong_tien_tien", "tap_the_lao_dong_xuat_sac",
                              "giay_khen_chu_tich_huyen", "bang_khen_chu_tich_tinh",
                              "co_thi_dua_ubnd_tinh", "co_thi_dua_chinh_phu")]})
        await self.call("board", self.province, "PUT", f"/v1/enrollment-windows/{YEAR}",
                        {"closes_on": f"{YEAR}-03-31"})

        # districts whose 2017 data meets the usual criteria (report on time, target met)
        codes = {v: k for k, v in self.ids.items()}
        meeting = [codes[c["unit_id"]] for c in found if codes.get(c["unit_id"]) in DISTRICTS]
        others = [c for c in DISTRICTS if c not in meeting]
        assert len(meeting) >= 4, f"the demo needs 4 districts meeting the criteria: {meeting}"
        approved_tinh, approved_huyen, revoked_code, forwarded_code = meeting[:4]
        rest = meeting[4:] + others
        rejected_code, returned_code, not_eligible_code, reviewed_code = (rest * 4)[:4]

        approved = await self.nominate(approved_tinh, "bang_khen_chu_tich_tinh")
        await self.to(approved, approved_tinh, "approve", signer="province")
        # no one approves an award to the unit they head: the district chairman signs for a
        # person of the district, the district itself is awarded by the province
        worker = {"kind": "person", "unit_id": self.ids[approved_huyen],
                  "name": "Lê Thị Thu", "position": "Cán bộ Phòng LĐ-TB&XH (demo)"}
        await self.to(await self.nominate(approved_huyen, "lao_dong_tien_tien", worker),
                      approved_huyen, "approve")
        revoked = await self.nominate(revoked_code, "bang_khen_chu_tich_tinh")
        await self.to(revoked, revoked_code, "approve", signer="province")
        await self.call("chairman", self.province, "POST",
                        f"/v1/nominations/{revoked}/revoke", {
                            "reason": f"{SYNTHETIC}: hồ sơ kê khai không trung thực",
                            "decision": {"number": "45/QĐ-UBND (demo)",
                                         "signed_on": f"{YEAR + 1}-06-01",
                                         "signer": "Chủ tịch UBND tỉnh (demo)"}})
        # the Government's flag is above the province: the board relaxes its demo rule (a new
        # rule version), appraises and forwards it
        await self.call("board", self.province, "PUT", "/v1/forms/co_thi_dua_chinh_phu/rule", {
            "rule": {"all": [{"type": "report_on_time"}, {"type": "reduction_meets_target"}]},
            "note": f"{SYNTHETIC}: rule changed for the demo"})
        forwarded = await self.nominate(forwarded_code, "co_thi_dua_chinh_phu")
        await self.to(forwarded, forwarded_code, "appraise")
        await self.call("board", self.province, "POST", f"/v1/nominations/{forwarded}/forward",
                        {"comment": "Đề nghị Thủ tướng Chính phủ tặng Cờ thi đua"})
        rejected = await self.nominate(rejected_code, "co_thi_dua_ubnd_tinh")
        await self.to(rejected, rejected_code, "review")
        await self.call("board", self.province, "POST", f"/v1/nominations/{rejected}/reject",
                        {"reason": "Không đạt tiêu chuẩn theo Quy chế khen thưởng (demo)"})
        returned = await self.nominate(returned_code, "giay_khen_chu_tich_huyen",
                                       year=YEAR + 1)  # nothing registered: flagged
        await self.to(returned, returned_code, "submit")
        await self.call("council", self.province, "POST",  # the council above the district
                        f"/v1/nominations/{returned}/return",
                        {"reason": "Bổ sung biên bản họp Hội đồng (demo)"})
        # needs Tập thể lao động tiên tiến in 2016, which nobody holds: appraised not eligible
        await self.to(await self.nominate(not_eligible_code, "tap_the_lao_dong_xuat_sac"),
                      not_eligible_code, "appraise")
        await self.to(await self.nominate(reviewed_code, "bang_khen_chu_tich_tinh"),
                      reviewed_code, "review")
        person = {"kind": "person", "unit_id": self.ids["452"], "name": "Đinh Thị Hoa",
                  "position": "Cán bộ Phòng LĐ-TB&XH huyện (demo)"}
        await self.to(await self.nominate("452", "lao_dong_tien_tien", person), "452", "submit")
        await self.nominate("450", "chien_si_thi_dua_co_so", {
            "kind": "person", "unit_id": self.ids["450"], "name": "Trần Văn Nam",
            "position": "Cán bộ Phòng LĐ-TB&XH thành phố (demo)"})
        await self.correct_report(approved_tinh)
        await self.exemplary_models()
        self.say(f"demo nominations ({SYNTHETIC}) for {YEAR}: one in each state — drafted, "
                 "submitted, reviewed, appraised, approved, rejected, returned, forwarded, "
                 "revoked; one flagged for re-appraisal after a report correction")

    async def exemplary_models(self) -> None:
        """Two livelihood models found in 2017: one recognised by the board and replicated in
        another commune in 2018, one still a proposal (never on the public page)."""
        listed = await self.call("board", self.province, "GET",
                                 f"/v1/exemplary-models?year={YEAR}&limit=1")
        if listed["total"]:
            return
        communes = sorted(code for code in self.ids if len(code) == 5)[:3]
        found, proposal, elsewhere = (self.ids[c] for c in communes)
        model = await self.call("reporter", found, "POST", "/v1/exemplary-models", {
            "name": "Mô hình nuôi bò sinh sản (demo)", "unit_id": found,
            "kind": "livelihood_model", "year": YEAR,
            "description": f"{SYNTHETIC}: tổ hợp tác nuôi bò sinh sản, 20 hộ thoát nghèo"})
        await self.call("board", self.province, "POST",
                        f"/v1/exemplary-models/{model['model_id']}/recognise", {
                            "recognised_by": "Ban Thi đua - Khen thưởng tỉnh (demo)",
                            "decision_number": "12/QĐ-BTĐKT (demo)",
                            "decided_on": f"{YEAR + 1}-02-01"})
        await self.call("reporter", elsewhere, "POST",
                        f"/v1/exemplary-models/{model['model_id']}/replications", {
                            "unit_id": elsewhere, "replicated_on": f"{YEAR + 1}-05-01",
                            "outcome": f"{SYNTHETIC}: 8 hộ tham gia"})
        await self.call("reporter", proposal, "POST", "/v1/exemplary-models", {
            "name": "Sáng kiến tổ vay vốn xoay vòng (demo)", "unit_id": proposal,
            "kind": "initiative", "year": YEAR,
            "description": f"{SYNTHETIC}: đề xuất, chưa được công nhận"})

    async def correct_report(self, district: str) -> None:
        """The board reopens a district's 2017 report and a corrected version is submitted: the
        approved nomination that used it is flagged for re-appraisal."""
        unit = self.ids[district]
        async with self.client("admin", None, self.indicators_url) as c:
            campaigns = (await c.get("/v1/campaigns")).json()
            campaign = next(x for x in campaigns if x["code"] == "chung-tay-2017-2020")
            base = f"/v1/campaigns/{campaign['campaign_id']}/reports/{unit}/{YEAR}"
            report = (await c.get(base)).json()
            if report["status"] == "accepted":
                (await c.post(base + "/reopen", json={"reason": "Sửa số hộ cận nghèo (demo)"},
                              headers={"idempotency-key": f"demo-reopen-{unit}"}
                              )).raise_for_status()
            values = dict(report["values"])
            values["near_poor_households"] = values["near_poor_households"] - 1
            (await c.post(base + "/submit", json={"values": values},
                          headers={"idempotency-key": f"demo-correct-{unit}"})).raise_for_status()
