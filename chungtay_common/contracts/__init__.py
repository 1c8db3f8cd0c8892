"""Event contracts: the payload models of every event, by owning service."""

from chungtay_common.contracts import indicators, registration

__all__ = ["indicators", "registration"]
