"""Both compose files against the Compose specification, with Compose's own loader: the
validator command of compose-go (github.com/compose-spec/compose-go, the library `docker
compose` loads files with), built from the Go module proxy at a pinned version. Docker is not
run here; what the files mean is checked on the loader's merged model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.deploy

COMPOSE_GO = "github.com/compose-spec/compose-go/v2/cmd@v2.16.2"
BIN = REPO / ".local" / "bin"
BASE = REPO / "docker-compose.yml"
CLUSTER = REPO / "docker-compose.cluster.yml"
SERVICES = ("registration", "indicators", "awards", "reporting")


@pytest.fixture(scope="module")
def validator() -> Path:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        pytest.fail("the Go toolchain (go) is needed to build compose-go's validator")
    binary = BIN / "cmd"
    stamp = BIN / "compose-go.version"
    if not binary.exists() or not stamp.exists() or stamp.read_text() != COMPOSE_GO:
        BIN.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([go, "install", COMPOSE_GO], env={**os.environ, "GOBIN": str(BIN)},
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        stamp.write_text(COMPOSE_GO)
    return binary


def load(validator: Path, *files: Path) -> tuple[int, str, Any]:
    """The loader's verdict on ``files`` (later ones override earlier ones): its exit code, its
    errors and the merged model. Variables are left as written (no values are needed)."""
    result = subprocess.run([str(validator), "--no-interpolation", "--format", "json",
                             *map(str, files)], cwd=REPO, capture_output=True, text=True,
                            timeout=60)
    model = json.loads(result.stdout) if result.returncode == 0 else None
    return result.returncode, result.stderr, model


def test_the_compose_files_follow_the_specification(validator: Path, tmp_path: Path) -> None:
    code, errors, base = load(validator, BASE)
    assert code == 0, errors
    assert {"kafka", "postgres", "init", *SERVICES} <= set(base["services"])
    code, errors, _ = load(validator, BASE, CLUSTER)
    assert code == 0, errors
    # the check refuses what the specification does not allow (an unknown key, a wrong value)
    broken = tmp_path / "broken.yml"
    broken.write_text(BASE.read_text().replace("    restart: unless-stopped\n",
                                               "    restart: unless-stopped\n    restarts: 3\n", 1))
    code, errors, _ = load(validator, broken)
    assert code != 0 and "restarts" in errors, errors
    shutil.copy(BASE, tmp_path / "docker-compose.yml")  # what the override extends
    wrong = tmp_path / "wrong.yml"
    wrong.write_text(CLUSTER.read_text().replace("{replicas: 2}", "{replica: 2}", 1))
    code, errors, _ = load(validator, tmp_path / "docker-compose.yml", wrong)
    assert code != 0 and "replica" in errors, errors


def test_the_cluster_file_runs_three_brokers_and_two_instances_of_each_service(
    validator: Path,
) -> None:
    code, errors, model = load(validator, BASE, CLUSTER)
    assert code == 0, errors
    services = model["services"]

    def env(name: str) -> dict[str, str]:
        raw = services[name]["environment"]
        return raw if isinstance(raw, dict) else dict(e.split("=", 1) for e in raw)

    nodes = ("kafka", "kafka-2", "kafka-3")
    voters = {env(n)["CHUNGTAY_KAFKA_VOTERS"] for n in nodes}
    assert voters == {"1@kafka-1.brokers:9093,2@kafka-2.brokers:9093,3@kafka-3.brokers:9093"}
    assert sorted(env(n)["CHUNGTAY_KAFKA_NODE_ID"] for n in nodes) == ["1", "2", "3"]
    assert {(env(n)["CHUNGTAY_KAFKA_REPLICATION"], env(n)["CHUNGTAY_KAFKA_MIN_ISR"])
            for n in nodes} == {("3", "2")}
    data = [next(v["source"] for v in services[n]["volumes"]
                 if v["target"] == "/var/lib/kafka/data") for n in nodes]
    assert len(set(data)) == 3, f"the brokers share a data volume: {data}"
    for n in nodes:  # replication and the quorum on a network of the brokers alone
        assert f"{n if n != 'kafka' else 'kafka-1'}.brokers" in \
            services[n]["networks"]["brokers"]["aliases"]
    assert model["networks"]["brokers"]["internal"] is True
    assert not [s for s in ("postgres", "init", *SERVICES)
                if "brokers" in (services[s].get("networks") or {})]
    for name in (*SERVICES, "init"):
        assert env(name)["CHUNGTAY_KAFKA_BOOTSTRAP"] == "kafka:9092,kafka-2:9092,kafka-3:9092"
        assert env(name)["CHUNGTAY_KAFKA_REPLICATION_FACTOR"] == "3"
        assert set(nodes) <= set(services[name]["depends_on"])
    for name in SERVICES:
        assert services[name]["deploy"]["replicas"] == 2
        assert [p.get("published") for p in services[name]["ports"]] == [None]
    assert "--config.file=/etc/prometheus/prometheus.cluster.yml" in \
        services["prometheus"]["command"]
    # the broker's own start script takes the node's settings
    script = (REPO / "deploy" / "compose" / "kafka-start.sh").read_text()
    for variable in ("CHUNGTAY_KAFKA_NODE_ID", "CHUNGTAY_KAFKA_VOTERS", "CHUNGTAY_KAFKA_PEER_HOST",
                     "CHUNGTAY_KAFKA_REPLICATION", "CHUNGTAY_KAFKA_MIN_ISR"):
        assert variable in script
