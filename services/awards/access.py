"""Who may call each route of the awards service (see ``chungtay_common.access``). The
stage of a dossier narrows the roles further (``domain.deciders``)."""

from chungtay_common.access import Access, any_token, public, roles
from chungtay_common.auth import Role

A, B, REP, C, CH, REG = (Role.ADMIN, Role.BOARD, Role.REPORTER, Role.COUNCIL, Role.CHAIRMAN,
                         Role.REGISTRAR)
PROPOSING = "the dossier's proposing unit, as the hierarchy stands today"

CORE: dict[str, Access] = {
    # the catalogue, the public awards list, candidates (from aggregate figures)
    "list_forms": any_token(),
    "rule_history": any_token(),
    "public_awards": public(),
    "nominee_initiatives": any_token(),
    "candidates": any_token(),
    # dossiers, registrations and persons hold people's names: read in scope, audited
    "list_enrollments": any_token(scope="the unit asked for, else the caller's (audited)"),
    "search_nominations": any_token(scope="the unit asked for, else the caller's (audited)"),
    "get_nomination": any_token(scope=PROPOSING + " (audited)"),
    "get_evidence": any_token(scope=PROPOSING + " (audited)"),
    "nominee_history": any_token(scope="each dossier's proposing unit (audited)"),
    "get_person": roles(A, B, scope="the person's unit (audited)"),
    "add_form": roles(A, B),
    "change_rule": roles(A, B),
    "set_voting": roles(A, B),
    "set_window": roles(A, B),
    "enroll": roles(A, REP, REG, scope="the registering unit"),
    "create_nomination": roles(A, REP, scope="the proposing unit"),
    "edit_nomination": roles(A, REP, scope=PROPOSING),
    "submit_nomination": roles(A, REP, scope=PROPOSING),
    "add_evidence": roles(A, REP, C, B, scope=PROPOSING),
    "review_nomination": roles(A, C, scope=PROPOSING + "; not the council's own unit"),
    "appraise_nomination": roles(A, B, scope=PROPOSING),
    "return_nomination": roles(A, C, B, scope=PROPOSING),
    "reject_nomination": roles(A, C, B, CH, scope=PROPOSING),
    "forward_nomination": roles(A, B, scope=PROPOSING),
    # a signed decision: the form's authority only, never the administrator
    "approve_nomination": roles(CH, B, scope=PROPOSING + "; the signer's unit today"),
    "revoke_award": roles(CH, B, scope=PROPOSING + "; the signer's unit today"),
    "record_initiative": roles(A, B, C, scope="the person's unit"),
    "link_person": roles(A, B, scope="the person's unit"),
}

# The nominations and awards lists as CSV and XLSX (issue 11)
EXPORTS: dict[str, Access] = {
    "export_nominations": any_token(scope="the unit asked for, else the caller's (audited)"),
    "export_public_awards": public(),
}

# The Board's papers: proposal, draft decision, certificates (issue 11)
PAPERS: dict[str, Access] = {
    "paper_proposal": roles(A, B, scope="the proposing units of the board's province (audited)"),
    "paper_decision": roles(A, B, scope="the proposing units of the board's province (audited)"),
    "paper_certificates": roles(A, B, CH, scope="the decision's awards proposed in the "
                                                "caller's subtree (audited)"),
    "paper_templates": roles(A, B, CH),
    "edit_paper_template": roles(A, B),
}

# The register of exemplary models and initiatives (issue 11)
EXEMPLARY: dict[str, Access] = {
    "exemplary_candidates": any_token(),  # aggregate figures
    "register_exemplary": roles(A, REP, C, scope="the model's unit"),
    "edit_exemplary": roles(A, REP, C, B, scope="the model's unit (a recognised model: the "
                                                  "board only)"),
    "recognise_exemplary": roles(B, scope="the model's unit, as the hierarchy stands today; "
                                          "not the model's proposer"),
    "replicate_exemplary": roles(A, REP, C, B, scope="the replicating unit"),
    "link_exemplary_award": roles(A, REP, C, B, scope="the model's unit and the dossier's "
                                                        "proposing unit"),
    # recognised models are public data; proposals are read in the caller's subtree
    "list_exemplary": any_token(scope="proposals: the caller's subtree (audited)"),
    "get_exemplary": any_token(scope="a proposal: its unit (audited)"),
}

# The public page and feed of awards and exemplary models (issue 11)
PUBLIC: dict[str, Access] = {
    "public_feed": public(),
    "public_index": public(),
    "public_year": public(),
}

ACCESS: dict[str, Access] = {**CORE, **EXPORTS, **PAPERS, **EXEMPLARY, **PUBLIC}
