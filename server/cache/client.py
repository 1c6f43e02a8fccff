"""The Redis client: a real server, or `memory://` for an in-process Redis-compatible store."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis_asyncio
from fakeredis import FakeAsyncRedis

from server.config import Settings

Redis = redis_asyncio.Redis
# What a Redis call may raise when Redis is down, slow or restarting: callers degrade on these.
REDIS_ERRORS = (redis_asyncio.RedisError, OSError, TimeoutError)


def create_redis(settings: Settings) -> Redis:
    if settings.uses_memory_redis:
        fake: Any = FakeAsyncRedis()
        client: Redis = fake
        return client
    return redis_asyncio.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=15,
        client_name="userservice",
    )
