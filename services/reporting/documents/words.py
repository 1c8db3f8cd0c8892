"""The documents' fixed wording: the movement's name, who issues and who receives, the names
of award levels and of the figures' status."""

from __future__ import annotations

from datetime import date

from chungtay_common.contracts.awards import AuthorityLevel
from services.reporting.documents.layout import Heading, decimal, nfc
from services.reporting.schemas import SummaryLine

MOVEMENT = nfc("“Cả nước chung tay vì người nghèo – Không để ai bị bỏ lại phía sau”")
ISSUER = "BAN THI ĐUA - KHEN THƯỞNG"
SYMBOL = "BC-BTĐKT"
POSITION = "TRƯỞNG BAN"
PLAN = ("Kế hoạch tổ chức thực hiện phong trào thi đua " + MOVEMENT
        + " giai đoạn {first}–{last} của Ủy ban nhân dân tỉnh")
# the plan (section IV): the Board reports to the provincial People's Committee, which reports
# to the Central Emulation-Reward Board and MOLISA
RECIPIENTS = ("Ban Thi đua - Khen thưởng Trung ương", "Bộ Lao động - Thương binh và Xã hội",
              "UBND tỉnh (để báo cáo)", "Sở Lao động - Thương binh và Xã hội",
              "UBND các huyện, thị xã, thành phố", "Lưu: VT, BTĐKT")

LEVELS = {
    AuthorityLevel.COMMUNE_CHAIRMAN: "Chủ tịch UBND cấp xã",
    AuthorityLevel.DISTRICT_CHAIRMAN: "Chủ tịch UBND cấp huyện",
    AuthorityLevel.PROVINCIAL_CHAIRMAN: "Chủ tịch UBND tỉnh",
    AuthorityLevel.PRIME_MINISTER: "Thủ tướng Chính phủ",
    AuthorityLevel.STATE_PRESIDENT: "Chủ tịch nước",
}
STATUSES = {"draft": "đang soạn", "submitted": "đã gửi", "reviewed": "đã xem xét",
            "appraised": "đã thẩm định", "approved": "đã khen thưởng", "rejected": "không khen",
            "returned": "trả lại bổ sung", "forwarded": "đề nghị cấp trên", "revoked": "đã thu hồi"}
FIGURES = {"estimated": "số liệu sơ bộ, trước rà soát hộ nghèo hằng năm",
           "official": "số liệu chính thức, sau rà soát hộ nghèo hằng năm",
           "mixed": "gồm cả số liệu sơ bộ và số liệu chính thức"}


def figures_status(figures: str | None) -> str:
    return FIGURES.get(figures or "", "chưa có số liệu")


def level_name(level: str) -> str:
    try:
        return LEVELS[AuthorityLevel(level)]
    except ValueError:
        return level


def place_of(province_name: str) -> str:
    """"Tỉnh Quảng Bình" → "Quảng Bình"."""
    for prefix in ("Tỉnh ", "Thành phố "):
        if province_name.startswith(prefix):
            return province_name[len(prefix):]
    return province_name


def heading(province_name: str, issued_on: date, summary: str) -> Heading:
    return Heading(parent_body=f"UBND {nfc(province_name).upper()}", issuer=ISSUER,
                   symbol=SYMBOL, place=place_of(province_name), issued_on=issued_on,
                   kind="BÁO CÁO", summary=summary, position=POSITION, recipients=RECIPIENTS)


def target_text(low: float | None, high: float | None) -> str:
    if low is None and high is None:
        return "–"
    if low is None or high is None or low == high:
        return decimal(low if low is not None else high)
    return f"{decimal(low)}–{decimal(high)}"


def met_text(met: bool | None) -> str:
    return "Đạt" if met else "Chưa đạt" if met is False else "Chưa xác định"


def change_text(reduction: float | None) -> str:
    """A reduction in points as words: "giảm 1,23 điểm %" or "tăng 0,40 điểm %"."""
    if reduction is None:
        return "chưa so sánh được (thiếu số liệu năm trước)"
    if reduction >= 0:
        return f"giảm {decimal(reduction)} điểm phần trăm"
    return f"tăng {decimal(-reduction)} điểm phần trăm"


MODEL_HEADERS = ("Điển hình phát hiện", "Được công nhận", "Lượt nhân rộng")


def models_of(line: SummaryLine) -> tuple[int, int, int] | None:
    """The exemplary models register's counts of a summary line (found in the year, of those
    recognised, replications), when the summaries carry them."""
    found, recognised, replications = (
        getattr(line, name, None)
        for name in ("exemplary_models", "exemplary_models_recognised", "replications"))
    if not (isinstance(found, int) and isinstance(recognised, int)
            and isinstance(replications, int)):
        return None
    return found, recognised, replications
