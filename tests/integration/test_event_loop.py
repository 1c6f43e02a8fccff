"""Password hashing never blocks the event loop: other calls are answered while logins hash.

The hash is made costlier than production's minimum (about 0.2-0.3 s here instead of 30-70 ms) so
that the bound means something: grpc.aio interleaves handlers at every await, so a hasher that ran
on the loop would hold each health check for one or more whole hashes. At the minimum cost that is
under the 0.5 s bound, and the test could not fail; at this cost it is well over it, while twenty
logins on a two-core pool still take seconds, far longer than the checks.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.config import Settings
from tests.support.backends import Backend
from tests.support.flows import create_user, login
from tests.support.servers import settings_for_test
from userservice.v1 import auth_pb2

CONCURRENT_LOGINS = 20
HEALTH_CHECKS = 5
PROMPT_SECONDS = 0.5  # each check's gRPC deadline: below one hash, far below all twenty
ARGON2_TIME_COST = 20
LOGIN_SECONDS = 60.0


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return settings_for_test(
        backend,
        tmp_path,
        argon2_time_cost=ARGON2_TIME_COST,
        login_failures_per_account_and_ip=1000,
    )


async def test_health_checks_answer_promptly_while_twenty_logins_hash(
    channel: grpc.aio.Channel,
) -> None:
    account = await create_user(channel)
    health = health_pb2_grpc.HealthStub(channel)
    logins = [
        asyncio.create_task(
            login(channel, account.email, account.password, rpc_timeout=LOGIN_SECONDS)
        )
        for _ in range(CONCURRENT_LOGINS)
    ]
    try:
        # Once one login is back, the others are queued on (or running in) the hashing pool.
        await asyncio.wait(logins, return_when=asyncio.FIRST_COMPLETED)

        for _ in range(HEALTH_CHECKS):
            response = await health.Check(health_pb2.HealthCheckRequest(), timeout=PROMPT_SECONDS)
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        still_hashing = sum(not task.done() for task in logins)

        assert still_hashing > 0, "the logins finished before the checks: nothing was measured"
    finally:
        # Let every login finish (bounded by its deadline) rather than cancel it mid-transaction.
        outcomes = await asyncio.gather(*logins, return_exceptions=True)
    sessions = {o.session_id for o in outcomes if isinstance(o, auth_pb2.TokenPair)}
    assert len(sessions) == CONCURRENT_LOGINS, outcomes
