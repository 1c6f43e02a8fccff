"""What runs beside the gRPC server: the background tasks, the metrics read at each scrape and
the HTTP listener, and the two-phase drain at shutdown (ARCHITECTURE.md, "The path of one call";
README, "Deployment")."""

from __future__ import annotations

import asyncio
import datetime as dt
from contextlib import AsyncExitStack

import grpc.aio
import structlog

from server.clock import utc_now
from server.config import Settings
from server.exports import dependency_state, domain_counts, key_publication
from server.http_listener import HttpListener, listener_app, start_http_listener
from server.observability.domain_metrics import register_domain_metrics
from server.observability.hashing_metrics import register_hashing_metrics
from server.observability.health import HealthReporter
from server.observability.loop_lag import measure_loop_lag
from server.observability.metrics import GrpcMetrics, register_dependency_metrics
from server.rpc.streams import StreamBudget
from server.services.maintenance import purge_periodically
from server.startup_failures import CannotStart
from server.tasks import cancel_and_wait
from server.transport import listen_address
from server.wiring import Services


def http_listener(settings: Settings, metrics: GrpcMetrics, services: Services) -> HttpListener:
    """The HTTP port: metrics, and the keys for consumers that fetch them over HTTP."""
    address = listen_address(settings.metrics_host, settings.metrics_port)
    app = listener_app(metrics.registry, key_publication(settings, services))
    try:
        return start_http_listener(app, settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        raise CannotStart(
            f"USERSERVICE_METRICS_PORT: cannot listen on {address} for metrics "
            f"({exc.strerror}); choose another port, or 0 to turn the metrics listener off"
        ) from exc


def start_background_tasks(
    stack: AsyncExitStack, settings: Settings, services: Services, metrics: GrpcMetrics
) -> None:
    """Replication (the events channel and the database poll), the purge and the event loop's
    lag, cancelled on exit."""
    replication = asyncio.create_task(services.replica.run(), name="replication")
    stack.push_async_callback(cancel_and_wait, replication)
    purge = asyncio.create_task(
        purge_periodically(
            services.units,
            utc_now,
            interval_seconds=settings.purge_interval_seconds,
            batch_size=settings.purge_batch_size,
            event_retention=dt.timedelta(days=settings.event_retention_days),
            progress=metrics.count_purged,
        ),
        name="purge-expired",
    )
    stack.push_async_callback(cancel_and_wait, purge)
    lag = asyncio.create_task(measure_loop_lag(metrics.loop_lag), name="event-loop-lag")
    stack.push_async_callback(cancel_and_wait, lag)


def observed(
    stack: AsyncExitStack, settings: Settings, services: Services, metrics: GrpcMetrics
) -> HttpListener | None:
    """The metrics read from the services at each scrape, and the HTTP listener (if a port)."""
    register_dependency_metrics(metrics.registry, dependency_state(services))
    register_domain_metrics(metrics.registry, domain_counts(services))
    if services.hasher.admission is not None:
        register_hashing_metrics(metrics.registry, services.hasher.admission)
    if not settings.metrics_port:
        return None
    listener = http_listener(settings, metrics, services)
    stack.callback(listener.close)
    return listener


async def drain(
    settings: Settings,
    health: HealthReporter,
    services: Services,
    streams: StreamBudget,
    server: grpc.aio.Server,
    grace: float,
) -> None:
    """Two phases. First every status turns NOT_SERVING while the server still accepts and
    answers: probes and balancers move traffic away, and calls already on their way are served
    (grpc's stop cancels calls that have not reached a handler yet). Then the port closes and
    in-flight calls get the grace period."""
    await health.shutdown()
    # Event watchers end their streams now, so their clients resume on another replica instead
    # of holding this one's shutdown for the whole grace period.
    await services.event_signal.close()
    if settings.drain_seconds:
        structlog.get_logger("userservice").info("draining", seconds=settings.drain_seconds)
        await asyncio.sleep(settings.drain_seconds)
    streams.end_all()  # streams (Watch) end cleanly now rather than hold the grace
    await server.stop(grace)
