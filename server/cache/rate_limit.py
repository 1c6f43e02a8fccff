"""Fixed-window rate limits in Redis (atomic, every key with a TTL), per process when Redis is down.

A window starts with the first hit: `SET key 0 EX window NX` then `INCR` in one MULTI, so a key
never exists without its TTL. When Redis is unavailable, a bounded in-process counter keeps the
limit (per replica, so looser, but never off).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cachetools import TTLCache

from server.cache.client import Redis
from server.cache.guard import RedisGuard, RedisUnavailable
from server.cache.keys import RedisKeys

_LOCAL_CAPACITY = 100_000


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    max_count: int
    window_seconds: int


def subject_digest(value: str) -> str:
    """Keys name a digest, not the email itself: Redis holds no personal data for this."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class _LocalCounters:
    def __init__(self, limit: Limit) -> None:
        self._entries: TTLCache[str, tuple[int, float]] = TTLCache(
            maxsize=_LOCAL_CAPACITY, ttl=limit.window_seconds
        )
        self._window = limit.window_seconds

    def add(self, subject: str, amount: int) -> tuple[int, float]:
        now = time.monotonic()
        count, started = self._entries.get(subject, (0, now))
        if amount:
            self._entries[subject] = (count + amount, started)
        return count + amount, max(0.0, started + self._window - now)

    def reset(self, subject: str) -> None:
        self._entries.pop(subject, None)


class RateLimiter:
    def __init__(self, redis: Redis, keys: RedisKeys, guard: RedisGuard) -> None:
        self._redis = redis
        self._keys = keys
        self._guard = guard
        self._local: dict[str, _LocalCounters] = {}
        # Decisions the in-process counters made because Redis could not (exported as a metric).
        self.local_decisions = 0

    def _local_for(self, limit: Limit) -> _LocalCounters:
        counters = self._local.get(limit.name)
        if counters is None:
            counters = self._local[limit.name] = _LocalCounters(limit)
        return counters

    async def retry_after(self, checks: Sequence[tuple[Limit, str]]) -> float | None:
        """Seconds until the first exhausted limit frees up; None when every limit has room."""
        counts = await self._counts(checks, amount=0)
        waits = [
            left
            for (limit, _), (count, left) in zip(checks, counts, strict=True)
            if count >= limit.max_count
        ]
        return max(waits) if waits else None

    async def hit(self, checks: Sequence[tuple[Limit, str]]) -> None:
        await self._counts(checks, amount=1)

    async def consume(self, limit: Limit, subject: str) -> float | None:
        """Counts one attempt; the wait in seconds when that attempt is over the limit."""
        [(count, left)] = await self._counts([(limit, subject)], amount=1)
        return left if count > limit.max_count else None

    async def reset(self, limit: Limit, subject: str) -> None:
        self._local_for(limit).reset(subject)
        with contextlib.suppress(RedisUnavailable):
            await self._guard.call(
                lambda: self._redis.delete(self._keys.rate_limit(limit.name, subject))
            )

    async def _counts(
        self, checks: Sequence[tuple[Limit, str]], *, amount: int
    ) -> list[tuple[int, float]]:
        async def in_redis() -> list[tuple[int, float]]:
            async with self._redis.pipeline(transaction=True) as pipe:
                for limit, subject in checks:
                    key = self._keys.rate_limit(limit.name, subject)
                    if amount:
                        pipe.set(key, 0, ex=limit.window_seconds, nx=True)
                        pipe.incrby(key, amount)
                    else:
                        pipe.get(key)
                    pipe.pttl(key)
                replies = await pipe.execute()
            step = 3 if amount else 2
            results = []
            for i in range(len(checks)):
                count, pttl = replies[i * step + step - 2], replies[i * step + step - 1]
                results.append((int(count or 0), max(0, int(pttl)) / 1000))
            return results

        try:
            return await self._guard.call(in_redis)
        except RedisUnavailable:
            self.local_decisions += 1
            return [self._local_for(limit).add(subject, amount) for limit, subject in checks]
