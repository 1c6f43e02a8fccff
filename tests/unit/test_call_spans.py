"""Tracing is off unless the environment asks; the server span's status follows OpenTelemetry's
gRPC conventions (the server's failures are errors, the caller's mistakes are not); sampled-out
calls carry no trace id."""

from __future__ import annotations

import os

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import StatusCode

from server.observability.spans import tracing_requested
from server.observability.tracing import SERVER_ERRORS, Tracing, tracing_with

SERVICE, METHOD = "userservice.v1.UserService", "GetUser"


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda code: code.name)
def test_only_the_servers_failures_mark_the_span_as_an_error(code: grpc.StatusCode) -> None:
    exporter = InMemorySpanExporter()
    tracing = tracing_with(SimpleSpanProcessor(exporter))

    span = tracing.for_method(SERVICE, METHOD).start(())
    assert len(span.trace_id) == 32
    span.end(code)

    [finished] = exporter.get_finished_spans()
    assert finished.name == f"{SERVICE}/{METHOD}"
    assert finished.attributes is not None
    assert finished.attributes["rpc.grpc.status_code"] == code.value[0]
    expected = StatusCode.ERROR if code in SERVER_ERRORS else StatusCode.UNSET
    assert finished.status.status_code is expected


def test_a_sampled_out_call_has_no_trace_id_in_its_access_line() -> None:
    unsampled = Tracing(TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False))

    span = unsampled.for_method(SERVICE, METHOD).start(())
    assert span.trace_id == ""
    span.end(grpc.StatusCode.OK)


def test_tracing_is_off_unless_the_environment_asks() -> None:
    assert not tracing_requested({})
    assert not tracing_requested({"OTEL_SERVICE_NAME": "userservice"})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "none"})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318"})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "TRUE"})
    assert "OTEL_TRACES_EXPORTER" not in os.environ  # the suite itself runs untraced
