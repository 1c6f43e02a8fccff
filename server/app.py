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
import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc.aio
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from server.cache.client import Redis, create_redis
from server.cache.event_signal import EventSignal
from server.cache.guard import RedisGuard
from server.cache.keys import RedisKeys
from server.cache.rate_limit import RateLimiter
from server.cache.replica import POLL_OVERLAP, LocalReplica
from server.cache.revocations import RevocationStore
from server.cache.users import UserCache
from server.clock import utc_now
from server.config import Settings
from server.exports import dependency_state, domain_counts, key_publication
from server.http_listener import HttpListener, listener_app, start_http_listener
from server.observability.domain_metrics import register_domain_metrics
from server.observability.hashing_metrics import register_hashing_metrics
from server.observability.health import HealthReporter
from server.observability.metrics import GrpcMetrics, register_dependency_metrics
from server.observability.spans import (
    SpanOpener,
    TracingConfigurationError,
    tracing_requested,
)
from server.observability.stream_metrics import register_stream_metrics
from server.repositories import migrations
from server.repositories.database import Database, create_engine
from server.repositories.unit_of_work import SqlUnitOfWorkFactory
from server.security.hashing_admission import HashingAdmission
from server.security.keys import CLOCK_LEEWAY, generate_key, load_key_set
from server.security.passwords import PasswordHasher, lower_thread_priority, usable_cpus
from server.security.sealing import SecretBox, event_secret_key
from server.security.tokens import AccessTokenCodec
from server.services.maintenance import purge_periodically
from server.serving import APPLICATION_SERVICES, USER_SERVICE, build_server, stream_budget
from server.startup_failures import CannotStart, describe_database, describe_redis
from server.tasks import cancel_and_wait
from server.tls import server_credentials
from server.transport import bind, listen_address
from server.wiring import Adapters, Services, build_services, page_token_secret

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


def build_adapters(
    settings: Settings, engine: AsyncEngine, redis: Redis, spans: SpanOpener | None = None
) -> Adapters:
    """Signing keys (one generated in development), the database, and the caches over Redis;
    `spans` opens the child spans of database and Redis work when tracing is on."""
    access_ttl = dt.timedelta(seconds=settings.access_token_ttl_seconds)
    now = utc_now()
    log: structlog.typing.FilteringBoundLogger = structlog.get_logger("userservice")
    if not settings.is_production and not any(settings.keys_dir.glob("*.pem")):
        path = generate_key(settings.keys_dir, settings.jwt_algorithm, now=now)
        log.info("signing key generated", path=str(path.resolve()))
    else:
        log.info("signing keys", directory=str(settings.keys_dir.resolve()))
    keys = load_key_set(
        settings.keys_dir,
        settings.jwt_algorithm,
        access_token_ttl=access_ttl,
        now=now,
        activation=dt.timedelta(seconds=settings.jwt_key_activation_seconds),
    )
    codec = AccessTokenCodec(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    db = Database(engine, timeout_seconds=settings.database_timeout_seconds, spans=spans)
    redis_keys = RedisKeys(settings.redis_key_prefix)
    guard = RedisGuard(timeout_seconds=settings.redis_timeout_seconds, spans=spans)
    event_signal = EventSignal(redis, redis_keys, guard)
    box = SecretBox(event_secret_key(page_token_secret(settings)))
    units = SqlUnitOfWorkFactory(db, box, events_committed=event_signal.committed)

    async def recent_revocations(since: dt.datetime) -> Sequence[tuple[uuid.UUID, dt.datetime]]:
        async with units.read() as uow:
            return await uow.sessions.revoked_since(since)

    async def recent_user_changes(since: dt.datetime) -> Sequence[tuple[uuid.UUID, int | None]]:
        async with units.read() as uow:
            changed = await uow.events.users_changed_since(since)
            versions = await uow.users.versions(changed)
        return [(user_id, versions.get(user_id)) for user_id in changed]

    # Started by the server (running_application); the CLI never goes live and asks Redis.
    replica = LocalReplica(
        redis,
        redis_keys,
        retention=access_ttl + CLOCK_LEEWAY,
        recent_revocations=recent_revocations,
        max_users=settings.user_cache_size,
        user_ttl_seconds=settings.user_cache_ttl_seconds,
        poll_seconds=settings.revocation_poll_seconds,
        events_appended=event_signal.wake,
        recent_user_changes=recent_user_changes,
        user_floor_seconds=settings.user_cache_redis_ttl_seconds + POLL_OVERLAP.total_seconds(),
    )
    revocations = RevocationStore(
        redis,
        redis_keys,
        guard,
        replica,
        retention=access_ttl + CLOCK_LEEWAY,
        recent_revocations=recent_revocations,
    )
    user_cache = UserCache(
        redis, redis_keys, guard, replica, ttl_seconds=settings.user_cache_redis_ttl_seconds
    )
    limiter = RateLimiter(redis, redis_keys, guard)
    return Adapters(
        db=db,
        units=units,
        codec=codec,
        replica=replica,
        revocations=revocations,
        user_cache=user_cache,
        limiter=limiter,
        redis_guard=guard,
        event_signal=event_signal,
    )


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
        if tracing is not None:
            # Last out: the spans of the final calls are exported after the server stopped.
            stack.push_async_callback(asyncio.to_thread, tracing.shutdown)
            spans = tracing.child_spans()
        engine, redis = await stack.enter_async_context(connected(settings))
        services = await stack.enter_async_context(built_services(settings, engine, redis, spans))
        await services.revocations.resync()
        replication = asyncio.create_task(services.replica.run(), name="replication")
        stack.push_async_callback(cancel_and_wait, replication)
        metrics = GrpcMetrics.create()
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

        register_dependency_metrics(metrics.registry, dependency_state(services))
        register_domain_metrics(metrics.registry, domain_counts(services))
        if services.hasher.admission is not None:
            register_hashing_metrics(metrics.registry, services.hasher.admission)
        listener = None
        if settings.metrics_port:
            listener = http_listener(settings, metrics, services)
            stack.callback(listener.close)

        health = HealthReporter(
            APPLICATION_SERVICES,
            lambda: readiness_problem(engine),
            interval_seconds=settings.health_check_interval_seconds,
            timeout_seconds=settings.database_timeout_seconds,
            logger=log,
        )
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
        await server.start()
        app = Application(
            settings, server, port, health, engine, redis, services, metrics, listener
        )

        async def drain() -> None:
            # Two phases. First every status turns NOT_SERVING while the server still accepts
            # and answers: probes and balancers move traffic away, and calls already on their
            # way are served (grpc's stop cancels calls that have not reached a handler yet).
            # Then the port closes and in-flight calls get the grace period.
            await health.shutdown()
            # Event watchers end their streams now, so their clients resume on another replica
            # instead of holding this one's shutdown for the whole grace period.
            await services.event_signal.close()
            if settings.drain_seconds:
                log.info("draining", seconds=settings.drain_seconds)
                await asyncio.sleep(settings.drain_seconds)
            grace = settings.shutdown_grace_seconds if shutdown_grace is None else shutdown_grace
            streams.end_all()  # streams (Watch) end cleanly now rather than hold the grace
            await server.stop(grace)

        stack.push_async_callback(drain)
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
