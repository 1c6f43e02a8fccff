"""What the database-outage tests share: the database reached through a local proxy, readiness
watched until it reports a status, and calls timed until they fail.

Three ways PostgreSQL goes away: its backends are terminated under running calls, or a connection
is cut inside a transaction (test_database_connections_cut.py); it refuses connections, or it
hangs (test_database_refusing_or_hanging.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.engine import make_url

from server.app import USER_SERVICE
from tests.support.backends import Backend
from tests.support.flows import bearer, rpc_failure, users
from tests.support.rich_errors import RichError
from userservice.v1 import user_pb2

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE")
DATABASE_TIMEOUT_SECONDS = 1.0
# A refused connection is noticed at once; the bound leaves room for a loaded machine.
FAIL_FAST_SECONDS = 3.0
# Readiness is re-probed every 0.1 s in tests; this only bounds a broken build.
WATCH_SECONDS = 15.0
RECOVERY_SECONDS = 10.0

Watch = grpc.aio.UnaryStreamCall[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]


def through(backend: Backend, port: int) -> Backend:
    """The same backend, with the database reached through a local proxy on `port`."""
    url = make_url(backend.database_url).set(host="127.0.0.1", port=port)
    return dataclasses.replace(backend, database_url=url.render_as_string(hide_password=False))


def postgres_address(backend: Backend) -> tuple[str, int]:
    url = make_url(backend.database_url)
    return url.host or "127.0.0.1", url.port or 5432


def list_users(channel: grpc.aio.Channel, token: str, **call: Any) -> Awaitable[Any]:
    return users(channel).ListUsers(
        user_pb2.ListUsersRequest(page_size=10), metadata=bearer(token), **call
    )


async def timed_failure(call: Awaitable[object]) -> tuple[RichError, float]:
    started = time.monotonic()
    error = await rpc_failure(call)
    return error, time.monotonic() - started


class Readiness:
    """A Watch on the UserService readiness, read until it reports what the test waits for."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._watch: Watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=USER_SERVICE)
        )

    async def reaches(self, wanted: int) -> None:
        seen: list[str] = []
        try:
            async with asyncio.timeout(WATCH_SECONDS):
                while True:
                    response = await self._watch.read()
                    assert response is not grpc.aio.EOF, f"Watch ended after {seen}"
                    seen.append(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
                    if response.status == wanted:
                        return
        except TimeoutError:
            name = health_pb2.HealthCheckResponse.ServingStatus.Name(wanted)
            pytest.fail(f"readiness did not report {name} within {WATCH_SECONDS}s; saw {seen}")

    def cancel(self) -> None:
        self._watch.cancel()
