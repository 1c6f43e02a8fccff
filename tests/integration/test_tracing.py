"""OpenTelemetry tracing: one server span per call, joined to the caller's W3C trace, with the
database and Redis work as its children; off unless the OTEL_* environment asks for it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc
import grpc.aio
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from structlog.testing import capture_logs

from server.observability.tracing import tracing_with
from server.runner import serve
from tests.support import servers
from tests.support.backends import Backend
from tests.support.flows import auth, create_user, login, unique_email, users
from tests.support.tracing import info_logs_captured, otlp_collector, serving_traced
from tests.support.waiting import eventually
from userservice.v1 import auth_pb2, user_pb2

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
LOGIN = "userservice.v1.AuthService/Login"


def server_spans(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


async def finished(exporter: InMemorySpanExporter, name: str, count: int = 1) -> None:
    async def ended() -> bool:
        return len(server_spans(exporter, name)) >= count

    # The span ends as the handler returns, which the client can see a moment before.
    await eventually(ended, within=10.0, what=f"{count} span(s) {name}")


def children_of(spans: Sequence[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    span_id = parent.context.span_id
    return [s for s in spans if s.parent is not None and s.parent.span_id == span_id]


async def test_a_call_carrying_a_traceparent_joins_the_callers_trace_with_children(
    backend: Backend, tmp_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    tracing = tracing_with(SimpleSpanProcessor(exporter))
    with info_logs_captured() as logs:
        async with serving_traced(backend, tmp_path, tracing) as (_, channel):
            account = await create_user(channel, email=unique_email())
            await auth(channel).Login(
                auth_pb2.LoginRequest(email=account.email, password=account.password),
                metadata=(("traceparent", TRACEPARENT), ("tracestate", "vendor=opaque")),
            )
            await finished(exporter, LOGIN)

    spans = exporter.get_finished_spans()
    [server] = server_spans(exporter, LOGIN)
    assert server.kind is SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None
    assert server.parent.is_remote
    assert format(server.parent.span_id, "016x") == PARENT_SPAN_ID
    assert server.context.trace_state.to_header() == "vendor=opaque"
    assert dict(server.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.service": "userservice.v1.AuthService",
        "rpc.method": "Login",
        "rpc.grpc.status_code": 0,
    }
    assert server.status.status_code is StatusCode.UNSET
    children = children_of(spans, server)
    names = {child.name for child in children}
    # The throttle's counters (Redis, or memory://, through the guard), the user read, and the
    # session written in one transaction.
    assert {"redis", "database read", "database transaction"} <= names, names
    assert all(child.context.trace_id == server.context.trace_id for child in children)
    assert all(child.kind is SpanKind.CLIENT for child in children)
    lines = [e for e in logs if e["event"] == "rpc" and e["method"] == "/" + LOGIN]
    assert [line["trace_id"] for line in lines] == [TRACE_ID]


async def test_a_call_without_a_traceparent_starts_a_trace_and_refusals_are_not_errors(
    backend: Backend, tmp_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    async with serving_traced(backend, tmp_path, tracing_with(SimpleSpanProcessor(exporter))) as (
        _,
        channel,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await users(channel).GetUser(user_pb2.GetUserRequest(id="me"))
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
        await finished(exporter, "userservice.v1.UserService/GetUser")

    [server] = server_spans(exporter, "userservice.v1.UserService/GetUser")
    assert server.parent is None
    assert server.context.trace_id != int(TRACE_ID, 16)
    assert server.attributes is not None
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    # The caller's mistake, not the server's (OpenTelemetry's gRPC conventions).
    assert server.status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("disabled", [False, True], ids=["exporting", "sdk-disabled"])
async def test_the_otel_environment_turns_tracing_on_and_off(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, disabled: bool
) -> None:
    with otlp_collector() as (endpoint, received):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "userservice-under-test")
        if disabled:
            monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        async with serving_traced(backend, tmp_path, None) as (_, channel):
            account = await create_user(channel, email=unique_email())
            await login(channel, account.email, account.password)
        # Leaving the application flushed the batch processor.

    if disabled:
        assert received == []
        return
    names = set()
    for path, body in received:
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            assert attributes["service.name"] == "userservice-under-test"
            names |= {s.name for scope in resource_spans.scope_spans for s in scope.spans}
    assert {"userservice.v1.UserService/CreateUser", LOGIN, "database transaction"} <= names


async def test_an_exporter_this_installation_lacks_stops_the_start_naming_the_variable(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    settings = servers.settings_for_test(backend, tmp_path)

    with capture_logs() as logs:
        assert await serve(settings) == 2

    [line] = [e for e in logs if e["log_level"] == "error"]
    assert line["event"] == "cannot start"
    assert "OTEL_EXPORTER_OTLP_PROTOCOL" in line["error"]
