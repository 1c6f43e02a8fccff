"""After UpdateUser returns, no replica serves an older version of the user, through Redis faults.

Two real processes on one PostgreSQL database and a private redis-server. Both serve the user
warm (each has it in its own cache, and Redis holds it). Redis is paused (SIGSTOP), so A cannot
tell Redis or B about a change; A changes the user's display name; from the moment A acknowledges
it, B is asked for the user as fast as it answers — while B still hears its last heartbeat (the
gap the red team found), after the resume, and once B is live again — and every answer must carry
the new name. A ledger of the acknowledged names is checked on both replicas at the end.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from tests.support.flows import Caller, get_me, signed_in_user, users
from tests.support.two_replicas import Replica, two_processes, until
from userservice.v1 import user_pb2

pytestmark = pytest.mark.e2e

PAUSE_SECONDS = 3.0
AFTER_RESUME_SECONDS = 4.0
CALL_TIMEOUT_SECONDS = 5.0


async def rename(replica: Replica, caller: Caller, name: str) -> None:
    await users(replica.channel).UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(id="me", display_name=name),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        ),
        metadata=caller.metadata,
    )


async def names_seen(replica: Replica, caller: Caller, stop: asyncio.Event) -> list[str]:
    """The display name in each answer, back to back until `stop` (failures are not answers)."""
    seen = []
    while not stop.is_set():
        try:
            user = await asyncio.wait_for(
                get_me(replica.channel, caller.tokens.access_token), CALL_TIMEOUT_SECONDS
            )
        except (grpc.aio.AioRpcError, TimeoutError):
            continue
        seen.append(user.display_name)
    return seen


@pytest.mark.parametrize("change_after", [0.1, PAUSE_SECONDS - 0.5], ids=["early", "late"])
async def test_a_change_acknowledged_while_redis_is_paused_is_what_the_other_replica_serves(
    tmp_path: Path, change_after: float
) -> None:
    async with two_processes(tmp_path) as (redis_server, a, b):
        caller = await signed_in_user(a.channel, "renamed")
        for replica in (a, b, a, b):  # warm: each replica's own copy, and Redis's
            assert (await get_me(replica.channel, caller.tokens.access_token)).display_name
        await until(b, "userservice_replica_live", 1)

        redis_server.pause()
        paused_at = time.monotonic()
        try:
            await asyncio.sleep(change_after)
            await rename(a, caller, "after the change")
            stop = asyncio.Event()
            reads = asyncio.create_task(names_seen(b, caller, stop))
            await asyncio.sleep(max(0.0, paused_at + PAUSE_SECONDS - time.monotonic()))
        finally:
            redis_server.resume()
        await asyncio.sleep(AFTER_RESUME_SECONDS)
        stop.set()
        seen = await reads
        await until(b, "userservice_replica_live", 1)

        assert seen, "B answered no read"
        stale = [name for name in seen if name != "after the change"]
        assert not stale, f"{len(stale)} of {len(seen)} reads on B served the old version"
        for replica in (a, b):  # the ledger: what A acknowledged, on both, once all is well
            user = await get_me(replica.channel, caller.tokens.access_token)
            assert user.display_name == "after the change"
        assert await a.metric("userservice_user_cache_backstop_waits_total") >= 1
