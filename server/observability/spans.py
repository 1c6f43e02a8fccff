"""What the rest of the service knows of tracing without importing OpenTelemetry: whether the
environment asks for it, and the type of the child-span opener handed to the database and the
Redis guard (None when tracing is off, so nothing is created per call)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TypeAlias

# Opens a child span of the current call's span (nothing when no call span is recording).
SpanOpener: TypeAlias = Callable[[str, Mapping[str, str]], AbstractContextManager[object]]

_OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class TracingConfigurationError(Exception):
    """The OTEL_* environment asks for tracing this installation cannot do; names the variable."""


def tracing_requested(environ: Mapping[str, str]) -> bool:
    """Tracing is off unless asked for: `OTEL_TRACES_EXPORTER` names an exporter (not `none`),
    or an OTLP endpoint is set. `OTEL_SDK_DISABLED=true` turns it off whatever else is set."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return any(environ.get(name, "").strip() for name in _OTLP_ENDPOINTS)
