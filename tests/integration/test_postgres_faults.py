"""PostgreSQL that cannot serve now: every call that needs it answers UNAVAILABLE
(DATABASE_UNAVAILABLE), never INTERNAL, and the same server serves again once it can.

Two refusals PostgreSQL answers with an SQLSTATE rather than a dropped connection: "the database
system is shutting down" (57P03, the same code as "starting up") while a smart shutdown waits for
open sessions, and "too many clients" (53300) when every connection slot is taken. Both are made
on a private cluster the test starts (the shared one is never stopped); the application's pooled
connections are terminated first, so that each call has to open a new one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from structlog.testing import capture_logs

from server.app import USER_SERVICE, Application
from server.clock import utc_now
from server.errors import Reason, Unavailable
from server.runner import serve
from server.services.maintenance import purge_expired, purge_periodically
from server.tasks import cancel_and_wait
from tests.support.accounts import insert_users
from tests.support.backends import Backend
from tests.support.flows import (
    Caller,
    create_user,
    login,
    signed_in_admin,
    signed_in_user,
    unique_email,
    users,
)
from tests.support.private_postgres import PrivatePostgres, private_postgres_outside_loop
from tests.support.rich_errors import rich_error
from tests.support.servers import serving, settings_for_test
from tests.support.waiting import eventually
from userservice.v1 import user_pb2

UNAVAILABLE = (grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE")
MAX_CONNECTIONS = 8
RECOVERY_SECONDS = 15.0
SLOTS_SECONDS = 15.0
TERMINATE_APPLICATION = (
    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
    "WHERE application_name = 'userservice' AND pid <> pg_backend_pid()"
)


@pytest.fixture(scope="module")
def shared_cluster() -> Iterator[PrivatePostgres]:
    """One cluster for the module: an initdb costs more than a restart."""
    with private_postgres_outside_loop(max_connections=MAX_CONNECTIONS) as started:
        yield started


@pytest.fixture
async def cluster(shared_cluster: PrivatePostgres) -> PrivatePostgres:
    """The module's cluster, accepting connections: a test that failed half-way may have left it
    stopped or still shutting down."""
    if shared_cluster.running:
        try:
            await (await shared_cluster.connect()).close()
        except (OSError, asyncpg.PostgresError):
            await shared_cluster.stop("immediate")
    if not shared_cluster.running:
        await shared_cluster.start()
    return shared_cluster


@asynccontextmanager
async def served_on(
    cluster: PrivatePostgres, workdir: Path
) -> AsyncIterator[tuple[Application, grpc.aio.Channel]]:
    """A real server on a fresh database of the cluster (few pooled connections, short bounds)."""
    name = f"userservice_{uuid.uuid4().hex[:12]}"
    admin = await cluster.connect()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    backend = Backend("private-postgres", cluster.url(name), "memory://", "userservice:")
    settings = settings_for_test(
        backend,
        workdir,
        database_pool_size=2,
        database_max_overflow=1,
        database_timeout_seconds=2.0,
    )
    async with serving(settings) as pair:
        yield pair


async def outcome(call: object) -> tuple[grpc.StatusCode, str] | str:
    """(code, reason) of a failed call, or "OK"."""
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as failed:
        error = rich_error(failed)
        return error.code, error.error_info.reason
    return "OK"


async def database_calls(
    channel: grpc.aio.Channel, admin: Caller, member: Caller, unread: uuid.UUID
) -> dict[str, tuple[grpc.StatusCode, str] | str]:
    """One call of each kind that must reach the database, by name: their outcomes."""
    stub = users(channel)
    return {
        "GetUser (cache miss)": await outcome(
            stub.GetUser(user_pb2.GetUserRequest(id=str(unread)), metadata=admin.metadata)
        ),
        "Login": await outcome(login(channel, member.account.email)),
        "CreateUser": await outcome(create_user(channel, email=unique_email("signup"))),
        "ListUsers": await outcome(
            stub.ListUsers(user_pb2.ListUsersRequest(page_size=5), metadata=admin.metadata)
        ),
    }


async def ready(channel: grpc.aio.Channel) -> bool:
    response = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=USER_SERVICE)
    )
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


async def served_again(
    channel: grpc.aio.Channel, admin: Caller, member: Caller, unread: uuid.UUID
) -> None:
    """Readiness returns by itself, and then every call succeeds at its first attempt."""
    await eventually(
        lambda: ready(channel), within=RECOVERY_SECONDS, what="readiness SERVING again"
    )
    outcomes = await database_calls(channel, admin, member, unread)
    assert set(outcomes.values()) == {"OK"}, outcomes


async def test_while_postgres_shuts_down_every_call_is_unavailable_and_then_served_again(
    cluster: PrivatePostgres, tmp_path: Path
) -> None:
    async with served_on(cluster, tmp_path) as (app, channel):
        admin = await signed_in_admin(app, channel)
        member = await signed_in_user(channel)
        [unread] = await insert_users(app, [unique_email("unread")])
        # The held session keeps the smart shutdown waiting: new connections are refused with
        # "the database system is shutting down" for as long as the test holds it.
        held = await cluster.connect()
        try:
            await cluster.stop("smart", wait=False)
            await held.execute(TERMINATE_APPLICATION)
            outcomes = await database_calls(channel, admin, member, unread)
        finally:
            await held.close()
        assert outcomes == dict.fromkeys(outcomes, UNAVAILABLE)
        await cluster.wait_stopped()
        await cluster.start()
        await served_again(channel, admin, member, unread)


async def every_slot_taken(cluster: PrivatePostgres) -> list[asyncpg.Connection]:
    """Connections of the test's own in every slot, none left to the application's.

    The application reconnects on its own (readiness probes every 0.1 s), so a slot it wins
    back between the terminate and the test's next connect is terminated again."""
    held = [await cluster.connect()]
    deadline = time.monotonic() + SLOTS_SECONDS
    while time.monotonic() < deadline:
        await held[0].execute(TERMINATE_APPLICATION)
        try:
            while True:
                held.append(await cluster.connect())
        except asyncpg.TooManyConnectionsError:
            pass
        left = await held[0].fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'userservice'"
        )
        if left == 0:
            return held
    pytest.fail(f"the application kept a connection slot for {SLOTS_SECONDS}s")


async def test_without_a_free_connection_slot_every_call_is_unavailable_and_then_served_again(
    cluster: PrivatePostgres, tmp_path: Path
) -> None:
    async with served_on(cluster, tmp_path) as (app, channel):
        admin = await signed_in_admin(app, channel)
        member = await signed_in_user(channel)
        [unread] = await insert_users(app, [unique_email("unread")])
        held = await every_slot_taken(cluster)
        try:
            with pytest.raises(asyncpg.TooManyConnectionsError):
                await (await cluster.connect()).close()
            outcomes = await database_calls(channel, admin, member, unread)
        finally:
            for connection in held:
                await connection.close()
        assert outcomes == dict.fromkeys(outcomes, UNAVAILABLE)
        await served_again(channel, admin, member, unread)


async def test_while_postgres_shuts_down_start_up_and_the_purge_report_unavailability(
    cluster: PrivatePostgres, tmp_path: Path
) -> None:
    async with served_on(cluster, tmp_path) as (app, _channel):
        held = await cluster.connect()
        try:
            await cluster.stop("smart", wait=False)
            await held.execute(TERMINATE_APPLICATION)
            with pytest.raises(Unavailable) as postponed:
                await purge_expired(app.services.units, dt.datetime.now(dt.UTC), batch_size=10)
            assert postponed.value.reason == Reason.DATABASE_UNAVAILABLE
            with capture_logs() as logs:
                purge = asyncio.create_task(
                    purge_periodically(
                        app.services.units, utc_now, interval_seconds=0.05, batch_size=10
                    )
                )

                async def postponed_twice() -> bool:
                    return sum(e["event"] == "purge postponed" for e in logs) >= 2

                await eventually(postponed_twice, within=10.0, what="two postponed passes")
                await cancel_and_wait(purge)
            assert {e["event"] for e in logs} == {"purge postponed"}, logs
            # A server starting now (it migrates on start) exits with one line, no traceback.
            settings = app.settings.model_copy(update={"port": 0, "metrics_port": 0})
            with capture_logs() as logs:
                assert await serve(settings) == 1
            assert [(e["event"], e.get("reason")) for e in logs if e["log_level"] == "error"] == [
                ("cannot start", Reason.DATABASE_UNAVAILABLE)
            ]
        finally:
            await held.close()
