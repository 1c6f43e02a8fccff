"""The composition root: builds everything inside the running loop and tears down in reverse.

Order: engine → migrations (development) → Redis → signing keys → hashing pool → services →
metrics → interceptors → server. Nothing here runs at import time; tests build the same graph with
their own settings, and CLI commands (create-admin) build the part they need.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import grpc.aio
import structlog
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from server.cache.client import Redis, create_redis
from server.cache.guard import RedisGuard
from server.cache.keys import RedisKeys
from server.cache.rate_limit import RateLimiter
from server.cache.replica import LocalReplica
from server.cache.revocations import RevocationStore
from server.cache.users import UserCache
from server.clock import utc_now
from server.config import Settings
from server.observability.health import HealthReporter
from server.observability.metrics import (
    DependencyState,
    GrpcMetrics,
    MetricsListener,
    register_dependency_metrics,
    start_metrics_listener,
)
from server.repositories import migrations
from server.repositories.database import Database, create_engine
from server.repositories.unit_of_work import SqlUnitOfWorkFactory
from server.rpc.access_log import AccessLog
from server.rpc.caller_address import ClientResolver
from server.rpc.pipeline import CallPipeline, PipelineRegistry
from server.security.keys import CLOCK_LEEWAY, generate_key, load_key_set
from server.security.password_policy import PasswordPolicy
from server.security.passwords import PasswordHasher, lower_thread_priority, usable_cpus
from server.security.token_cache import CachingTokenVerifier
from server.security.tokens import AccessTokenCodec
from server.servicers.auth import AuthServicer
from server.servicers.service_accounts import ServiceAccountServicer
from server.servicers.users import UserServicer
from server.services.auth import AuthService
from server.services.limits import Limits
from server.services.maintenance import purge_periodically
from server.services.paging import PageTokens
from server.services.service_accounts import ServiceAccountService
from server.services.sessions import SessionService
from server.services.users import UserService
from server.tasks import cancel_and_wait
from server.tls import server_credentials
from server.transport import bind, create_server
from userservice.v1 import auth_pb2, auth_pb2_grpc, service_account_pb2, user_pb2, user_pb2_grpc
from userservice.v1 import service_account_pb2_grpc as sa_pb2_grpc

USER_SERVICE = user_pb2.DESCRIPTOR.services_by_name["UserService"].full_name
AUTH_SERVICE = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
SERVICE_ACCOUNT_SERVICE = service_account_pb2.DESCRIPTOR.services_by_name[
    "ServiceAccountService"
].full_name
APPLICATION_SERVICES = (USER_SERVICE, AUTH_SERVICE, SERVICE_ACCOUNT_SERVICE)
HEALTH_SERVICE = "grpc.health.v1.Health"


@dataclass(frozen=True, slots=True)
class Services:
    db: Database
    units: SqlUnitOfWorkFactory
    users: UserService
    auth: AuthService
    sessions: SessionService
    revocations: RevocationStore
    codec: AccessTokenCodec
    redis_guard: RedisGuard
    replica: LocalReplica
    service_accounts: ServiceAccountService
    limiter: RateLimiter


def page_token_secret(settings: Settings) -> bytes:
    if settings.page_token_secret is not None:
        return settings.page_token_secret.get_secret_value().encode()
    # Development only (production requires the setting): stable across restarts and workers.
    return hashlib.sha256(f"userservice-development:{settings.database_url}".encode()).digest()


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
    metrics_listener: MetricsListener | None

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
async def built_services(
    settings: Settings, engine: AsyncEngine, redis: Redis
) -> AsyncIterator[Services]:
    """Keys, the hashing pool, caches and services (no server): shared by serve and the CLI."""
    access_ttl = dt.timedelta(seconds=settings.access_token_ttl_seconds)
    now = utc_now()
    if not settings.is_production and not any(settings.keys_dir.glob("*.pem")):
        generate_key(settings.keys_dir, settings.jwt_algorithm, now=now)
    keys = load_key_set(
        settings.keys_dir, settings.jwt_algorithm, access_token_ttl=access_ttl, now=now
    )
    codec = AccessTokenCodec(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    db = Database(engine, timeout_seconds=settings.database_timeout_seconds)
    units = SqlUnitOfWorkFactory(db)
    redis_keys = RedisKeys(settings.redis_key_prefix)
    guard = RedisGuard(timeout_seconds=settings.redis_timeout_seconds)

    async def recent_revocations(since: dt.datetime) -> Sequence[tuple[uuid.UUID, dt.datetime]]:
        async with units.read() as uow:
            return await uow.sessions.revoked_since(since)

    # Started by the server (running_application); the CLI never goes live and asks Redis.
    replica = LocalReplica(
        redis,
        redis_keys,
        retention=access_ttl + CLOCK_LEEWAY,
        recent_revocations=recent_revocations,
        max_users=settings.user_cache_size,
        user_ttl_seconds=settings.user_cache_ttl_seconds,
        poll_seconds=settings.revocation_poll_seconds,
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
    limits = Limits.from_settings(settings)
    page_tokens = PageTokens(page_token_secret(settings))
    # Password hashing is CPU-bound and releases the GIL: one thread per core.
    with ThreadPoolExecutor(
        max_workers=settings.hashing_threads or usable_cpus(),
        thread_name_prefix="argon2",
        initializer=lower_thread_priority,
    ) as pool:
        hasher = PasswordHasher(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            executor=pool,
        )
        users = UserService(
            units=units,
            hasher=hasher,
            policy=PasswordPolicy(min_length=settings.password_min_length),
            cache=user_cache,
            revocations=revocations,
            limiter=limiter,
            limits=limits,
            page_tokens=page_tokens,
        )
        service_accounts = ServiceAccountService(
            units=units,
            codec=codec,
            limiter=limiter,
            limits=limits,
            page_tokens=page_tokens,
            # Never longer than user tokens: signing keys are retained for that long.
            token_ttl=min(dt.timedelta(seconds=settings.service_token_ttl_seconds), access_ttl),
            secret_grace=dt.timedelta(seconds=settings.service_secret_grace_seconds),
            clock=utc_now,
        )
        auth = AuthService(
            units=units,
            hasher=hasher,
            codec=codec,
            verifier=CachingTokenVerifier(codec, max_entries=settings.verified_token_cache_size),
            revocations=revocations,
            limiter=limiter,
            limits=limits,
            access_ttl=access_ttl,
            refresh_ttl=dt.timedelta(seconds=settings.refresh_token_ttl_seconds),
            reuse_grace=dt.timedelta(seconds=settings.refresh_reuse_grace_seconds),
            clock=utc_now,
            service_token_live=service_accounts.token_live,
        )
        try:
            sessions = SessionService(
                units=units, revocations=revocations, page_tokens=page_tokens, clock=utc_now
            )
            yield Services(
                db,
                units,
                users,
                auth,
                sessions,
                revocations,
                codec,
                guard,
                replica,
                service_accounts,
                limiter,
            )
        finally:
            await user_cache.close()
            await revocations.close()


def dependency_state(services: Services) -> DependencyState:
    return DependencyState(
        redis_reachable=lambda: services.redis_guard.reachable,
        replica_live=lambda: services.replica.live,
        replica_poll_fresh=lambda: services.replica.poll_fresh,
        revocation_database_checks=lambda: services.revocations.database_checks,
        revocation_backstop_waits=lambda: services.revocations.backstop_waits,
        rate_limit_local_decisions=lambda: services.limiter.local_decisions,
    )


@contextlib.asynccontextmanager
async def running_application(
    settings: Settings, *, reuse_port: bool = False, shutdown_grace: float | None = None
) -> AsyncIterator[Application]:
    """Starts userservice; on exit: NOT_SERVING, drain within the grace period, close pools."""
    log: structlog.typing.FilteringBoundLogger = structlog.get_logger("userservice")
    async with AsyncExitStack() as stack:
        engine = create_engine(settings)
        stack.push_async_callback(engine.dispose)
        if settings.should_migrate_on_start:
            await migrations.upgrade_to_head(engine)

        redis = create_redis(settings)
        stack.push_async_callback(redis.aclose)
        services = await stack.enter_async_context(built_services(settings, engine, redis))
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
                progress=metrics.count_purged,
            ),
            name="purge-expired",
        )
        stack.push_async_callback(cancel_and_wait, purge)

        register_dependency_metrics(metrics.registry, dependency_state(services))
        listener = None
        if settings.metrics_port:
            listener = start_metrics_listener(
                metrics.registry, settings.metrics_host, settings.metrics_port
            )
            stack.callback(listener.close)

        health = HealthReporter(
            APPLICATION_SERVICES,
            lambda: readiness_problem(engine),
            interval_seconds=settings.health_check_interval_seconds,
            timeout_seconds=settings.database_timeout_seconds,
            logger=log,
        )
        await health.hold()

        pipeline = CallPipeline(
            metrics=metrics,
            access_log=AccessLog(log, level=settings.log_level, json_lines=settings.json_logs),
            authenticate=services.auth.authenticate,
            signup_enabled=settings.signup_enabled,
            logger=log,
        )
        server = create_server(settings, reuse_port=reuse_port)
        # The pipeline wraps every handler once, here, instead of running per call through
        # grpc's interceptor chain (see server/rpc/pipeline.py for the measured reason).
        registry: Any = PipelineRegistry(server, pipeline)
        clients = ClientResolver(settings.trusted_proxies)
        user_pb2_grpc.add_UserServiceServicer_to_server(
            UserServicer(services.users, clients), registry
        )
        auth_pb2_grpc.add_AuthServiceServicer_to_server(
            AuthServicer(services.auth, services.sessions, services.service_accounts, clients),
            registry,
        )
        sa_pb2_grpc.add_ServiceAccountServiceServicer_to_server(
            ServiceAccountServicer(services.service_accounts), registry
        )
        health_pb2_grpc.add_HealthServicer_to_server(health.servicer, registry)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(  # type: ignore[attr-defined]
                (*APPLICATION_SERVICES, HEALTH_SERVICE, reflection.SERVICE_NAME)
            ),
            registry,
        )
        credentials = server_credentials(
            settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
        )
        port = bind(server, f"{settings.host}:{settings.port}", credentials)
        await server.start()
        app = Application(
            settings, server, port, health, engine, redis, services, metrics, listener
        )

        async def drain() -> None:
            await health.shutdown()
            grace = settings.shutdown_grace_seconds if shutdown_grace is None else shutdown_grace
            await server.stop(grace)

        stack.push_async_callback(drain)
        await health.start()
        log.info(
            "listening",
            address=f"{settings.host}:{port}",
            port=port,
            metrics_port=app.metrics_port,
            environment=settings.environment.value,
            tls=credentials is not None,
            ready=health.ready,
        )
        yield app
        log.info("stopping", grace_seconds=settings.shutdown_grace_seconds)


__all__ = ["Application", "Services", "built_services", "running_application"]
