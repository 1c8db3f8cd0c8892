"""deploy/local/backup.sh on a local stack of its own (its own state directory and ports, the
same scripts `make run` uses): what a restore brings back is the data as it was at the backup,
in PostgreSQL and in Kafka (messages and a consumer group's offset), and a restore refuses to
run under services still connected."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from tests.conftest import REPO
from tests.harness import free_port
from tests.support import eventually

pytestmark = pytest.mark.deploy

TOPIC = "chungtay.registration.v1"
GROUP = "backup-test"


class OwnStack:
    def __init__(self, state: Path) -> None:
        self.state = state
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CHUNGTAY_")}
        self.env.update({
            "CHUNGTAY_STATE_DIR": str(state),
            "CHUNGTAY_PG_PORT": str(free_port()),
            "CHUNGTAY_KAFKA_PORT": str(free_port()),
            "CHUNGTAY_KAFKA_CONTROLLER_PORT": str(free_port()),
            "CHUNGTAY_KAFKA_SASL_PORT": str(free_port()),
            "CHUNGTAY_KAFKA_LIBS": str(REPO / ".local" / "kafka" / "libs"),
            "CHUNGTAY_KAFKA_HEAP": "-Xms128m -Xmx384m",
            "CHUNGTAY_STACK_DURABILITY": "fast",
        })

    async def run(self, script: str, *args: str, ok: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            "bash", str(REPO / "deploy" / "local" / script), *args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        text = out.decode()
        assert (proc.returncode == 0) is ok, f"{script} {args}: {proc.returncode}\n{text}"
        return text

    def connection(self, name: str) -> str:
        env = dict(line.removeprefix("export ").split("=", 1)
                   for line in (self.state / "stack.env").read_text().splitlines()
                   if line.startswith("export "))
        if name == "kafka":
            return env["CHUNGTAY_KAFKA_BOOTSTRAP"]
        return (f"postgresql://{env['CHUNGTAY_PG_USER']}:{env['CHUNGTAY_PG_PASSWORD']}"
                f"@{env['CHUNGTAY_PG_HOST']}:{env['CHUNGTAY_PG_PORT']}/{name}")


@pytest.fixture
async def own(tmp_path: Path) -> AsyncIterator[OwnStack]:
    stack = OwnStack(tmp_path / "state")
    try:
        await stack.run("stack.sh", "up")
        yield stack
    finally:
        proc = await asyncio.create_subprocess_exec(
            "bash", str(REPO / "deploy" / "local" / "stack.sh"), "down", env=stack.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()
        pg = stack.state / "pg"
        if pg.is_symlink():  # the cluster's fallback place outside a private state dir
            shutil.rmtree(pg.resolve(), ignore_errors=True)


async def _produce(bootstrap: str, *values: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(TOPIC, value.encode(), key=b"k", partition=0)
    finally:
        await producer.stop()


async def _commit(bootstrap: str, offset: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(TOPIC, 0)
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(offset, "")})
    finally:
        await consumer.stop()


async def _state(bootstrap: str) -> tuple[list[str], int | None]:
    """The topic's partition 0 from the start, and the group's committed offset on it."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(TOPIC, 0)
        consumer.assign([tp])
        committed = await consumer.committed(tp)
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        values: list[str] = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            values += [m.value.decode() for m in batch.get(tp, []) if m.value is not None]
        return values, committed
    finally:
        await consumer.stop()


async def test_a_restore_brings_back_postgres_and_kafka_as_they_were_at_the_backup(
    own: OwnStack, tmp_path: Path,
) -> None:
    kafka = own.connection("kafka")
    dsn = own.connection("chungtay_registration")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE kept (id int PRIMARY KEY, name text)")
        await conn.execute("INSERT INTO kept VALUES (1, 'Xã Một'), (2, 'Xã Hai'), (3, 'Xã Ba')")
    finally:
        await conn.close()
    await _produce(kafka, "a", "b", "c")
    await _commit(kafka, 3)

    backup = tmp_path / "backup"
    out = await own.run("backup.sh", "create", str(backup))
    assert "pg_dump chungtay_registration" in out and "pg_dump chungtay_reporting" in out
    assert {p.name for p in (backup / "pg").iterdir()} == {
        f"chungtay_{s}.dump" for s in ("awards", "indicators", "registration", "reporting")}

    # the system goes on after the backup: the broker is back, writes change everything
    await _produce(kafka, "d", "e")
    await _commit(kafka, 5)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM kept WHERE id = 1")
        await conn.execute("INSERT INTO kept VALUES (4, 'Xã Bốn')")
        # a service still connected: the restore refuses, and changes nothing
        out = await own.run("backup.sh", "restore", str(backup), ok=False)
        assert "chungtay_registration has 1 connections: stop the services first" in out
        assert await conn.fetchval("SELECT count(*) FROM kept") == 3
    finally:
        await conn.close()
    async for attempt in eventually(30):
        with attempt:
            assert await _state(kafka) == (["a", "b", "c", "d", "e"], 5)

    await own.run("backup.sh", "restore", str(backup))

    conn = await asyncpg.connect(dsn)
    try:
        assert [tuple(r) for r in await conn.fetch("SELECT id, name FROM kept ORDER BY id")] == [
            (1, "Xã Một"), (2, "Xã Hai"), (3, "Xã Ba")]
    finally:
        await conn.close()
    async for attempt in eventually(30):  # the group coordinator loads its offsets first
        with attempt:
            assert await _state(kafka) == (["a", "b", "c"], 3)
    # a damaged backup is refused before anything is touched
    (backup / "kafka.tar.gz").write_bytes(b"not a backup")
    out = await own.run("backup.sh", "restore", str(backup), ok=False)
    assert "checksums do not match" in out
