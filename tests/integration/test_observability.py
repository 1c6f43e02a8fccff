"""Request ids are echoed or generated; every call is counted in Prometheus metrics."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.support import servers
from tests.support.backends import Backend
from tests.support.ports import free_port
from tests.support.rich_errors import rich_error
from tests.support.waiting import eventually
from userservice.v1 import service_account_pb2
from userservice.v1 import service_account_pb2_grpc as sa_pb2_grpc

HEALTH = "grpc.health.v1.Health"
SERVICE_ACCOUNTS = "userservice.v1.ServiceAccountService"
# Bounds a broken build only: the counts move microseconds after the status is sent.
METRICS_SECONDS = 10.0
Sample = tuple[str, frozenset[tuple[str, str]]]


def request_id_in(metadata: grpc.aio.Metadata | None) -> str | None:
    values = [value for key, value in metadata or () if key == "x-request-id"]
    assert len(values) <= 1, values
    return str(values[0]) if values else None


async def test_the_callers_request_id_is_echoed_in_the_trailing_metadata(
    channel: grpc.aio.Channel,
) -> None:
    call = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=""),
        metadata=(("x-request-id", "caller-chosen-id-42"),),
    )

    assert request_id_in(await call.trailing_metadata()) == "caller-chosen-id-42"
    assert (await call).status == health_pb2.HealthCheckResponse.SERVING


async def test_a_request_id_is_generated_when_the_caller_sends_none(
    channel: grpc.aio.Channel,
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    first = stub.Check(health_pb2.HealthCheckRequest(service=""))
    second = stub.Check(health_pb2.HealthCheckRequest(service=""))

    first_id = request_id_in(await first.trailing_metadata())
    second_id = request_id_in(await second.trailing_metadata())
    await first
    await second

    assert first_id is not None
    assert re.fullmatch(r"[0-9a-f]{32}", first_id)
    assert second_id is not None
    assert first_id != second_id


async def test_an_oversized_request_id_is_replaced_by_a_generated_one(
    channel: grpc.aio.Channel,
) -> None:
    call = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=""), metadata=(("x-request-id", "r" * 129),)
    )

    echoed = request_id_in(await call.trailing_metadata())
    await call

    assert echoed is not None
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)


async def test_a_failed_call_reports_the_request_id_it_was_given(
    channel: grpc.aio.Channel,
) -> None:
    call = sa_pb2_grpc.ServiceAccountServiceStub(channel).GetServiceAccount(
        service_account_pb2.GetServiceAccountRequest(id="sa-1")
    )
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call

    echoed = request_id_in(failed.value.trailing_metadata())
    assert echoed is not None
    assert rich_error(failed.value).error_info.metadata["request_id"] == echoed


def scrape(port: int) -> dict[Sample, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(service: str, method: str) -> frozenset[tuple[str, str]]:
    return frozenset({"grpc_type": "unary", "grpc_service": service, "grpc_method": method}.items())


async def scraped_once(port: int, counted: Mapping[Sample, float]) -> dict[Sample, float]:
    """The metrics, scraped once every `counted` sample has reached its count.

    A call's handled count and duration are recorded when its handler ends, and a handler that
    aborts has sent its status by then: the client can see the status before the count moves.
    """
    samples: dict[Sample, float] = {}

    async def all_counted() -> bool:
        nonlocal samples
        samples = await asyncio.to_thread(scrape, port)
        return all(samples.get(key, 0.0) >= count for key, count in counted.items())

    await eventually(all_counted, within=METRICS_SECONDS, what=f"the counts {dict(counted)}")
    return samples


async def test_calls_are_counted_by_method_and_code_on_the_metrics_port(
    backend: Backend, tmp_path: Path
) -> None:
    metrics_port = free_port()
    settings = servers.settings_for_test(
        backend, tmp_path, metrics_host="127.0.0.1", metrics_port=metrics_port
    )
    async with servers.serving(settings) as (app, channel):
        assert app.metrics_port == metrics_port
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(2):
            await health.Check(health_pb2.HealthCheckRequest(service=""))
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await sa_pb2_grpc.ServiceAccountServiceStub(channel).GetServiceAccount(
                service_account_pb2.GetServiceAccountRequest(id="sa-1")
            )
        assert failed.value.code() is grpc.StatusCode.UNAUTHENTICATED

        check = labels(HEALTH, "Check")
        refused = labels(SERVICE_ACCOUNTS, "GetServiceAccount")
        handled = {
            ("grpc_server_handled_total", check | {("grpc_code", "OK")}): 2.0,
            ("grpc_server_handling_seconds_count", check): 2.0,
            ("grpc_server_handled_total", refused | {("grpc_code", "UNAUTHENTICATED")}): 1.0,
            ("grpc_server_handling_seconds_count", refused): 1.0,
        }
        samples = await scraped_once(metrics_port, handled)

    assert samples[("grpc_server_started_total", check)] == 2.0
    assert samples[("grpc_server_started_total", refused)] == 1.0
    for key, count in handled.items():
        assert samples[key] == count, key
    assert ("grpc_server_handled_total", refused | {("grpc_code", "OK")}) not in samples
