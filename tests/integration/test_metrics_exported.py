"""Every metric the README, the Grafana dashboard and the alert rules rely on is exported, and the
message and domain counters count what happened."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.support import servers
from tests.support.backends import Backend
from tests.support.flows import (
    PASSWORD,
    auth,
    bearer,
    create_user,
    login,
    refresh,
    rpc_failure,
    unique_email,
)
from tests.support.ports import free_port
from userservice.v1 import auth_pb2

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "userservice-dashboard.json"
README = ROOT / "README.md"
# PromQL's functions, aggregations and keywords as the two files use them; anything else that
# looks like a name is a metric name (so a misspelt function fails the test too).
PROMQL_WORDS = frozenset(
    {
        "sum", "min", "max", "avg", "count", "rate", "irate", "increase", "changes",
        "histogram_quantile", "max_over_time", "min_over_time", "label_values",
        "and", "or", "unless", "bool", "by", "without", "on", "ignoring",
    }
)  # fmt: skip
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "info": ("_info",),
}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def metric_names(expression: str) -> set[str]:
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expression)  # label values, format strings
    text = re.sub(r"\$\{?\w+\}?", "", text)  # dashboard variables
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", text)  # matchers, ranges
    text = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", text)  # grouping labels
    text = re.sub(r"label_values\(([^,)]*),\s*\w+\)", r"\1", text)  # Grafana: (metric, label)
    names = set(re.findall(r"(?<![\w.])[A-Za-z_:][\w:]*", text))
    return names - PROMQL_WORDS


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    targets = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    variables = [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return targets + variables


def scrape(port: int) -> tuple[set[str], Samples]:
    """The exported names (every sample name a family can have) and the samples."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    names: set[str] = set()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        names |= {family.name, *(family.name + s for s in SUFFIXES.get(family.type, ()))}
        for sample in family.samples:
            names.add(sample.name)
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return names, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def exercise(channel: grpc.aio.Channel) -> None:
    """Login outcomes, a throttle, a refresh reuse, a logout, a Watch stream and a reflection
    stream: every labelled series the files rely on gets a sample."""
    account = await create_user(channel, email=unique_email())
    pair = await login(channel, account.email, account.password)
    second = await login(channel, account.email, account.password)
    await auth(channel).Logout(auth_pb2.LogoutRequest(), metadata=bearer(second.access_token))
    await refresh(channel, pair.refresh_token)
    reused = await rpc_failure(refresh(channel, pair.refresh_token))
    assert reused.error_info.reason == "REFRESH_TOKEN_REUSED"
    # The budget is one wrong password per account and address (the test's settings).
    for expected in ("INVALID_CREDENTIALS", "RATE_LIMITED"):
        refused = await rpc_failure(login(channel, account.email, PASSWORD + "-wrong"))
        assert refused.error_info.reason == expected

    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()

    stream = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo()
    for _ in range(2):
        await stream.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        assert (await stream.read()).list_services_response.service
    await stream.done_writing()
    assert await stream.read() is grpc.aio.EOF


@pytest.fixture
def observed_settings(backend: Backend, tmp_path: Path) -> Any:
    return servers.settings_for_test(
        backend,
        tmp_path,
        metrics_host="127.0.0.1",
        metrics_port=free_port(),
        login_failures_per_account_and_ip=1,
    )


async def test_every_metric_the_dashboard_alerts_and_readme_name_is_exported(
    observed_settings: Any,
) -> None:
    async with servers.serving(observed_settings) as (_, channel):
        await exercise(channel)
        names, _ = await asyncio.to_thread(scrape, observed_settings.metrics_port)

    referenced: dict[str, set[str]] = {}
    for source, expressions in (
        ("alerts.yaml", alert_expressions()),
        ("userservice-dashboard.json", dashboard_expressions()),
    ):
        for expression in expressions:
            for name in metric_names(expression):
                referenced.setdefault(name, set()).add(source)
    assert len(referenced) >= 25, sorted(referenced)
    missing = {name: sources for name, sources in referenced.items() if name not in names}
    assert not missing, missing
    # The README's Observability section lists every userservice and gRPC metric.
    readme = README.read_text()
    series = {n for n in names if n.startswith(("userservice_", "grpc_server_"))}
    documented = {
        n.removesuffix("_bucket") if n.endswith("_bucket") else n
        for n in series
        if not n.endswith(("_created", "_count", "_sum")) and n + "_total" not in series
    }
    assert documented, series
    assert {n for n in documented if f"`{n}`" not in readme} == set()


async def test_messages_and_domain_events_are_counted(observed_settings: Any) -> None:
    async with servers.serving(observed_settings) as (_, channel):
        await exercise(channel)
        _, samples = await asyncio.to_thread(scrape, observed_settings.metrics_port)

    def rpc(name: str, service: str, method: str, kind: str) -> float:
        return value(samples, name, grpc_type=kind, grpc_service=service, grpc_method=method)

    health, reflection = "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"
    auth_service = "userservice.v1.AuthService"
    assert rpc("grpc_server_msg_received_total", auth_service, "Login", "unary") == 4
    assert rpc("grpc_server_msg_sent_total", auth_service, "Login", "unary") == 2
    assert rpc("grpc_server_msg_received_total", health, "Watch", "server_stream") == 1
    assert rpc("grpc_server_msg_sent_total", health, "Watch", "server_stream") >= 1
    info = "ServerReflectionInfo"
    assert rpc("grpc_server_msg_received_total", reflection, info, "bidi_stream") == 2
    assert rpc("grpc_server_msg_sent_total", reflection, info, "bidi_stream") == 2

    assert value(samples, "userservice_logins_total", outcome="success") == 2
    assert value(samples, "userservice_logins_total", outcome="invalid_credentials") == 1
    assert value(samples, "userservice_logins_total", outcome="rate_limited") == 1
    assert value(samples, "userservice_throttled_attempts_total", limit="login_account_ip") == 1
    assert value(samples, "userservice_refresh_token_reuses_total") == 1
    revoked = "userservice_sessions_revoked_total"
    assert value(samples, revoked, reason="refresh_token_reused") == 1
    assert value(samples, revoked, reason="logout") == 1
    issued = "userservice_tokens_issued_total"
    assert value(samples, issued, kind="user_access") == 3  # two logins, one refresh
    assert value(samples, issued, kind="refresh") == 3
    # The sign-up hashed; four logins verified (the throttled one never reached the hash).
    hashes = "userservice_password_hashes_total"
    assert value(samples, hashes, operation="hash") == 1
    assert value(samples, hashes, operation="verify") == 3
    events = "userservice_events_written_total"
    assert value(samples, events, type="user.created") == 1
    assert value(samples, events, type="session.created") == 2
    assert value(samples, events, type="session.revoked") == 2  # the logout, the reuse
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "python_gc_collections_total", generation="0") > 0


async def test_the_running_server_measures_its_event_loop_lag(
    backend: Backend, tmp_path: Path
) -> None:
    lag = "userservice_event_loop_lag_seconds_count"
    async with servers.serving(servers.settings_for_test(backend, tmp_path)) as (app, _):
        registry = app.metrics.registry
        async with asyncio.timeout(10):  # bounds a build that never measures (four a second)
            while True:
                if (registry.get_sample_value(lag) or 0) >= 2:
                    return
                await asyncio.sleep(0.05)
