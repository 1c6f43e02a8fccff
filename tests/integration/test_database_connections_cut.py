"""Connections to PostgreSQL that die under running calls (pg_terminate_backend, as a failover or
an operator would) or inside a transaction (a TCP proxy that stops): those calls fail with
UNAVAILABLE, nothing is half-written, and later calls succeed (ARCHITECTURE.md, "Replication and
faults")."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import grpc.aio
import pytest
from sqlalchemy.engine import make_url

from tests.support.backends import POSTGRES_DSN, Backend
from tests.support.database_outage import (
    RECOVERY_SECONDS,
    UNAVAILABLE,
    list_users,
    postgres_address,
    through,
)
from tests.support.flows import (
    PASSWORD,
    auth,
    bearer,
    rpc_failure,
    signed_in_admin,
    unique_email,
    users,
)
from tests.support.proxy import Mode, Proxy
from tests.support.rich_errors import rich_error
from tests.support.servers import serving, settings_for_test
from userservice.v1 import auth_pb2, user_pb2


def list_sessions(channel: grpc.aio.Channel, token: str) -> Awaitable[Any]:
    return auth(channel).ListSessions(
        auth_pb2.ListSessionsRequest(user_id="me"), metadata=bearer(token)
    )


# -- backends terminated under running calls --------------------------------------------------


async def terminate_backends(database_url: str) -> int:
    """pg_terminate_backend on every connection to the database; how many there were."""
    database = make_url(database_url).database
    connection = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    try:
        rows = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await connection.close()
    return sum(1 for row in rows if row[0])


async def test_calls_whose_connection_is_terminated_fail_unavailable_and_later_calls_succeed(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    workers, terminations, calls_between = 8, 3, 40
    async with serving(settings_for_test(postgres_backend, tmp_path)) as (app, channel):
        token = (await signed_in_admin(app, channel)).tokens.access_token
        outcomes: Counter[tuple[grpc.StatusCode, str]] = Counter()
        progress = asyncio.Condition()
        done = asyncio.Event()

        async def worker() -> None:
            """Sequential calls that each need the database (neither is served from a cache)."""
            while not done.is_set():
                for call in (list_users, list_sessions):
                    try:
                        await call(channel, token)
                    except grpc.aio.AioRpcError as failed:
                        error = rich_error(failed)
                        outcomes[(error.code, error.error_info.reason)] += 1
                    else:
                        outcomes[(grpc.StatusCode.OK, "")] += 1
                    async with progress:
                        progress.notify_all()

        async def calls_made(at_least: int) -> None:
            async with asyncio.timeout(RECOVERY_SECONDS), progress:
                await progress.wait_for(lambda: outcomes.total() >= at_least)

        running = [asyncio.create_task(worker()) for _ in range(workers)]
        terminated = []
        try:
            for _ in range(terminations):
                await calls_made(outcomes.total() + calls_between)
                terminated.append(await terminate_backends(app.settings.database_url))
            await calls_made(outcomes.total() + calls_between)
        finally:
            done.set()
            await asyncio.gather(*running)

        assert all(count > 0 for count in terminated), terminated
        failures = {
            outcome: n for outcome, n in outcomes.items() if outcome[0] is not grpc.StatusCode.OK
        }
        assert set(failures) <= {UNAVAILABLE}, outcomes
        assert outcomes[(grpc.StatusCode.OK, "")] > 0, outcomes

        # Once the terminations stop, every call succeeds: no dead connection is handed out.
        pages = await asyncio.gather(*(list_users(channel, token) for _ in range(10)))
        sessions = await asyncio.gather(*(list_sessions(channel, token) for _ in range(10)))
        assert all(page.users for page in pages)
        assert all(listing.sessions for listing in sessions)


# -- a connection cut inside a transaction ---------------------------------------------------


@pytest.fixture
async def refusing_proxy(postgres_backend: Backend) -> AsyncIterator[Proxy]:
    async with Proxy(*postgres_address(postgres_backend)) as proxy:
        yield proxy


def direct_dsn(backend: Backend) -> str:
    """asyncpg's DSN of the test database itself, not through any proxy."""
    return make_url(backend.database_url).set(drivername="postgresql").render_as_string(False)


async def blocked_on_a_lock(connection: asyncpg.Connection, database: str) -> None:
    """Waits (bounded) until some backend of `database` waits for a lock."""
    async with asyncio.timeout(RECOVERY_SECONDS):
        while True:
            waiting = await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = $1 AND wait_event_type = 'Lock'",
                database,
            )
            if waiting:
                return
            await asyncio.sleep(0.02)


async def test_a_sign_up_cut_off_inside_its_transaction_leaves_nothing_behind(
    postgres_backend: Backend, refusing_proxy: Proxy, tmp_path: Path
) -> None:
    settings = settings_for_test(
        through(postgres_backend, refusing_proxy.port), tmp_path, database_timeout_seconds=5.0
    )
    database = make_url(postgres_backend.database_url).database or ""
    signup = user_pb2.CreateUserRequest(
        email=unique_email("cut-off"),
        password=PASSWORD,
        display_name="Cut off",
        request_id=str(uuid.uuid4()),
    )
    async with serving(settings) as (app, channel):
        token = (await signed_in_admin(app, channel)).tokens.access_token
        holder = await asyncpg.connect(direct_dsn(postgres_backend), timeout=5)
        try:
            # The user row is inserted first; its idempotency record, at commit, has to wait.
            lock = holder.transaction()
            await lock.start()
            await holder.execute("LOCK TABLE idempotency_records IN EXCLUSIVE MODE")
            attempt = asyncio.ensure_future(users(channel).CreateUser(signup))
            await blocked_on_a_lock(holder, database)

            # The connection dies with the transaction open.
            await refusing_proxy.set_mode(Mode.REFUSE)
            error = await rpc_failure(attempt)
            assert (error.code, error.error_info.reason) == UNAVAILABLE
            await lock.rollback()
            written = await holder.fetchval(
                "SELECT count(*) FROM users WHERE email = $1", signup.email
            )
        finally:
            await holder.close()
        assert written == 0

        await refusing_proxy.set_mode(Mode.FORWARD)
        # The client retries with the same request_id: nothing was recorded, so it is created now.
        user = await users(channel).CreateUser(signup)
        page = await users(channel).ListUsers(
            user_pb2.ListUsersRequest(filter=f'email = "{signup.email}"'), metadata=bearer(token)
        )
        assert [listed.id for listed in page.users] == [user.id]
        assert (await users(channel).CreateUser(signup)).id == user.id  # now it replays
