"""The composition root: builds settings' dependents inside the running loop, tears down in reverse.

Order: engine → migrations (development) → Redis → metrics → services → interceptors → server.
Nothing here runs at import time; tests build the same graph with their own settings.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import grpc.aio
import structlog
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.ext.asyncio import AsyncEngine

from server.cache.client import Redis, create_redis
from server.config import Settings
from server.interceptors.errors import ErrorInterceptor
from server.interceptors.metrics import MetricsInterceptor
from server.interceptors.request_log import RequestLogInterceptor
from server.observability.health import HealthReporter
from server.observability.metrics import GrpcMetrics, MetricsListener, start_metrics_listener
from server.repositories import migrations
from server.repositories.database import create_engine, ping
from server.servicers.auth import AuthServicer
from server.servicers.service_accounts import ServiceAccountServicer
from server.servicers.users import UserServicer
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
class Application:
    """A running userservice: what tests and the runner need to reach."""

    settings: Settings
    server: grpc.aio.Server
    port: int
    health: HealthReporter
    engine: AsyncEngine
    redis: Redis
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

        metrics = GrpcMetrics.create()
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

        server = create_server(
            settings,
            [RequestLogInterceptor(log), MetricsInterceptor(metrics), ErrorInterceptor(log)],
            reuse_port=reuse_port,
        )
        user_pb2_grpc.add_UserServiceServicer_to_server(UserServicer(), server)
        auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(), server)
        sa_pb2_grpc.add_ServiceAccountServiceServicer_to_server(ServiceAccountServicer(), server)
        health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
        reflection.enable_server_reflection(
            (*APPLICATION_SERVICES, HEALTH_SERVICE, reflection.SERVICE_NAME), server
        )
        port = bind(server, f"{settings.host}:{settings.port}", None)
        await server.start()
        app = Application(settings, server, port, health, engine, redis, metrics, listener)

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
            ready=health.ready,
        )
        yield app
        log.info("stopping", grace_seconds=settings.shutdown_grace_seconds)


__all__ = ["Application", "ping", "running_application"]
