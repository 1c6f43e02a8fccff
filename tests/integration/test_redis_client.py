"""The Redis client across a Redis restart: stale pooled connections are replaced, not failed.

After a restart every connection the pool holds is dead. Each must be replaced at its first use
(one immediate retry on a broken connection); reporting it as an outage would put the guard in
its cool-down and skip Redis for a second, during which revocations are not announced.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.cache.client import Redis, create_redis
from server.cache.guard import RedisGuard
from tests.support.backends import Backend
from tests.support.private_redis import PrivateRedis, private_redis
from tests.support.servers import settings_for_test

CONNECTIONS = 8


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    async with private_redis(tmp_path / "redis") as server:
        yield server


@pytest.fixture
async def client(redis_server: PrivateRedis, tmp_path: Path) -> AsyncIterator[Redis]:
    backend = Backend("postgres", "postgresql+asyncpg://unused/unused", redis_server.url, "c:")
    redis = create_redis(settings_for_test(backend, tmp_path))
    try:
        yield redis
    finally:
        await redis.aclose()


async def test_every_pooled_connection_from_before_a_restart_works_after_it(
    redis_server: PrivateRedis, client: Redis
) -> None:
    guard = RedisGuard(timeout_seconds=0.5)

    async def slow_round_trip() -> object:
        # Held open together, so the pool keeps CONNECTIONS connections.
        return await client.blpop(["c:never"], timeout=0.2)

    await asyncio.gather(*(slow_round_trip() for _ in range(CONNECTIONS)))
    assert len(client.connection_pool._available_connections) >= CONNECTIONS

    await redis_server.restart()

    async def publish(i: int) -> int:
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(f"c:key:{i}", b"1", ex=60)
            pipe.publish("c:events", b"hello")
            replies = await pipe.execute()
        return int(replies[1])

    for i in range(CONNECTIONS):  # one by one: each takes the next stale connection
        assert await guard.call(lambda i=i: publish(i)) == 0  # type: ignore[misc]
        assert await guard.call(lambda i=i: client.get(f"c:key:{i}")) == b"1"  # type: ignore[misc]
    assert (guard.failures, guard.reachable) == (0, True)
