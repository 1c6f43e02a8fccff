"""The gRPC server of a running application: every servicer registered behind the call pipeline
(the last step of server/app.py). The server is returned unbound and not started."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc.aio
import structlog
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from server.config import Settings
from server.observability.health import HealthReporter
from server.observability.metrics import GrpcMetrics
from server.rpc.access_log import AccessLog
from server.rpc.caller_address import ClientResolver
from server.rpc.pipeline import CallPipeline, PipelineRegistry
from server.rpc.streams import StreamBudget
from server.servicers.auth import AuthServicer
from server.servicers.events import EventServicer
from server.servicers.service_accounts import ServiceAccountServicer
from server.servicers.users import UserServicer
from server.transport import create_server
from server.wiring import Services
from userservice.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
    service_account_pb2,
    user_pb2,
    user_pb2_grpc,
)
from userservice.v1 import service_account_pb2_grpc as sa_pb2_grpc

if TYPE_CHECKING:  # OpenTelemetry is imported only when tracing is on
    from server.observability.tracing import Tracing

USER_SERVICE = user_pb2.DESCRIPTOR.services_by_name["UserService"].full_name
AUTH_SERVICE = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
SERVICE_ACCOUNT_SERVICE = service_account_pb2.DESCRIPTOR.services_by_name[
    "ServiceAccountService"
].full_name
EVENT_SERVICE = events_pb2.DESCRIPTOR.services_by_name["EventService"].full_name
APPLICATION_SERVICES = (USER_SERVICE, AUTH_SERVICE, SERVICE_ACCOUNT_SERVICE, EVENT_SERVICE)
HEALTH_SERVICE = "grpc.health.v1.Health"


def register_servicers(
    registry: Any,
    services: Services,
    health: HealthReporter,
    clients: ClientResolver,
    *,
    encoded_users: int,
) -> None:
    """The four application services, health and reflection."""
    user_pb2_grpc.add_UserServiceServicer_to_server(
        UserServicer(
            services.users, services.email_verification, clients, encoded_users=encoded_users
        ),
        registry,
    )
    auth_pb2_grpc.add_AuthServiceServicer_to_server(
        AuthServicer(
            services.auth,
            services.sessions,
            services.service_accounts,
            services.password_reset,
            clients,
        ),
        registry,
    )
    sa_pb2_grpc.add_ServiceAccountServiceServicer_to_server(
        ServiceAccountServicer(services.service_accounts), registry
    )
    events_pb2_grpc.add_EventServiceServicer_to_server(
        EventServicer(services.events, services.auth), registry
    )
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, registry)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        reflection.aio.ReflectionServicer(
            (*APPLICATION_SERVICES, HEALTH_SERVICE, reflection.SERVICE_NAME)
        ),
        registry,
    )


def stream_budget(settings: Settings) -> StreamBudget:
    return StreamBudget(
        total=settings.max_streaming_calls,
        per_peer=settings.max_streaming_calls_per_peer,
        lifetime_seconds=settings.streaming_call_lifetime_seconds,
        clients=ClientResolver(settings.trusted_proxies),
    )


def build_server(
    settings: Settings,
    services: Services,
    health: HealthReporter,
    metrics: GrpcMetrics,
    log: structlog.typing.FilteringBoundLogger,
    *,
    streams: StreamBudget,
    reuse_port: bool,
    tracing: Tracing | None = None,
) -> grpc.aio.Server:
    clients = ClientResolver(settings.trusted_proxies)
    pipeline = CallPipeline(
        metrics=metrics,
        access_log=AccessLog(log, level=settings.log_level, json_lines=settings.json_logs),
        authenticate=services.auth.authenticate,
        signup_enabled=settings.signup_enabled,
        streams=streams,
        logger=log,
        clients=clients,
        tracing=tracing,
    )
    server = create_server(settings, reuse_port=reuse_port)
    # The pipeline wraps every handler once, here, instead of running per call through
    # grpc's interceptor chain (see server/rpc/pipeline.py for the measured reason).
    registry = PipelineRegistry(server, pipeline)
    register_servicers(registry, services, health, clients, encoded_users=settings.user_cache_size)
    return server
