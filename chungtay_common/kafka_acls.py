"""Who may do what on Kafka: every service's ACLs, written once, from the topics (who publishes
on which, ``topics.py``) and the subscriptions (who consumes which, ``CONSUMES``).

A service (principal ``User:<service>``, authenticated with SCRAM) may

- write (and describe) only the topic it publishes on, and the dead-letter topic if it consumes;
- read (and describe) only the topics it consumes;
- use only its own consumer group ``<namespace>-<service>`` (the faust app id);
- read, write and create faust's internal topics, all named ``<namespace>-<service>-...``
  (prefixed ACL).

Nothing else: the broker runs with ``allow.everyone.if.no.acl.found=false`` (the default), so
whatever is not allowed here is refused. The ACLs name the topics of one namespace literally:
``stack ready --acls`` applies them for the deployment's namespace, a test run applies them for
its own namespace and removes them afterwards. The administrator (``User:admin``, topics and
ACLs) is a super user.

    python -m chungtay_common.kafka_acls table [--namespace chungtay]   # the table, Markdown
    python -m chungtay_common.kafka_acls apply [--namespace chungtay]   # as the admin user
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum

from aiokafka import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest

from chungtay_common.settings import ServiceSettings
from chungtay_common.topics import TOPICS, topic_name

ADMIN = "admin"
# The topic owners each service subscribes to (its ServicePlan.subscriptions; a test checks that
# they agree).
CONSUMES: dict[str, tuple[str, ...]] = {
    "registration": (),
    "indicators": ("registration", "awards"),
    "awards": ("registration", "indicators"),
    "reporting": ("registration", "indicators", "awards"),
}


# Kafka's wire codes (org.apache.kafka.common.resource / acl)
class Resource(IntEnum):
    TOPIC = 2
    GROUP = 3


class Pattern(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8


_ALLOW = 3
_ANY_HOST = "*"


@dataclass(frozen=True)
class Acl:
    """One ALLOW binding: ``service`` may do ``operation`` on the resource, from any host."""

    service: str
    resource: Resource
    pattern: Pattern
    name: str
    operation: Operation

    @property
    def principal(self) -> str:
        return f"User:{self.service}"


def group_id(namespace: str, service: str) -> str:
    """The service's consumer group: its faust app id (see runtime.service_lifespan)."""
    return f"{namespace}-{service}"


def publishes(service: str) -> list[str]:
    """The topic owners whose topic ``service`` publishes on."""
    return [owner for owner, spec in TOPICS.items()
            if (spec.publisher or spec.owner) == service and owner != "deadletter"]


def service_acls(namespace: str, service: str) -> list[Acl]:
    def topic(owner: str, *ops: Operation) -> Iterator[Acl]:
        for op in ops:
            yield Acl(service, Resource.TOPIC, Pattern.LITERAL, topic_name(owner, namespace), op)

    acls: list[Acl] = []
    for owner in publishes(service):
        acls += topic(owner, Operation.WRITE, Operation.DESCRIBE)
    consumes = CONSUMES[service]
    if consumes:
        acls += topic("deadletter", Operation.WRITE, Operation.DESCRIBE)
        for owner in consumes:
            acls += topic(owner, Operation.READ, Operation.DESCRIBE)
        acls.append(Acl(service, Resource.GROUP, Pattern.LITERAL,
                        group_id(namespace, service), Operation.READ))
        acls += [Acl(service, Resource.TOPIC, Pattern.PREFIXED,
                     f"{group_id(namespace, service)}-", op)
                 for op in (Operation.READ, Operation.WRITE, Operation.CREATE,
                            Operation.DESCRIBE)]
    return acls


def all_acls(namespace: str) -> list[Acl]:
    return [acl for service in CONSUMES for acl in service_acls(namespace, service)]


async def _send_each(settings: ServiceSettings,
                     requests: Iterable[CreateAclsRequest | DeleteAclsRequest]) -> int:
    client = AIOKafkaClient(bootstrap_servers=settings.kafka_bootstrap,
                            client_id="chungtay-acls", **settings.kafka_security())
    await client.bootstrap()
    sent = 0
    try:
        node = client.get_random_node()
        for request in requests:
            response = await client.send(node, request)
            results = getattr(response, "creation_responses", None)
            if results is None:
                results = [r[:2] for r in response.filter_responses]
            for code, message in results:
                if code:
                    raise for_code(code)(message)
            sent += 1
    finally:
        await client.close()
    return sent


async def apply(settings: ServiceSettings, namespace: str) -> int:
    """Create every service's ACLs for ``namespace`` (idempotent); ``settings`` must be a super
    user's (the admin's)."""
    return await _send_each(settings, (
        CreateAclsRequest(acl.resource, acl.name, acl.pattern, acl.principal, _ANY_HOST,
                          acl.operation, _ALLOW)
        for acl in all_acls(namespace)))


async def remove(settings: ServiceSettings, namespace: str) -> int:
    """Delete the ACLs ``apply`` created for ``namespace`` (a test run's)."""
    return await _send_each(settings, (
        DeleteAclsRequest(acl.resource, acl.name, acl.pattern, acl.principal, _ANY_HOST,
                          acl.operation, _ALLOW)
        for acl in all_acls(namespace)))


def table(namespace: str) -> str:
    """The ACLs as a Markdown table, one row per service and resource."""
    rows: dict[tuple[str, str], list[str]] = {}
    for acl in all_acls(namespace):
        kind = acl.resource.name.lower()
        name = f"`{acl.name}*`" if acl.pattern is Pattern.PREFIXED else f"`{acl.name}`"
        rows.setdefault((acl.service, f"{kind} {name}"), []).append(acl.operation.name)
    lines = ["| service (`User:`) | resource | operations |", "|---|---|---|"]
    lines += [f"| {service} | {resource} | {', '.join(ops)} |"
              for (service, resource), ops in rows.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chungtay_common.kafka_acls")
    parser.add_argument("command", choices=["table", "apply"])
    parser.add_argument("--namespace", default=None)
    args = parser.parse_args()
    settings = ServiceSettings()
    namespace = args.namespace or settings.topic_namespace
    if args.command == "table":
        sys.stdout.write(table(namespace) + "\n")
    else:
        applied = asyncio.run(apply(settings, namespace))
        sys.stdout.write(f"{applied} ACLs applied for {namespace}\n")


if __name__ == "__main__":
    main()
