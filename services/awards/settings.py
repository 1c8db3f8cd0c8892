"""Settings of the awards service (environment variables ``CHUNGTAY_*``)."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field

from chungtay_common.settings import ServiceSettings


class AwardsSettings(ServiceSettings):
    service_name: str = "awards"
    evidence_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # files a nomination carries at most; the next one is refused with 409
    evidence_max_files: int = Field(default=20, ge=1)
    # bodies up to the evidence limit (plus headroom) reach the evidence route
    max_body_bytes: int = Field(default=6 * 1024 * 1024, ge=1024)
    # where the public page is published (e.g. https://thiduakhenthuong.quangbinh.gov.vn/): the
    # Atom feed's links start with it; unset, with the request's own address, and the feed is
    # then not cached (a forged Host header would otherwise put foreign links in a cache)
    public_base_url: AnyHttpUrl | None = None
