from __future__ import annotations

import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.app import APPLICATION_SERVICES

SERVING = health_pb2.HealthCheckResponse.SERVING


async def test_liveness_and_every_service_are_serving_once_started(
    channel: grpc.aio.Channel,
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", *APPLICATION_SERVICES):
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == SERVING, service
