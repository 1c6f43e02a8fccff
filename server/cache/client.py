"""The Redis client: a real server, or `memory://` for an in-process Redis-compatible store."""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis_asyncio
from fakeredis import FakeAsyncRedis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from server.config import Settings

Redis = redis_asyncio.Redis
# What a Redis call may raise when Redis is down, slow or restarting: callers degrade on these.
REDIS_ERRORS = (redis_asyncio.RedisError, OSError, TimeoutError)


def connection_retry() -> Retry:
    """One immediate retry on a broken connection, none on a timeout.

    After a Redis restart every pooled connection fails once (its peer is gone); the retry
    reconnects instead of reporting an outage. A timeout is a slow or hung Redis: retrying it
    would only spend the call's budget twice.
    """
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


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
        retry=connection_retry(),
    )
