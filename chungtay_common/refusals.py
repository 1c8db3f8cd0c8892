"""The domain's own refusals: no HTTP in them. ``chungtay_common.errors`` maps each to one
status, once, so the same refusal gets the same status in every service:

- ``RuleBroken``: the input breaks a rule of the domain (422, naming the field);
- ``StateConflict``: the thing is not in a state that allows the change (a refused transition,
  a duplicate, a clash with what exists) (409);
- ``NotAllowed``: the caller's role or position does not allow the action (403).
"""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field


class RuleBroken(DomainError):
    """The input breaks a rule; ``field`` names what is wrong (``body`` when it is the whole)."""

    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)

    def within(self, prefix: str) -> RuleBroken:
        """The same refusal about a part of the request (``successor.name``, not ``name``)."""
        return RuleBroken(f"{prefix}.{self.field}", self.message)


class StateConflict(DomainError):
    """The current state does not allow the change."""


class NotAllowed(DomainError):
    """The caller may not do this (role, stage, or the unit it heads)."""
