"""No replica accepts a revoked token once the revocation is acknowledged, through Redis faults.

Two real `userservice` processes (A and B) share one PostgreSQL database and a redis-server of
the test's own, which the test pauses (SIGSTOP), resumes and restarts. A logs a session out; from
the moment A acknowledges it, B is called with the logged-out token as fast as it answers, through
the fault, the resume and the resynchronisation: not one call may be accepted. A ledger of every
acknowledged logout is checked on both replicas at the end. What the processes say about Redis
is read where an operator reads it: their metrics and their logs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio
import pytest

from tests.support.flows import auth, bearer, get_me, login, signed_in_user
from tests.support.private_redis import PrivateRedis
from tests.support.two_replicas import Replica, two_processes, until
from userservice.v1 import auth_pb2

pytestmark = pytest.mark.e2e

# Long enough that B has stopped hearing its heartbeat (2 s), so it is past its "live" window.
PAUSE_SECONDS = 3.0
# After the resume: B resubscribes (backoff up to a few seconds) and the resync runs.
AFTER_RESUME_SECONDS = 4.0
CALL_TIMEOUT_SECONDS = 5.0


@dataclass
class Ledger:
    """Every logout a replica acknowledged, by access token."""

    tokens: list[str] = field(default_factory=list)

    async def check(self, *replicas: Replica) -> None:
        for replica in replicas:
            for token in self.tokens:
                assert await accepted(replica, token) is False, f"{replica.name} accepts it"


async def accepted(replica: Replica, access_token: str) -> bool:
    """Whether the replica accepts the token; a refusal must say it is revoked."""
    try:
        await asyncio.wait_for(get_me(replica.channel, access_token), CALL_TIMEOUT_SECONDS)
    except grpc.aio.AioRpcError as failed:
        refusal = failed
    else:
        return True
    assert refusal.code() is grpc.StatusCode.UNAUTHENTICATED, refusal
    return False


async def logout(replica: Replica, access_token: str) -> float:
    """Logs the session out on the replica; the monotonic time it was acknowledged."""
    await auth(replica.channel).Logout(auth_pb2.LogoutRequest(), metadata=bearer(access_token))
    return time.monotonic()


async def hammer(replica: Replica, access_token: str, stop: asyncio.Event) -> tuple[int, int]:
    """Calls with the token back to back until `stop`: (calls accepted, calls made)."""
    made = accepted_count = 0
    while not stop.is_set():
        made += 1
        accepted_count += await accepted(replica, access_token)
    return accepted_count, made


async def session_to_end(a: Replica, b: Replica, label: str) -> str:
    """A fresh session's access token, accepted by both replicas."""
    caller = await signed_in_user(a.channel, label)
    token = (await login(a.channel, caller.account.email)).access_token
    assert await accepted(a, token)
    assert await accepted(b, token)
    return token


async def logout_during_pause(
    redis_server: PrivateRedis, a: Replica, b: Replica, *, logout_after: float
) -> tuple[str, int, int]:
    """Pauses Redis, logs out on A `logout_after` seconds in, resumes after PAUSE_SECONDS
    (or at once if the logout took longer), and calls B with the token from the
    acknowledgment until AFTER_RESUME_SECONDS after the resume."""
    token = await session_to_end(a, b, "paused")
    await until(b, "userservice_replica_live", 1)
    redis_server.pause()
    paused_at = time.monotonic()
    try:
        await asyncio.sleep(logout_after)
        await logout(a, token)
        stop = asyncio.Event()
        calls = asyncio.create_task(hammer(b, token, stop))
        await asyncio.sleep(max(0.0, paused_at + PAUSE_SECONDS - time.monotonic()))
    finally:
        redis_server.resume()
    await asyncio.sleep(AFTER_RESUME_SECONDS)
    stop.set()
    accepted_count, made = await calls
    await until(b, "userservice_replica_live", 1)
    assert not await accepted(b, token)
    return token, accepted_count, made


async def test_a_logout_acknowledged_while_redis_is_paused_is_refused_by_the_other_replica(
    tmp_path: Path,
) -> None:
    """Logged out once both replicas have stopped hearing Redis: B, not yet resubscribed after
    the resume, must not trust the marker Redis kept while it missed the revocation."""
    async with two_processes(tmp_path) as (redis_server, a, b):
        token, accepted_count, made = await logout_during_pause(
            redis_server, a, b, logout_after=PAUSE_SECONDS - 0.5
        )
        assert made > 0
        assert accepted_count == 0, f"{accepted_count} of {made} calls accepted the token"
        assert await a.metric("userservice_revocation_backstop_waits_total") == 1
        await Ledger([token]).check(a, b)


async def test_a_logout_in_the_first_moments_of_a_redis_pause_is_refused_by_the_other_replica(
    tmp_path: Path,
) -> None:
    """Logged out while B still hears its last heartbeat (< 2 s): B's own copy may not vouch
    for the token, and neither may Redis after the resume."""
    async with two_processes(tmp_path) as (redis_server, a, b):
        token, accepted_count, made = await logout_during_pause(
            redis_server, a, b, logout_after=0.1
        )
        assert made > 0
        assert accepted_count == 0, f"{accepted_count} of {made} calls accepted the token"
        await Ledger([token]).check(a, b)


async def test_after_a_redis_restart_a_logout_is_announced_and_refused_at_once_everywhere(
    tmp_path: Path,
) -> None:
    """The pooled connections to the old Redis are dead: each must be replaced at its first
    use, not reported as an outage (which would skip Redis and its announcement)."""
    async with two_processes(tmp_path) as (redis_server, a, b):
        ledger = Ledger()
        tokens = [await session_to_end(a, b, f"restart-{i}") for i in range(4)]
        await until(a, "userservice_replica_live", 1)
        await until(b, "userservice_replica_live", 1)
        warnings_before = len(a.process.events("redis unavailable; degrading"))

        await redis_server.restart()
        for token in tokens:  # several, so several pooled connections meet the restart
            await logout(a, token)
            ledger.tokens.append(token)
            assert not await accepted(b, token)  # at once: no propagation delay allowed

        assert await a.metric("userservice_redis_reachable") == 1
        assert await a.metric("userservice_revocation_backstop_waits_total") == 0
        assert len(a.process.events("redis unavailable; degrading")) == warnings_before
        await until(b, "userservice_replica_live", 1)
        await ledger.check(a, b)
