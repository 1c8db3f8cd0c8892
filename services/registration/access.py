"""Who may call each route of the registration service (see ``chungtay_common.access``)."""

from chungtay_common.access import Access, any_token, roles
from chungtay_common.auth import Role

A, R = Role.ADMIN, Role.REGISTRAR

ACCESS: dict[str, Access] = {
    # the hierarchy is the campaign's catalogue: open to any valid token
    "search_units": any_token(),
    "get_unit": any_token(),
    "get_subtree": any_token(),
    # the history names the officials who made each change
    "get_audit": any_token(scope="the unit in the path (audited)"),
    "register_unit": roles(A, R, scope="the parent unit, over the new unit's dates"),
    "rename_unit": roles(A, R, scope="the unit in the path, from the effective date"),
    "move_unit": roles(A, R, scope="the unit and its new parent, from the effective date"),
    "close_unit": roles(A, R, scope="the unit in the path, from the effective date"),
    "merge_units": roles(A, R, scope="every merged unit and the successor's parent"),
    "split_unit": roles(A, R, scope="the unit in the path and each successor's parent"),
    "import_units": roles(A, R, scope="each row's parent unit"),
}
