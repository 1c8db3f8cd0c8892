"""Who may call each route of the reporting service (see ``chungtay_common.access``): the
summaries are aggregate figures, open to any valid token; publishing is the board's."""

from chungtay_common.access import Access, any_token, roles
from chungtay_common.auth import Role

CORE: dict[str, Access] = {
    "unit_tree": any_token(),
    "campaigns": any_token(),
    "provincial_summary": any_token(),
    "central_summary": any_token(),
    "compliance": any_token(),
    "rankings": any_token(),
    "exemplary": any_token(),
    "trend": any_token(),
    "freshness": any_token(),
    "publish": roles(Role.ADMIN, Role.BOARD, scope="the province published"),
    "read_feed": any_token(),
    "feed_snapshot": any_token(),
}

# Every summary and list as CSV and XLSX (issue 11)
EXPORTS: dict[str, Access] = {
    "export_provincial_summary": any_token(),
    "export_central_summary": any_token(),
    "export_compliance": any_token(),
    "export_rankings": any_token(),
    "export_trend": any_token(),
}

# The yearly report and the mid-term and final reviews as Word documents (issue 11): the same
# aggregate figures as the summaries, named for no person, so any valid token, like them
DOCUMENTS: dict[str, Access] = {
    "document_yearly_report": any_token(),
    "document_mid_term_review": any_token(),
    "document_final_review": any_token(),
}

# The statutory statistical forms as XLSX (issue 11)
STATISTICS: dict[str, Access] = {
    "statistics_0601": any_token(),
    "statistics_0603": any_token(),
}

ACCESS: dict[str, Access] = {**CORE, **EXPORTS, **DOCUMENTS, **STATISTICS}
