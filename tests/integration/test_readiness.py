"""Readiness follows the database: reachable and at the latest migration, or NOT_SERVING.

Liveness ("") is not readiness: it stays SERVING while the database is away.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text
from sqlalchemy.engine import make_url

from server.app import APPLICATION_SERVICES, USER_SERVICE, Application
from server.repositories.migrations import head_revision
from tests.support import servers
from tests.support.backends import Backend
from tests.support.proxy import Mode, Proxy

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# Generous: the readiness probe runs every 0.1 s in tests; this only bounds a broken build.
DEADLINE_SECONDS = 15.0

Watch = grpc.aio.UnaryStreamCall[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]


async def watch_reports(watch: Watch, wanted: int) -> None:
    """Reads the Watch stream until it reports `wanted`; fails past the deadline."""
    seen: list[str] = []
    try:
        async with asyncio.timeout(DEADLINE_SECONDS):
            while True:
                response = await watch.read()
                assert response is not grpc.aio.EOF, f"Watch ended after {seen}"
                seen.append(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
                if response.status == wanted:
                    return
    except TimeoutError:
        wanted_name = health_pb2.HealthCheckResponse.ServingStatus.Name(wanted)
        pytest.fail(f"Watch did not report {wanted_name} in {DEADLINE_SECONDS}s; saw {seen}")


async def status_of(channel: grpc.aio.Channel, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
    return response.status


@pytest.fixture
async def postgres_proxy(postgres_backend: Backend) -> AsyncIterator[Proxy]:
    url = make_url(postgres_backend.database_url)
    async with Proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


@pytest.fixture
async def served_through_proxy(
    postgres_backend: Backend, postgres_proxy: Proxy, tmp_path: Path
) -> AsyncIterator[tuple[Application, grpc.aio.Channel]]:
    url = make_url(postgres_backend.database_url).set(host="127.0.0.1", port=postgres_proxy.port)
    backend = dataclasses.replace(
        postgres_backend, database_url=url.render_as_string(hide_password=False)
    )
    async with servers.serving(servers.settings_for_test(backend, tmp_path)) as pair:
        yield pair


async def test_readiness_turns_not_serving_while_postgres_is_unreachable_and_recovers(
    served_through_proxy: tuple[Application, grpc.aio.Channel], postgres_proxy: Proxy
) -> None:
    _, channel = served_through_proxy
    watch: Watch = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service=USER_SERVICE)
    )
    try:
        await watch_reports(watch, SERVING)

        await postgres_proxy.set_mode(Mode.REFUSE)
        await watch_reports(watch, NOT_SERVING)
        for service in APPLICATION_SERVICES:
            assert await status_of(channel, service) == NOT_SERVING, service
        assert await status_of(channel, "") == SERVING

        await postgres_proxy.set_mode(Mode.FORWARD)
        await watch_reports(watch, SERVING)
        for service in APPLICATION_SERVICES:
            assert await status_of(channel, service) == SERVING, service
    finally:
        watch.cancel()


async def set_schema_revision(app: Application, revision: str) -> None:
    async with app.engine.begin() as connection:
        await connection.execute(
            text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision}
        )


async def test_readiness_turns_not_serving_while_the_schema_is_behind_head(
    served: tuple[Application, grpc.aio.Channel],
) -> None:
    app, channel = served
    watch: Watch = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service=USER_SERVICE)
    )
    try:
        await watch_reports(watch, SERVING)

        await set_schema_revision(app, "0000")
        await watch_reports(watch, NOT_SERVING)
        for service in APPLICATION_SERVICES:
            assert await status_of(channel, service) == NOT_SERVING, service
        assert await status_of(channel, "") == SERVING

        await set_schema_revision(app, head_revision())
        await watch_reports(watch, SERVING)
        for service in APPLICATION_SERVICES:
            assert await status_of(channel, service) == SERVING, service
    finally:
        watch.cancel()
