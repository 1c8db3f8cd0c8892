"""The monitoring configuration against the real services and a real Prometheus.

Every metric the Grafana dashboard and the alert rules use must be exposed by the services, the
alert rules must load and evaluate, and promtool must accept the configuration. Prometheus and
promtool come from the Debian package (`deploy/prometheus/install.sh`).
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from chungtay_common.auth import Role
from chungtay_common.contracts.awards import (
    AuthorityLevel,
    Decision,
    NominationApproved,
    Nominee,
    NomineeKind,
)
from chungtay_common.events import Actor, new_envelope
from chungtay_common.topics import topic_name
from tests.conftest import REPO, TestStack, next_code
from tests.harness import LOG_DIR, ServiceProcess, free_port, running
from tests.support import bearer, eventually, ok, register_unit, units_csv

pytestmark = pytest.mark.deploy

PROMETHEUS = Path("/usr/bin/prometheus")
PROMTOOL = Path("/usr/bin/promtool")
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
GRAFANA_DIR = REPO / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
JOB = "chungtay"
# The services deploy/prometheus/prometheus.yml scrapes (`labels: {service: <name>}`): the test
# starts each of them, so a service added there is checked here too.
SERVICES = tuple(re.findall(r"labels:\s*\{\s*service:\s*([a-z_]+)\s*\}",
                            PROMETHEUS_CONFIG.read_text()))

# Metric names: ours all start with "chungtay_", plus Prometheus' own `up`. Label values are
# removed first, so a topic or a job called "chungtay..." is never taken for a metric.
_METRIC = re.compile(r"(?<![A-Za-z0-9_:$])(chungtay_[a-z0-9_]+|up)(?![A-Za-z0-9_:])")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
# Grafana's own variables, replaced by what they would be for "the last few minutes"; the
# template variables a dashboard defines become ".*": all their values.
_GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}
# a template variable of type "query": label_values(<selector>, <label>)
_LABEL_VALUES = re.compile(r"^\s*label_values\((.+),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$")


def metric_names(expr: str) -> set[str]:
    return set(_METRIC.findall(_STRING.sub('""', expr)))


def _substitute(expr: str, variables: dict[str, str]) -> str:
    for name in sorted(variables, key=len, reverse=True):  # $__rate_interval before $__range
        expr = expr.replace(name, variables[name])
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def _template_variables(dashboard: dict[str, Any], name: str, exprs: dict[str, str]
                        ) -> dict[str, str]:
    """The dashboard's variables and their replacements; the selector each "query" variable
    reads its values from goes into ``exprs``."""
    variables = dict(_GRAFANA_VARIABLES)
    for variable in dashboard.get("templating", {}).get("list", []):
        variables[f"${variable['name']}"] = variables[f"${{{variable['name']}}}"] = ".*"
        if variable.get("type") == "query":
            query = variable["query"]
            query = query["query"] if isinstance(query, dict) else query
            match = _LABEL_VALUES.match(query)
            assert match, f"{name} / ${variable['name']}: not label_values(...): {query!r}"
            exprs[f"{name} / ${variable['name']}"] = match.group(1)
    return variables


def dashboard_exprs() -> dict[str, str]:
    """PromQL of every panel target of every dashboard, by "<dashboard> / <panel> / <ref>",
    and the selector of every template variable, by "<dashboard> / $<variable>"."""
    exprs: dict[str, str] = {}

    def walk(panels: list[dict[str, Any]], dashboard: str, variables: dict[str, str]) -> None:
        for panel in panels:
            walk(panel.get("panels", []), dashboard, variables)
            for target in panel.get("targets", []):
                exprs[f"{dashboard} / {panel['title']} / {target['refId']}"] = _substitute(
                    target["expr"], variables)

    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        walk(dashboard["panels"], path.name, _template_variables(dashboard, path.name, exprs))
    return exprs


def alert_names() -> list[str]:
    return re.findall(r"^\s*- alert:\s*(\S+)\s*$", ALERTS.read_text(), re.MULTILINE)


def promtool(*args: str | Path) -> None:
    if not PROMTOOL.exists():
        pytest.fail(f"{PROMTOOL} is missing: run deploy/prometheus/install.sh (as root)")
    result = subprocess.run([str(PROMTOOL), *map(str, args)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, f"promtool {' '.join(map(str, args))}:\n{result.stdout}" \
                                   f"{result.stderr}"


def test_promtool_accepts_rules_and_config() -> None:
    promtool("check", "rules", ALERTS)
    promtool("check", "config", PROMETHEUS_CONFIG)
    # docker-compose.cluster.yml's: the replicas found by DNS, the same job and rules
    cluster = PROMETHEUS_DIR / "prometheus.cluster.yml"
    promtool("check", "config", cluster)
    text = cluster.read_text()
    assert re.search(rf"^\s*- job_name:\s*{JOB}\s*$", text, re.MULTILINE)
    assert all(name in text for name in SERVICES), SERVICES


def test_prometheus_config_scrapes_the_services_and_loads_the_alerts() -> None:
    # The test below scrapes the services with the same job and labels as this file.
    text = PROMETHEUS_CONFIG.read_text()
    assert re.search(rf"^\s*- job_name:\s*{JOB}\s*$", text, re.MULTILINE)
    assert {"registration", "reporting"} <= set(SERVICES), SERVICES
    assert re.search(r"^\s*-\s*alerts\.yml\s*$", text, re.MULTILINE)


def test_dashboards_use_the_provisioned_datasource() -> None:
    provisioned = set(re.findall(r"^\s*uid:\s*(\S+)\s*$", (
        GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text(),
        re.MULTILINE))
    assert DASHBOARDS, "no dashboard in deploy/grafana/dashboards"
    for path in DASHBOARDS:
        text = path.read_text()
        used = {m for m in re.findall(r'"uid":\s*"([^"]+)"', text)} - {
            json.loads(text)["uid"]}
        assert used and used <= provisioned, (path.name, used, provisioned)


def test_metric_names_are_extracted_from_promql() -> None:
    expr = ('sum by (service, le) (rate(chungtay_http_request_duration_seconds_bucket'
            '{job="chungtay", topic="chungtay_x.v1"}[5m])) and on (service) up == 0')
    assert metric_names(expr) == {"chungtay_http_request_duration_seconds_bucket", "up"}


def _prometheus_config(processes: dict[str, ServiceProcess]) -> dict[str, Any]:
    # JSON is YAML: no YAML library needed.
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [{
            "job_name": JOB,
            "metrics_path": "/metrics",
            "static_configs": [
                {"targets": [f"127.0.0.1:{proc.port}"], "labels": {"service": name}}
                for name, proc in processes.items()
            ],
        }],
    }


async def _make_traffic(stack: TestStack, registration: ServiceProcess,
                        reporting: ServiceProcess, unique_code: Callable[[], str]) -> None:
    """Requests and events so that every labelled series the dashboard shows exists."""
    admin = bearer(stack.token(Role.ADMIN))
    tag = uuid.uuid4().hex[:6]
    async with registration.client() as client:
        province = await register_unit(client, admin, kind="province", subkind="tinh",
                                       code=unique_code(), name=f"Tỉnh Đo Lường {tag}")
        csv, _ = units_csv(unique_code(), districts=1, communes_per_district=1,
                           code=iter(unique_code, None))
        ok(await client.post("/v1/units/import", params={"valid_from": "2017-01-01"},
                             content=csv.encode(), headers=admin | {"content-type": "text/csv"}),
           200)
        ok(await client.get("/v1/units", params={"q": "Đo Lường"}, headers=admin), 200)
    # a message no consumer can read: it goes to the dead-letter topic
    producer = AIOKafkaProducer(bootstrap_servers=stack.env["CHUNGTAY_KAFKA_BOOTSTRAP"])
    await producer.start()
    try:
        await producer.send_and_wait(topic_name("registration", stack.namespace),
                                     b"not an event", key=f"observability-{tag}".encode())
    finally:
        await producer.stop()
    async with reporting.client() as client:
        async for attempt in eventually(20):
            with attempt:
                r = await client.get("/v1/units/tree", params={"as_of": "2020-01-01"},
                                     headers=admin)
                ok(r, 200)
                assert province["unit_id"] in r.text
                assert "chungtay_dead_letters_total{" in (await client.get("/metrics")).text


async def _make_campaign_traffic(stack: TestStack,
                                 processes: dict[str, ServiceProcess]) -> None:
    """A campaign with a report, and an award granted, so that the campaign dashboard's series
    exist: through the indicators API, and an award event as the awards service sends it."""
    admin = bearer(stack.token(Role.ADMIN))
    code = iter(next_code, None)
    async with processes["registration"].client() as client:
        csv, _ = units_csv(next(code), districts=1, communes_per_district=1, code=code)
        ids = ok(await client.post("/v1/units/import", params={"valid_from": "2017-01-01"},
                                   content=csv.encode(),
                                   headers=admin | {"content-type": "text/csv"}), 200
                 )["unit_ids_by_code"]
    row = csv.splitlines()[1].split(",")
    district, commune = ids[row[2]], ids[row[4]]
    async with processes["indicators"].client() as client:
        campaign = ok(await client.post("/v1/campaigns", headers=admin, json={
            "code": f"obs-{uuid.uuid4().hex[:6]}", "name": "Đo lường", "first_year": 2026,
            "last_year": 2027}), 201)["campaign_id"]
        values = {"households_total": 1000, "poor_households": 50, "near_poor_households": 40,
                  "escaped_poverty": 5, "newly_poor": 1, "fell_back_into_poverty": 0}
        async for attempt in eventually(20):  # once indicators holds the unit
            with attempt:
                ok(await client.post(f"/v1/campaigns/{campaign}/reports/{commune}/2026/submit",
                                     json={"values": values}, headers=admin))
        values["poor_households"] = 40  # 5 % → 4 %: a reduction, and its target's attainment
        ok(await client.post(f"/v1/campaigns/{campaign}/reports/{commune}/2027/submit",
                             json={"values": values}, headers=admin))
        ok(await client.put(f"/v1/campaigns/{campaign}/targets/2027/{district}",
                            json={"reduction_pp_min": 0.5}, headers=admin))
    approved = NominationApproved(
        nomination_id=uuid.uuid4(), form_code="bang_khen_chu_tich_tinh", year=2026,
        nominee=Nominee(kind=NomineeKind.UNIT, nominee_id=commune, unit_id=uuid.UUID(commune),
                        name="Xã Đo Lường"),
        proposing_unit_id=uuid.UUID(commune),
        decision=Decision(number="1/QĐ-UBND", signed_on=date(2026, 12, 1), signer="Chủ tịch",
                          authority_level=AuthorityLevel.PROVINCIAL_CHAIRMAN))
    envelope = new_envelope(payload=approved, producer="awards", subject_id=commune,
                            actor=Actor(subject="observability", roles=["chairman"]))
    producer = AIOKafkaProducer(bootstrap_servers=stack.env["CHUNGTAY_KAFKA_BOOTSTRAP"])
    await producer.start()
    try:
        await producer.send_and_wait(
            topic_name("awards", stack.namespace), key=commune.encode(),
            value=envelope.model_dump_json(serialize_as_any=True).encode())
    finally:
        await producer.stop()
    async with processes["reporting"].client() as client:
        async for attempt in eventually(30):
            with attempt:
                text = (await client.get("/metrics")).text
                for name in ("chungtay_campaign_target_attainment_percent{",
                             "chungtay_campaign_reduction_points{",
                             "chungtay_campaign_poor_rate_percent{",
                             "chungtay_campaign_awards{", "chungtay_campaign_nominations{",
                             "chungtay_reporting_freshness_seconds_bucket{"):
                    assert name in text, name


def _prometheus_command(config: Path, data: Path, port: int) -> list[str]:
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} is missing: run deploy/prometheus/install.sh (as root)")
    return [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"]


async def _start_prometheus(config: Path, data: Path, port: int) -> asyncio.subprocess.Process:
    command = _prometheus_command(config, data, port)
    log = (LOG_DIR / f"prometheus-{port}.log").open("ab")
    try:
        return await asyncio.create_subprocess_exec(*command, stdout=log, stderr=log)
    finally:
        log.close()


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_dashboard_and_alerts_use_only_exposed_metrics(
    stack: TestStack, unique_code: Callable[[], str], tmp_path: Path,
) -> None:
    processes = {name: ServiceProcess(stack, name) for name in SERVICES}
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps(_prometheus_config(processes), indent=2))
    promtool("check", "config", config)
    port = free_port()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    prometheus = await _start_prometheus(config, tmp_path / "data", port)
    try:
        async with running(*processes.values()):
            await _make_traffic(stack, processes["registration"], processes["reporting"],
                                unique_code)
            await _make_campaign_traffic(stack, processes)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                         timeout=5) as prom:
                await _check_prometheus(prom, prometheus)
    finally:
        await _stop(prometheus)


async def _api(prom: httpx.AsyncClient, path: str, **params: str) -> Any:
    r = await prom.get(f"/api/v1/{path}", params=params)
    assert r.status_code == 200, f"{path} {params}: {r.status_code} {r.text}"
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]


async def _check_prometheus(prom: httpx.AsyncClient,
                            process: asyncio.subprocess.Process) -> None:
    # every service is scraped
    async for attempt in eventually(20):
        with attempt:
            assert process.returncode is None, "prometheus exited: see its log in " \
                                               f"{LOG_DIR}"
            targets = (await _api(prom, "targets", state="active"))["activeTargets"]
            health = {t["labels"].get("service"): t["health"] for t in targets
                      if t["labels"].get("job") == JOB}
            assert health == dict.fromkeys(SERVICES, "up"), targets

    # the real alert rules are loaded, and have been evaluated without error
    expected = alert_names()
    assert expected, f"no alert rule found in {ALERTS}"
    rules: list[dict[str, Any]] = []
    async for attempt in eventually(15):
        with attempt:
            groups = (await _api(prom, "rules"))["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            assert sorted(r["name"] for r in rules) == sorted(expected)
            bad = {r["name"]: (r["health"], r.get("lastError")) for r in rules
                   if r["health"] != "ok"}
            assert not bad, bad

    exprs = dashboard_exprs()
    exprs.update({f"alerts.yml / {r['name']}": r["query"] for r in rules})
    needed: dict[str, set[str]] = {}
    for where, expr in exprs.items():
        names = metric_names(expr)
        assert names, f"{where}: no metric found in {expr!r}"
        for name in names:
            needed.setdefault(name, set()).add(where)

    # every metric they use is really there (a scrape or two may still be on its way)
    async for attempt in eventually(15):
        with attempt:
            present = set(await _api(prom, "label/__name__/values"))
            missing = {name: sorted(where) for name, where in needed.items()
                       if name not in present}
            assert not missing, f"not exposed by the services: {missing}"
    # each histogram the dashboard reads has its buckets, sum and count
    for name in needed:
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix):
                base = name.removesuffix(suffix)
                assert {base + s for s in ("_bucket", "_sum", "_count")} <= present, base

    # and every expression is valid PromQL that Prometheus evaluates; a dashboard's panels
    # show data (an alert's condition holds only when it fires: it may be empty)
    panels = set(dashboard_exprs())
    async for attempt in eventually(30):
        with attempt:
            empty = []
            for where, expr in exprs.items():
                try:
                    result = (await _api(prom, "query", query=expr))["result"]
                except AssertionError as exc:
                    raise AssertionError(f"{where}: {exc}") from None
                if where in panels and not result:
                    empty.append(where)
            assert not empty, f"panels without data: {empty}"
