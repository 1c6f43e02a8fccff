"""grpc.health.v1: liveness on "" and readiness per service.

"" answers SERVING once start-up is complete and while the process lives. Each userservice
service answers SERVING only while the database answers and its schema is at the latest
migration; a background task re-checks and `Watch` streams every change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import structlog
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from server.tasks import cancel_and_wait

SERVING: Final = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: Final = health_pb2.HealthCheckResponse.NOT_SERVING
LIVENESS: Final = ""

ReadinessProbe = Callable[[], Awaitable[str | None]]
"""Returns None when ready, else why not."""


class HealthReporter:
    def __init__(
        self,
        services: Sequence[str],
        probe: ReadinessProbe,
        *,
        interval_seconds: float,
        timeout_seconds: float,
        logger: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self.servicer = health_aio.HealthServicer()
        self._services = tuple(services)
        self._probe = probe
        self._interval = interval_seconds
        self._timeout = timeout_seconds
        self._log = logger
        self._ready: bool | None = None
        self._task: asyncio.Task[None] | None = None

    async def hold(self) -> None:
        """Before start-up completes: everything NOT_SERVING (the servicer starts "" as SERVING)."""
        for service in (LIVENESS, *self._services):
            await self.servicer.set(service, NOT_SERVING)

    async def start(self) -> None:
        """Start-up is complete: liveness SERVING, readiness from a first probe, then a watcher."""
        await self.servicer.set(LIVENESS, SERVING)
        await self.check()
        self._task = asyncio.create_task(self._watch(), name="readiness-watch")

    @property
    def ready(self) -> bool:
        return bool(self._ready)

    async def check(self) -> bool:
        try:
            problem = await asyncio.wait_for(self._probe(), self._timeout)
        except TimeoutError:
            problem = "readiness probe timed out"
        except Exception as exc:  # noqa: BLE001 - any failure of the probe means "not ready"
            # Logged once per change of state below: an outage is one line, not one per probe.
            problem = f"database unreachable ({getattr(exc, 'reason', None) or type(exc).__name__})"
        ready = problem is None
        if ready != self._ready:
            self._ready = ready
            if ready:
                self._log.info("ready", services=self._services)
            else:
                self._log.warning("not ready", reason=problem)
            status = SERVING if ready else NOT_SERVING
            for service in self._services:
                await self.servicer.set(service, status)
        return ready

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check()

    async def shutdown(self) -> None:
        """Every status NOT_SERVING, for good; the watcher stops."""
        await cancel_and_wait(self._task)
        self._task = None
        await self.servicer.enter_graceful_shutdown()
