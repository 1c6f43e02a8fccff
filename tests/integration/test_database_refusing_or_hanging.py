"""PostgreSQL unreachable: refusing connections (a TCP proxy that stops) or hanging (a proxy that
swallows every byte). Readiness reports NOT_SERVING, calls fail fast with UNAVAILABLE or end at
their deadline or the database timeout, and the same application serves again once PostgreSQL is
back (ARCHITECTURE.md, "Replication and faults")."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import grpc
import grpc.aio
import pytest

from server.app import Application
from tests.support.backends import Backend
from tests.support.database_outage import (
    DATABASE_TIMEOUT_SECONDS,
    FAIL_FAST_SECONDS,
    NOT_SERVING,
    RECOVERY_SECONDS,
    SERVING,
    UNAVAILABLE,
    Readiness,
    list_users,
    postgres_address,
    through,
    timed_failure,
)
from tests.support.flows import (
    PASSWORD,
    bearer,
    create_user,
    login,
    signed_in_admin,
    unique_email,
    users,
)
from tests.support.proxy import Mode, Proxy
from tests.support.servers import serving, settings_for_test
from userservice.v1 import user_pb2


async def timed_code(call: Awaitable[object]) -> tuple[grpc.StatusCode, float]:
    """The code of a call that must fail, for failures the client itself may declare."""
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    return failed.value.code(), time.monotonic() - started


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


# -- PostgreSQL hanging ------------------------------------------------------------------------


@pytest.fixture
async def stalling_proxy(postgres_backend: Backend) -> AsyncIterator[Proxy]:
    async with Proxy(*postgres_address(postgres_backend)) as proxy:
        yield proxy


def server_calls_now(app: Application, method: str) -> tuple[int, Counter[grpc.StatusCode]]:
    """How many calls of `method` the server's handlers began, and how they ended so far
    (grpc_server_started_total, grpc_server_handled_total)."""
    started = 0
    outcomes: Counter[grpc.StatusCode] = Counter()
    for metric in app.metrics.registry.collect():
        for sample in metric.samples:
            labels = sample.labels
            if labels.get("grpc_method") != method:
                continue
            if sample.name == "grpc_server_started_total":
                started += int(sample.value)
            elif sample.name == "grpc_server_handled_total":
                outcomes[grpc.StatusCode[labels["grpc_code"]]] += int(sample.value)
    return started, outcomes


async def server_outcomes_once_idle(
    app: Application, method: str, *, at_least: int
) -> Counter[grpc.StatusCode]:
    """Waits (bounded) until every call of `method` a handler began has ended, at least
    `at_least` of them.

    A call whose deadline passes before grpc hands it to a handler (the event loop was busy) is
    cancelled by grpc itself and never reaches the pipeline: neither started nor handled counts
    it, so the calls the client made are not a count the server can be held to."""
    try:
        async with asyncio.timeout(RECOVERY_SECONDS):
            while True:
                started, outcomes = server_calls_now(app, method)
                if started >= at_least and outcomes.total() == started:
                    return outcomes
                await asyncio.sleep(0.02)
    except TimeoutError:
        started, outcomes = server_calls_now(app, method)
        pytest.fail(f"of {started} calls begun the server ended {outcomes}")


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
            # Every call a handler began has ended on the server too, none of them as a bug: the
            # one without a deadline, and those of the others grpc did not cancel beforehand.
            ended = await server_outcomes_once_idle(app, "ListUsers", at_least=1)
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
