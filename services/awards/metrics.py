"""Metrics of the awards service (the shared ones are in ``chungtay_common.metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

NOMINATION_STEPS = Counter(
    "chungtay_awards_nomination_steps_total",
    "Steps taken on nominations (draft, submit, review, appraise, approve, reject, return, "
    "forward, revoke, edit).", ["step"])
RULE_CHANGES = Counter("chungtay_awards_rule_changes_total", "Award rule versions added.")
REAPPRAISAL_FLAGS = Counter(
    "chungtay_awards_reappraisal_flags_total",
    "Nominations flagged for re-appraisal because a report they used was corrected.")

# Every known label value is exported from the start (at 0).
for _step in ("draft", "edit", "submit", "review", "appraise", "approve", "reject", "return",
              "forward", "revoke"):
    NOMINATION_STEPS.labels(_step)
