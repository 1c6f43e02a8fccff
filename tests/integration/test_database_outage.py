"""Database down: readiness NOT_SERVING, calls fail fast with UNAVAILABLE, nothing half-written,
and the same application serves again once PostgreSQL is back (ARCHITECTURE.md, "Replication and
faults").

Three ways PostgreSQL goes away: its backends are terminated under running calls
(pg_terminate_backend, as a failover or an operator would), it refuses connections (a TCP proxy
that stops), and it hangs (a proxy that swallows every byte), where only the call's deadline and
the database timeout bound a call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.engine import make_url

from server.app import USER_SERVICE, Application
from tests.support.backends import POSTGRES_DSN, Backend
from tests.support.flows import (
    PASSWORD,
    auth,
    bearer,
    create_user,
    login,
    rpc_failure,
    signed_in_admin,
    unique_email,
    users,
)
from tests.support.proxy import Mode, Proxy
from tests.support.rich_errors import RichError, rich_error
from tests.support.servers import serving, settings_for_test
from userservice.v1 import auth_pb2, user_pb2

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


def list_sessions(channel: grpc.aio.Channel, token: str) -> Awaitable[Any]:
    return auth(channel).ListSessions(
        auth_pb2.ListSessionsRequest(user_id="me"), metadata=bearer(token)
    )


async def timed_failure(call: Awaitable[object]) -> tuple[RichError, float]:
    started = time.monotonic()
    error = await rpc_failure(call)
    return error, time.monotonic() - started


async def timed_code(call: Awaitable[object]) -> tuple[grpc.StatusCode, float]:
    """The code of a call that must fail, for failures the client itself may declare."""
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    return failed.value.code(), time.monotonic() - started


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


# -- PostgreSQL refusing connections -----------------------------------------------------------


@pytest.fixture
async def refusing_proxy(postgres_backend: Backend) -> AsyncIterator[Proxy]:
    async with Proxy(*postgres_address(postgres_backend)) as proxy:
        yield proxy


async def test_while_postgres_refuses_connections_readiness_drops_and_calls_fail_fast(
    postgres_backend: Backend, refusing_proxy: Proxy, tmp_path: Path
) -> None:
    settings = settings_for_test(
        through(postgres_backend, refusing_proxy.port),
        tmp_path,
        database_timeout_seconds=DATABASE_TIMEOUT_SECONDS,
    )
    async with serving(settings) as (app, channel):
        token = (await signed_in_admin(app, channel)).tokens.access_token
        member = await create_user(channel, email=unique_email("member"))
        readiness = Readiness(channel)
        try:
            await readiness.reaches(SERVING)

            await refusing_proxy.set_mode(Mode.REFUSE)
            await readiness.reaches(NOT_SERVING)

            listed, listing_took = await timed_failure(list_users(channel, token))
            logged_in, login_took = await timed_failure(login(channel, member.email))
            signup = user_pb2.CreateUserRequest(
                email=unique_email("while-down"),
                password=PASSWORD,
                display_name="While down",
                request_id=str(uuid.uuid4()),
            )
            created, create_took = await timed_failure(users(channel).CreateUser(signup))
            for error, took in (
                (listed, listing_took),
                (logged_in, login_took),
                (created, create_took),
            ):
                assert (error.code, error.error_info.reason) == UNAVAILABLE
                assert took < FAIL_FAST_SECONDS

            await refusing_proxy.set_mode(Mode.FORWARD)
            await readiness.reaches(SERVING)
        finally:
            readiness.cancel()

        # The same application serves again: the pool replaced its dead connections.
        assert (await list_users(channel, token)).users
        assert (await login(channel, member.email)).session_id
        # Nothing of the failed sign-up was written: neither the user nor its request_id.
        user = await users(channel).CreateUser(signup)
        assert user.email == signup.email
        page = await users(channel).ListUsers(
            user_pb2.ListUsersRequest(filter=f'email = "{signup.email}"'), metadata=bearer(token)
        )
        assert [listed_user.id for listed_user in page.users] == [user.id]


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


# -- PostgreSQL hanging ------------------------------------------------------------------------


@pytest.fixture
async def stalling_proxy(postgres_backend: Backend) -> AsyncIterator[Proxy]:
    async with Proxy(*postgres_address(postgres_backend)) as proxy:
        yield proxy


def server_outcomes_now(app: Application, method: str) -> Counter[grpc.StatusCode]:
    """How the server ended the calls of `method` so far (grpc_server_handled_total)."""
    outcomes: Counter[grpc.StatusCode] = Counter()
    for metric in app.metrics.registry.collect():
        for sample in metric.samples:
            labels = sample.labels
            if sample.name == "grpc_server_handled_total" and labels["grpc_method"] == method:
                outcomes[grpc.StatusCode[labels["grpc_code"]]] += int(sample.value)
    return outcomes


async def server_outcomes(app: Application, method: str, count: int) -> Counter[grpc.StatusCode]:
    """Waits (bounded) until the server has ended `count` calls of `method`."""
    try:
        async with asyncio.timeout(RECOVERY_SECONDS):
            while True:
                outcomes = server_outcomes_now(app, method)
                if outcomes.total() >= count:
                    return outcomes
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"the server ended {server_outcomes_now(app, method)} of {count} calls")


async def test_while_postgres_hangs_calls_end_at_their_deadline_or_the_database_timeout(
    postgres_backend: Backend, stalling_proxy: Proxy, tmp_path: Path
) -> None:
    settings = settings_for_test(
        through(postgres_backend, stalling_proxy.port),
        tmp_path,
        database_timeout_seconds=DATABASE_TIMEOUT_SECONDS,
    )
    async with serving(settings) as (app, channel):
        token = (await signed_in_admin(app, channel)).tokens.access_token
        readiness = Readiness(channel)
        try:
            await readiness.reaches(SERVING)
            await stalling_proxy.set_mode(Mode.STALL)

            # The caller's deadline bounds the call.
            short, short_took = await timed_code(list_users(channel, token, timeout=0.3))
            assert short is grpc.StatusCode.DEADLINE_EXCEEDED
            assert short_took < 1.0

            # Without a deadline, the database timeout does.
            bounded, bounded_took = await timed_failure(list_users(channel, token))
            assert (bounded.code, bounded.error_info.reason) == UNAVAILABLE
            assert DATABASE_TIMEOUT_SECONDS * 0.9 <= bounded_took < FAIL_FAST_SECONDS

            # More hung calls at once than the pool has connections: none is left waiting.
            many = await asyncio.gather(
                *(list_users(channel, token, timeout=0.5) for _ in range(30)),
                return_exceptions=True,
            )
            codes = Counter(
                outcome.code() if isinstance(outcome, grpc.aio.AioRpcError) else outcome
                for outcome in many
            )
            assert codes == {grpc.StatusCode.DEADLINE_EXCEEDED: 30}

            await readiness.reaches(NOT_SERVING)
            # Every call has ended on the server too, none of them as a bug.
            ended = await server_outcomes(app, "ListUsers", count=32)
            assert set(ended) <= {
                grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.CANCELLED,  # the client's deadline struck first
                grpc.StatusCode.UNAVAILABLE,
            }, ended

            await stalling_proxy.set_mode(Mode.FORWARD)
            await readiness.reaches(SERVING)
        finally:
            readiness.cancel()

        # No connection was lost to the cancelled calls: a pool's worth of calls at once succeed.
        pages = await asyncio.gather(*(list_users(channel, token, timeout=5) for _ in range(25)))
        assert all(page.users for page in pages)
