"""The user cache without Redis: reads skip it while Redis is down and fill it again once Redis is
back, and a user changed while Redis hung is never read stale from it afterwards."""

from __future__ import annotations

import json

import grpc.aio
import redis.asyncio as redis_asyncio
from google.protobuf import field_mask_pb2

from server.app import Application
from tests.support.flows import bearer, get_me, signed_in_user, users
from tests.support.private_redis import PrivateRedis
from tests.support.redis_keys import user_key
from tests.support.redis_outage import RECOVERY_SECONDS
from tests.support.waiting import eventually
from userservice.v1 import user_pb2


async def test_user_reads_skip_the_cache_while_redis_is_down_and_fill_it_again_once_back(
    app: Application,
    channel: grpc.aio.Channel,
    redis_server: PrivateRedis,
    inspector: redis_asyncio.Redis,
) -> None:
    caller = await signed_in_user(channel, "cached")
    tokens = caller.tokens
    key = user_key(app, caller.id)

    first = await get_me(channel, tokens.access_token)
    second = await get_me(channel, tokens.access_token)
    cached = await inspector.get(key)
    assert cached is not None, f"{key} missing after two reads"
    entry = json.loads(cached)
    assert (entry["id"], entry["email"]) == (caller.id, caller.account.email)
    assert first == second

    await redis_server.kill()
    during = [await get_me(channel, tokens.access_token) for _ in range(3)]
    assert all(user == first for user in during)

    await redis_server.start()
    inspector = redis_server.client()  # the old client's connection died with the old server
    try:
        assert await inspector.exists(key) == 0  # a new, empty Redis

        async def cache_filled_again() -> bool:
            assert await get_me(channel, tokens.access_token) == first
            return bool(await inspector.exists(key))

        await eventually(
            cache_filled_again,
            within=RECOVERY_SECONDS,
            what=f"{key} written to the restarted Redis",
        )
    finally:
        await inspector.aclose()


async def test_a_user_changed_while_redis_hung_is_not_read_stale_from_it_afterwards(
    app: Application,
    channel: grpc.aio.Channel,
    redis_server: PrivateRedis,
    inspector: redis_asyncio.Redis,
) -> None:
    """A hung Redis keeps its data: the entry the change could not delete must still go.

    Other replicas read the same Redis, so the old entry has to be deleted once Redis answers
    again, not merely skipped by the replica that made the change.
    """
    caller = await signed_in_user(channel, "renamed")
    tokens = caller.tokens
    await get_me(channel, tokens.access_token)
    key = user_key(app, caller.id)
    assert await inspector.exists(key) == 1

    redis_server.pause()
    try:
        renamed = await users(channel).UpdateUser(
            user_pb2.UpdateUserRequest(
                user=user_pb2.User(id="me", display_name="Renamed while Redis hung"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            ),
            metadata=bearer(tokens.access_token),
        )
        assert (await get_me(channel, tokens.access_token)).display_name == renamed.display_name
    finally:
        redis_server.resume()

    async def old_entry_gone() -> bool:
        cached = await inspector.get(key)
        return cached is None or json.loads(cached)["display_name"] == renamed.display_name

    await eventually(
        old_entry_gone,
        within=RECOVERY_SECONDS,
        what=f"the stale {key} deleted, with no call reading it",
    )
    for _ in range(2):  # a cache miss, then (once filled again) a hit
        me = await get_me(channel, tokens.access_token)
        assert (me.display_name, me.etag) == (renamed.display_name, renamed.etag)
