"""Prometheus: grpc_server_started_total, _handled_total and _handling_seconds, per method."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from server.interceptors.base import CallInfo, Context, WrappingInterceptor
from server.interceptors.outcome import final_code
from server.observability.metrics import GrpcMetrics


class MetricsInterceptor(WrappingInterceptor):
    def __init__(self, metrics: GrpcMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    @asynccontextmanager
    async def around(self, call: CallInfo, context: Context) -> AsyncIterator[None]:
        labels = (call.grpc_type, call.service, call.method)
        self._metrics.started.labels(*labels).inc()
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._metrics.handling_seconds.labels(*labels).observe(time.perf_counter() - started)
            code = final_code(context, error)
            self._metrics.handled.labels(*labels, code.name).inc()
