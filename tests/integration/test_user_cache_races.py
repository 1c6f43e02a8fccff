"""After UpdateUser returns, no replica serves an older version of the user (on Redis).

Two replicas share one PostgreSQL database and a redis-server of the test's own. Each round
releases GetUser cache misses on both replicas together with an UpdateUser on A: a miss that read
the old row may reach Redis after the update cleared it. After the update is acknowledged, both
replicas (and Redis) must show the new version or a later one, in every round, and still once the
in-process copies have expired.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import grpc.aio
import redis.asyncio as redis_asyncio
from google.protobuf import field_mask_pb2

from server.app import Application
from server.cache.users import decode_user
from tests.support.backends import Backend, postgres_database
from tests.support.flows import bearer, get_me, signed_in_user, users
from tests.support.private_redis import PrivateRedis, private_redis
from tests.support.servers import serving, settings_for_test
from userservice.v1 import user_pb2

ROUNDS = 200
READERS_PER_REPLICA = 3
USER_CACHE_TTL_SECONDS = 1.0


def version(user: user_pb2.User) -> int:
    return int(user.etag.removeprefix('W/"').removesuffix('"'))


@asynccontextmanager
async def two_replicas(
    tmp_path: Path,
) -> AsyncIterator[tuple[PrivateRedis, list[tuple[Application, grpc.aio.Channel]]]]:
    async with (
        private_redis(tmp_path / "redis") as redis_server,
        postgres_database() as database_url,
        AsyncExitStack() as stack,
    ):
        backend = Backend("postgres", database_url, redis_server.url, "races:")
        replicas = [
            await stack.enter_async_context(
                serving(
                    settings_for_test(
                        backend,
                        tmp_path / name,
                        keys_dir=tmp_path / "keys",
                        user_cache_ttl_seconds=USER_CACHE_TTL_SECONDS,
                    )
                )
            )
            for name in ("a", "b")
        ]
        yield redis_server, replicas


async def rename(channel: grpc.aio.Channel, token: str, name: str) -> user_pb2.User:
    return await users(channel).UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(id="me", display_name=name),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        ),
        metadata=bearer(token),
    )


async def redis_version(inspector: redis_asyncio.Redis, app: Application, user_id: str) -> int:
    raw = await inspector.get(f"{app.settings.redis_key_prefix}user:{user_id}")
    return 0 if raw is None else decode_user(raw).version


async def test_a_cache_miss_racing_an_update_never_leaves_the_old_version_served(
    tmp_path: Path,
) -> None:
    async with two_replicas(tmp_path) as (redis_server, [(app_a, a), (_, b)]):
        caller = await signed_in_user(a, "raced")
        account, token = caller.account, caller.tokens.access_token
        inspector = redis_server.client()
        stale: list[str] = []
        try:
            acknowledged = 0
            for round_number in range(ROUNDS):
                go = asyncio.Event()

                async def read(channel: grpc.aio.Channel, go: asyncio.Event = go) -> None:
                    await go.wait()
                    await get_me(channel, token)

                async def update(name: str, go: asyncio.Event = go) -> user_pb2.User:
                    await go.wait()
                    return await rename(a, token, name)

                readers = [read(ch) for ch in (a, b) for _ in range(READERS_PER_REPLICA)]
                racing = asyncio.gather(update(f"Round {round_number}"), *readers)
                await asyncio.sleep(0)
                go.set()
                updated, *_ = await racing
                acknowledged = version(updated)

                for name, channel in (("A", a), ("B", b)):
                    served = version(await get_me(channel, token))
                    if served < acknowledged:
                        stale.append(f"round {round_number}: {name} served {served}")
                in_redis = await redis_version(inspector, app_a, account.id)
                if 0 < in_redis < acknowledged:
                    stale.append(f"round {round_number}: Redis holds {in_redis}")

            await asyncio.sleep(USER_CACHE_TTL_SECONDS * 1.5)  # the in-process copies expire
            for name, channel in (("A", a), ("B", b)):
                for _ in range(2):  # a miss, then whatever the miss filled
                    served = version(await get_me(channel, token))
                    if served < acknowledged:
                        stale.append(f"after the TTL: {name} served {served}")
        finally:
            await inspector.aclose()
        assert not stale, f"{len(stale)} stale reads: {stale[:10]}"
