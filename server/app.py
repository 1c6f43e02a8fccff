"""The composition root: builds everything inside the running loop and tears down in reverse.

In order, each step a function: `connected` (engine → migrations in development → Redis),
`build_adapters` (signing keys, database, the caches over Redis), `build_services`
(server/wiring.py, with the hashing pool of `built_services`), then background tasks, metrics,
health, and `build_server` (server/serving.py: the call pipeline and the servicers). Nothing here
runs at import time; tests build the same graph with their own settings, and operators' commands
use `offline_services` (everything but the server).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc.aio
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from server.adapters import build_adapters
from server.cache.client import Redis, create_redis
from server.config import Settings
from server.http_listener import HttpListener
from server.observability.health import HealthReporter
from server.observability.metrics import GrpcMetrics
from server.observability.spans import (
    SpanOpener,
    TracingConfigurationError,
    tracing_requested,
)
from server.observability.stream_metrics import register_stream_metrics
from server.repositories import migrations
from server.repositories.database import create_engine
from server.runtime import drain, observed, start_background_tasks
from server.security.hashing_admission import HashingAdmission
from server.security.passwords import PasswordHasher, lower_thread_priority, usable_cpus
from server.serving import APPLICATION_SERVICES, USER_SERVICE, build_server, stream_budget
from server.startup_failures import describe_database, describe_redis
from server.tls import server_credentials
from server.transport import bind, listen_address
from server.wiring import Services, build_services

if TYPE_CHECKING:  # OpenTelemetry is imported only when tracing is on
    from server.observability.tracing import Tracing

PURGE_INTERVAL_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Application:
    """A running userservice: what tests and the runner need to reach."""

    settings: Settings
    server: grpc.aio.Server
    port: int
    health: HealthReporter
    engine: AsyncEngine
    redis: Redis
    services: Services
    metrics: GrpcMetrics
    metrics_listener: HttpListener | None

    @property
    def metrics_port(self) -> int | None:
        return None if self.metrics_listener is None else self.metrics_listener.port


async def readiness_problem(engine: AsyncEngine) -> str | None:
    revision = await migrations.current_revision(engine)
    head = migrations.head_revision()
    if revision != head:
        return f"schema at {revision or 'no revision'}, expected {head}"
    return None


@contextlib.asynccontextmanager
async def connected(settings: Settings) -> AsyncIterator[tuple[AsyncEngine, Redis]]:
    """The engine (the schema migrated to head in development) and the Redis client."""
    log: structlog.typing.FilteringBoundLogger = structlog.get_logger("userservice")
    async with AsyncExitStack() as stack:
        engine = create_engine(settings)
        stack.push_async_callback(engine.dispose)
        done, reachable = await migrations.prepare_schema(
            engine, migrate=settings.should_migrate_on_start
        )
        (log.info if reachable else log.warning)(
            "database", database=describe_database(settings), migrations=done
        )
        redis = create_redis(settings)
        stack.push_async_callback(redis.aclose)
        log.info("redis", store=describe_redis(settings), key_prefix=settings.redis_key_prefix)
        yield engine, redis


@contextlib.asynccontextmanager
async def built_services(
    settings: Settings, engine: AsyncEngine, redis: Redis, spans: SpanOpener | None = None
) -> AsyncIterator[Services]:
    """Adapters, the hashing pool and the services (no server): shared by serve and the CLI."""
    adapters = build_adapters(settings, engine, redis, spans)
    # Password hashing is CPU-bound and releases the GIL: one thread per core.
    threads = settings.hashing_threads or usable_cpus()
    with ThreadPoolExecutor(
        max_workers=threads,
        thread_name_prefix="argon2",
        initializer=lower_thread_priority,
    ) as pool:
        hasher = PasswordHasher(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            executor=pool,
        )
        hasher.admission = HashingAdmission(
            threads=threads,
            queue=threads * settings.hashing_queue_per_thread,
            initial_hash_seconds=hasher.first_hash_seconds,
        )
        try:
            yield build_services(settings, adapters, hasher)
        finally:
            await adapters.event_signal.close()
            await adapters.user_cache.close()
            await adapters.revocations.close()


@contextlib.asynccontextmanager
async def offline_services(settings: Settings) -> AsyncIterator[Services]:
    """Everything but the server, for operators' commands; nothing runs in the background."""
    async with (
        connected(settings) as (engine, redis),
        built_services(settings, engine, redis) as services,
    ):
        yield services


def configured_tracing() -> Tracing | None:
    """Tracing as the OTEL_* environment asks (off unless asked); OpenTelemetry is imported only
    then, and must be installed (`pip install 'userservice[tracing]'`)."""
    if not tracing_requested(os.environ):
        return None
    try:
        from server.observability.tracing import tracing_from_environment
    except ImportError as exc:
        raise TracingConfigurationError(
            "OTEL_TRACES_EXPORTER / OTEL_EXPORTER_OTLP_ENDPOINT ask for tracing, but OpenTelemetry "
            "is not installed: pip install 'userservice[tracing]' (or set OTEL_SDK_DISABLED=true)"
        ) from exc
    return tracing_from_environment(os.environ)


def health_reporter(
    settings: Settings, engine: AsyncEngine, log: structlog.typing.FilteringBoundLogger
) -> HealthReporter:
    """Readiness: the database answers with the schema at head, checked every interval."""
    return HealthReporter(
        APPLICATION_SERVICES,
        lambda: readiness_problem(engine),
        interval_seconds=settings.health_check_interval_seconds,
        timeout_seconds=settings.database_timeout_seconds,
        logger=log,
    )


@contextlib.asynccontextmanager
async def running_application(
    settings: Settings,
    *,
    reuse_port: bool = False,
    shutdown_grace: float | None = None,
    tracing: Tracing | None = None,
) -> AsyncIterator[Application]:
    """Starts userservice; on exit: NOT_SERVING, drain within the grace period, close pools.
    `tracing`: given (tests, benchmarks), else as the OTEL_* environment asks."""
    log: structlog.typing.FilteringBoundLogger = structlog.get_logger("userservice")
    async with AsyncExitStack() as stack:
        tracing = tracing or configured_tracing()
        spans = None
        if tracing is not None:  # last out: the final calls' spans leave after the stop
            stack.push_async_callback(asyncio.to_thread, tracing.shutdown)
            spans = tracing.child_spans()
        engine, redis = await stack.enter_async_context(connected(settings))
        services = await stack.enter_async_context(built_services(settings, engine, redis, spans))
        await services.revocations.resync()
        metrics = GrpcMetrics.create()
        listener = observed(stack, settings, services, metrics)

        health = health_reporter(settings, engine, log)
        await health.hold()

        streams = stream_budget(settings)
        register_stream_metrics(metrics.registry, streams)
        server = build_server(
            settings,
            services,
            health,
            metrics,
            log,
            streams=streams,
            reuse_port=reuse_port,
            tracing=tracing,
        )
        credentials = server_credentials(
            settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
        )
        port = bind(server, listen_address(settings.host, settings.port), credentials)
        # Started once both ports are ours: a start-up that fails to bind cancels no task in the
        # middle of a database call (whose pooled connection would log a traceback).
        start_background_tasks(stack, settings, services, metrics)
        await server.start()
        app = Application(
            settings, server, port, health, engine, redis, services, metrics, listener
        )

        grace = settings.shutdown_grace_seconds if shutdown_grace is None else shutdown_grace
        stack.push_async_callback(drain, settings, health, services, streams, server, grace)
        await health.start()
        log.info(
            "listening",
            address=listen_address(settings.host, port),
            port=port,
            metrics_port=app.metrics_port,
            environment=settings.environment.value,
            tls=credentials is not None,
            ready=health.ready,
            tracing=tracing is not None,
        )
        yield app
        log.info("stopping", grace_seconds=settings.shutdown_grace_seconds)


__all__ = [
    "APPLICATION_SERVICES",
    "USER_SERVICE",
    "Application",
    "Services",
    "built_services",
    "offline_services",
    "running_application",
]
