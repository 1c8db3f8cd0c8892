"""Event contracts: the payload models of every event, by owning service."""

from chungtay_common.contracts import awards, feed, indicators, registration

__all__ = ["awards", "feed", "indicators", "registration"]
