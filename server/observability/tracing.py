"""OpenTelemetry tracing of calls, built only when the environment asks for it
(`server/observability/spans.py`); this module is imported only then.

One server span per call, started by the call pipeline (not an interceptor): named
`userservice.v1.UserService/GetUser`, kind SERVER, with `rpc.system`, `rpc.service`,
`rpc.method` and `rpc.grpc.status_code`, its parent taken from the caller's W3C `traceparent`
and `tracestate` metadata. Database units of work and Redis calls made during the call are its
children. The provider is the application's own (no global), configured by the standard
`OTEL_*` variables: the sampler (`OTEL_TRACES_SAMPLER`), the resource (`OTEL_SERVICE_NAME`,
default `userservice`; `OTEL_RESOURCE_ATTRIBUTES`), the batch processor (`OTEL_BSP_*`) and the
OTLP/HTTP exporter (`OTEL_EXPORTER_OTLP_*`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Final

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from server.observability.spans import SpanOpener, TracingConfigurationError

_INSTRUMENTATION = "userservice"
_PROPAGATED: Final = frozenset({"traceparent", "tracestate"})
# OpenTelemetry's semantic conventions for gRPC servers: these codes mean the server failed;
# the others (NOT_FOUND, UNAUTHENTICATED, ...) are the caller's and leave the status unset.
SERVER_ERRORS: Final = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_NO_SPAN: Final = contextlib.nullcontext()


class ServerSpan:
    """One call's span, current (attached) from `MethodTracer.start` until `end`."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: trace.Span, token: object) -> None:
        self._span = span
        self._token = token

    @property
    def trace_id(self) -> str:
        """The trace id for the access line, empty when the span is not recorded (sampled out)."""
        if not self._span.is_recording():
            return ""
        return format(self._span.get_span_context().trace_id, "032x")

    def end(self, code: grpc.StatusCode) -> None:
        span = self._span
        if span.is_recording():
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code in SERVER_ERRORS:
                span.set_status(trace.Status(trace.StatusCode.ERROR, code.name))
        span.end()
        otel_context.detach(self._token)  # type: ignore[arg-type]


class MethodTracer:
    """Starts the server span of one method's calls (name and attributes bound once)."""

    __slots__ = ("_attributes", "_name", "_propagator", "_tracer")

    def __init__(self, tracer: trace.Tracer, service: str, method: str) -> None:
        self._tracer = tracer
        self._name = f"{service}/{method}"
        self._attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
        self._propagator = TraceContextTextMapPropagator()

    def start(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> ServerSpan:
        carrier = {key: str(value) for key, value in metadata or () if key in _PROPAGATED}
        parent = self._propagator.extract(carrier)
        span = self._tracer.start_span(
            self._name, parent, kind=trace.SpanKind.SERVER, attributes=self._attributes
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return ServerSpan(span, token)


@dataclass(frozen=True, slots=True)
class Tracing:
    """The application's tracer provider and what the pipeline and the adapters use of it."""

    provider: TracerProvider

    @property
    def tracer(self) -> trace.Tracer:
        return self.provider.get_tracer(_INSTRUMENTATION)

    def for_method(self, service: str, method: str) -> MethodTracer:
        return MethodTracer(self.tracer, service, method)

    def child_spans(self) -> SpanOpener:
        tracer = self.tracer

        def open_child(name: str, attributes: Mapping[str, str]) -> AbstractContextManager[object]:
            # Only inside a recorded call: background work (heartbeats, polls) makes no traces.
            if not trace.get_current_span().is_recording():
                return _NO_SPAN
            return tracer.start_as_current_span(
                name, kind=trace.SpanKind.CLIENT, attributes=attributes
            )

        return open_child

    def shutdown(self) -> None:
        """Exports what is still buffered (blocking: call it off the event loop)."""
        self.provider.shutdown()


def tracing_with(*processors: SpanProcessor) -> Tracing:
    provider = TracerProvider(resource=_resource(), shutdown_on_exit=False)
    for processor in processors:
        provider.add_span_processor(processor)
    return Tracing(provider)


def tracing_from_environment(environ: Mapping[str, str] = os.environ) -> Tracing:
    """Batch processors over the exporters `OTEL_TRACES_EXPORTER` names (default `otlp`)."""
    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    exporters = [_exporter(name, environ) for name in names if name and name != "none"]
    return tracing_with(*(BatchSpanProcessor(exporter) for exporter in exporters))


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        raise TracingConfigurationError(
            f"OTEL_TRACES_EXPORTER: {name!r} is not available; use otlp, console or none"
        )
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = environ.get(variable, "").strip()
        if protocol and protocol != "http/protobuf":
            raise TracingConfigurationError(
                f"{variable}: {protocol!r} is not installed; userservice exports http/protobuf"
            )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _resource() -> Resource:
    detected = Resource.create({})
    if str(detected.attributes.get("service.name", "")).startswith("unknown_service"):
        return detected.merge(Resource({"service.name": "userservice"}))
    return detected
