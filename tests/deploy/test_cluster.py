"""The three-broker layout (docs/scaling.md), run by the project's own stack script: three KRaft
brokers on loopback ports, topics with replication factor 3 and min.insync.replicas 2. The
registration service writes through its outbox relay and the reporting service reads, both on
the cluster; one broker is killed in the middle of the stream and started again. Every HTTP
write succeeds, every event is on its topic once, in order per unit, and the views have them."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from chungtay_common.auth import Role
from chungtay_common.db import drop_database, ensure_database
from chungtay_common.settings import ServiceSettings
from chungtay_common.stack import ensure_topics
from chungtay_common.topics import topic_name
from tests.conftest import REPO, TestStack, next_code
from tests.harness import ServiceProcess, running
from tests.support import bearer, eventually, find, ok, register_unit

pytestmark = pytest.mark.deploy


def _free_base() -> int:
    """A port P with P, P+1, P+10, P+11, P+20 and P+21 free (the nodes and their controllers)."""
    rng = random.Random()
    for _ in range(50):
        base = rng.randrange(21000, 29000)
        try:
            for offset in (0, 1, 10, 11, 20, 21):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise AssertionError("no free ports for the cluster")


class Cluster:
    def __init__(self, state: Path) -> None:
        self.base = _free_base()
        self.bootstrap = ",".join(f"127.0.0.1:{self.base + 10 * i}" for i in range(3))
        self.env = {**os.environ, "CHUNGTAY_STATE_DIR": str(state),
                    "CHUNGTAY_KAFKA_CLUSTER_PORT": str(self.base),
                    "CHUNGTAY_KAFKA_LIBS": str(REPO / ".local" / "kafka" / "libs")}

    async def stack(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "bash", str(REPO / "deploy" / "local" / "stack.sh"), *args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        assert proc.returncode == 0, f"stack.sh {args}: {out.decode()}"


async def _in_views(reporting: ServiceProcess, admin: dict[str, str], names: dict[str, str],
                    seconds: float) -> None:
    """Wait until the reporting tree has every unit of ``names`` under that name."""
    async with reporting.client() as views:
        async for attempt in eventually(seconds):
            with attempt:
                tree = ok(await views.get("/v1/units/tree", params={"as_of": "2019-01-01"},
                                          headers=admin))
                for unit_id, name in names.items():
                    node = find(tree, unit_id)
                    assert node is not None and node["name"] == name, (unit_id, node)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    it = Cluster(tmp_path / "state")
    try:
        await it.stack("cluster-up")
        yield it
    finally:
        await it.stack("cluster-down", "--purge")


async def test_a_broker_killed_mid_stream_loses_and_doubles_nothing(
    stack: TestStack, cluster: Cluster,
) -> None:
    namespace = f"{stack.namespace}cl"
    base = stack.settings(ServiceSettings, "registration")
    settings = base.model_copy(update={"kafka_bootstrap": cluster.bootstrap,
                                       "kafka_replication_factor": 3})
    admin_dsn = base.dsn("postgres")
    for service in ("registration", "reporting"):
        await ensure_database(admin_dsn, f"{namespace}_{service}")
    await ensure_topics(settings, namespace)
    topic = topic_name("registration", namespace)
    kafka = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    await kafka.start()
    try:
        described = await kafka.describe_topics([topic])
        assert {len(p["replicas"]) for p in described[0]["partitions"]} == {3}
    finally:
        await kafka.close()

    env = {"CHUNGTAY_KAFKA_BOOTSTRAP": cluster.bootstrap, "CHUNGTAY_TOPIC_NAMESPACE": namespace,
           "CHUNGTAY_KAFKA_REPLICATION_FACTOR": "3"}
    registration = ServiceProcess(stack, "registration", {
        **env, "CHUNGTAY_PG_DATABASE": f"{namespace}_registration"})
    reporting = ServiceProcess(stack, "reporting", {
        **env, "CHUNGTAY_PG_DATABASE": f"{namespace}_reporting"})
    admin = bearer(stack.token(Role.ADMIN))
    names: dict[str, str] = {}
    try:
        async with running(registration, reporting), registration.client() as client:
            units = []
            for step in range(90):
                if step == 30:  # a third of the way: one broker dies (SIGKILL)
                    await cluster.stack("broker-kill", "2")
                if step == 60:
                    # with two of three brokers, every partition still takes writes: what was
                    # written meanwhile is in the views before the third comes back
                    await _in_views(reporting, admin, names, seconds=45)
                    await cluster.stack("broker-start", "2")
                if step < 30 or step % 2:
                    unit = await register_unit(client, admin, kind="province", subkind="tinh",
                                               code=next_code(), name=f"Tỉnh {step}")
                    units.append(unit["unit_id"])
                    names[unit["unit_id"]] = unit["versions"][0]["name"]
                else:  # a rename of an earlier unit: events of one unit that must keep order
                    unit_id = units[step % len(units)]
                    r = ok(await client.post(f"/v1/units/{unit_id}/rename", json={
                        "name": f"Tỉnh Đổi Tên {step}",
                        "effective_date": str(date(2018, 1, 1) + timedelta(days=step))},
                        headers=admin))
                    names[unit_id] = r["versions"][-1]["name"]
            await _in_views(reporting, admin, names, seconds=60)
        # on the topic: each event once, and each unit's revisions in order
        conn = await asyncpg.connect(registration.stack.settings(
            ServiceSettings, "registration").dsn(f"{namespace}_registration"))
        try:
            written = {str(r["event_id"]) for r in await conn.fetch(
                "SELECT event_id FROM outbox")}
            assert not await conn.fetchval("SELECT count(*) FROM outbox"
                                           " WHERE published_at IS NULL")
        finally:
            await conn.close()
        seen: list[str] = []
        revisions: dict[str, list[int]] = defaultdict(list)
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=cluster.bootstrap, group_id=None,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            while len(seen) < len(written):
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
                for records in batch.values():
                    for record in records:
                        event = json.loads(record.value or b"{}")
                        seen.append(event["event_id"])
                        for snap in event["payload"]["units"]:
                            revisions[snap["unit_id"]].append(snap["revision"])
        finally:
            await consumer.stop()
        assert sorted(seen) == sorted(written), "an event lost or written twice on the topic"
        assert all(r == sorted(r) for r in revisions.values()), "a unit's events out of order"
        assert len(written) == 90
    finally:
        for service in ("registration", "reporting"):
            await drop_database(admin_dsn, f"{namespace}_{service}")
