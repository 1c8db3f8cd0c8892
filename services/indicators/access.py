"""Who may call each route of the indicators service (see ``chungtay_common.access``)."""

from chungtay_common.access import Access, any_token, roles
from chungtay_common.auth import Role

A, B, REP, REV, REG = Role.ADMIN, Role.BOARD, Role.REPORTER, Role.REVIEWER, Role.REGISTRAR
REPORT_UNIT = "the report's unit in the path, as the hierarchy stands today"

ACCESS: dict[str, Access] = {
    # the catalogue and aggregate figures: open to any valid token
    "list_campaigns": any_token(),
    "get_campaign": any_token(),
    "list_targets": any_token(),
    "list_national_averages": any_token(),
    "list_indicators": any_token(),
    "list_campaign_indicators": any_token(),
    "get_report": any_token(),
    "status_board": any_token(),
    "aggregate": any_token(),
    "report_template_xlsx": any_token(),
    "report_template_csv": any_token(),
    # who did what to a report names officials
    "report_history": any_token(scope=REPORT_UNIT + " (audited)"),
    "create_campaign": roles(A, B),
    "set_target": roles(A, B, scope="the unit in the path"),
    "set_national_average": roles(A, B),
    "define_indicator": roles(A, B),
    "retire_indicator": roles(A, B),
    "import_targets": roles(A, B, scope="each row's unit"),
    "save_report": roles(A, REP, scope=REPORT_UNIT),
    "submit_report": roles(A, REP, scope=REPORT_UNIT),
    "import_reports": roles(A, REP, scope="each row's unit"),
    # the level right above the report's unit
    "accept_report": roles(A, REV, B, scope="the parent of the report's unit, today"),
    "return_report": roles(A, REV, B, scope="the parent of the report's unit, today"),
    "confirm_report": roles(A, REV, B, scope="the parent of the report's unit, today"),
    "reopen_report": roles(A, B, scope=REPORT_UNIT),
    # reminders: contact points are personal data, kept by the registrars of the subtree
    "add_contact": roles(A, REG, scope="the unit in the path"),
    "list_contacts": roles(A, B, REG, scope="the unit in the path (audited)"),
    "replace_contact": roles(A, REG, scope="the contact's unit"),
    "remove_contact": roles(A, REG, scope="the contact's unit"),
    "get_reminder_policy": any_token(),
    "set_reminder_policy": roles(A, B),
    "unit_notices": any_token(scope="the unit in the path: its own users and the levels above"),
    "mark_notice_read": any_token(scope="the notice's unit"),
    "list_deliveries": roles(A, B),
    "retry_delivery": roles(A, B),
    "open_data_migration": roles(A),
    "close_data_migration": roles(A),
    "list_data_migrations": roles(A),
}
