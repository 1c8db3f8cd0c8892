"""Kafka topics: one per owning service and contract version, all in one place.

A topic is named ``<namespace>.<owner>.v<version>`` (``chungtay.registration.v1``). Messages are
keyed by the event's ``subject_id`` so that one unit's events keep their order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    owner: str
    version: int
    partitions: int
    description: str
    publisher: str = ""  # the service that publishes on it (default: the owner)

    def name(self, namespace: str) -> str:
        return f"{namespace}.{self.owner}.v{self.version}"


TOPICS: dict[str, TopicSpec] = {
    "registration": TopicSpec(
        "registration", 1, 6, "Units registered, renamed, moved, closed, merged and split."
    ),
    "indicators": TopicSpec(
        "indicators", 1, 6,
        "Campaigns, indicator catalogue, targets, national averages and yearly reports "
        "(submitted, returned, accepted, reopened, overdue).",
    ),
    "awards": TopicSpec(
        "awards", 1, 6,
        "Emulation registrations, nominations through appraisal to decision, revocations, "
        "award rule changes.",
    ),
    "feed": TopicSpec(
        "feed", 1, 3,
        "The ministry feed: central summaries published by the board (summary.published), "
        "immutable numbered snapshots; a correction is a new snapshot naming the one it "
        "supersedes.",
        publisher="reporting",
    ),
    "deadletter": TopicSpec(
        "deadletter", 1, 3,
        "Messages a consumer could not parse or validate, as received, with the reason in "
        "headers (x-dlq-reason, x-dlq-consumer, x-dlq-topic, x-dlq-partition, x-dlq-offset).",
    ),
}


def topic_name(owner: str, namespace: str) -> str:
    return TOPICS[owner].name(namespace)
