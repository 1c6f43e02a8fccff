"""RateLimiter.reserve: an attempt is counted before it is judged, atomically, on every store.

The race tests release many reservations together (each task waits on one Event, then all
reserve in the same loop turn) and count how many were admitted: exactly the limit, on the
shared Redis, on memory://, and on the in-process counters used while Redis is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as redis_asyncio
from fakeredis import FakeAsyncRedis

from server.cache.client import Redis
from server.cache.guard import RedisGuard
from server.cache.keys import RedisKeys
from server.cache.rate_limit import Limit, RateLimiter
from tests.support.backends import REDIS_URL, redis_prefix
from tests.support.ports import free_port
from tests.support.private_redis import private_redis

CONCURRENT = 64
WINDOW_SECONDS = 120
ACCOUNT = Limit("account", 10, WINDOW_SECONDS)
IP = Limit("ip", 25, WINDOW_SECONDS)


@asynccontextmanager
async def limiter_on(store: str) -> AsyncIterator[tuple[RateLimiter, Redis, RedisKeys]]:
    """A limiter on the shared Redis (own prefix), on memory://, or on a Redis that is down."""
    if store == "redis":
        async with redis_prefix() as prefix:
            client = redis_asyncio.from_url(REDIS_URL, socket_timeout=5)
            keys = RedisKeys(prefix)
            try:
                yield RateLimiter(client, keys, RedisGuard(timeout_seconds=5)), client, keys
            finally:
                await client.aclose()
        return
    if store == "memory":
        fake: Redis = FakeAsyncRedis()
    else:  # nothing listens there: every call fails, so the limiter counts in process
        fake = redis_asyncio.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=1)
    keys = RedisKeys(f"ustest:{uuid.uuid4().hex[:12]}:")
    try:
        yield RateLimiter(fake, keys, RedisGuard(timeout_seconds=1)), fake, keys
    finally:
        await fake.aclose()


async def released_together(
    limiter: RateLimiter, checks: Sequence[Sequence[tuple[Limit, str]]]
) -> list[float | None]:
    start = asyncio.Event()

    async def one(attempt: Sequence[tuple[Limit, str]]) -> float | None:
        await start.wait()
        return await limiter.reserve(attempt)

    tasks = [asyncio.create_task(one(attempt)) for attempt in checks]
    await asyncio.sleep(0)  # every task is now parked on the event
    start.set()
    return await asyncio.gather(*tasks)


STORES = ["redis", "memory", "redis-down"]


@pytest.mark.parametrize("store", STORES)
async def test_concurrent_reservations_admit_exactly_the_limit(store: str) -> None:
    async with limiter_on(store) as (limiter, _, _):
        checks = [[(ACCOUNT, "alice"), (IP, "192.0.2.1")]] * CONCURRENT

        results = await released_together(limiter, checks)

        admitted = [r for r in results if r is None]
        assert len(admitted) == ACCOUNT.max_count
        assert all(0 < r <= WINDOW_SECONDS for r in results if r is not None)


@pytest.mark.parametrize("store", STORES)
async def test_the_tightest_shared_limit_decides_when_subjects_differ(store: str) -> None:
    """Attempts at 64 different accounts from one IP: the IP limit admits 25 of them."""
    async with limiter_on(store) as (limiter, _, _):
        checks = [[(ACCOUNT, f"account-{i}"), (IP, "192.0.2.1")] for i in range(CONCURRENT)]

        results = await released_together(limiter, checks)

        assert sum(r is None for r in results) == IP.max_count


@pytest.mark.parametrize("store", STORES)
async def test_a_refused_attempt_still_counts_and_reset_frees_the_subject(store: str) -> None:
    async with limiter_on(store) as (limiter, _, _):
        one = [(ACCOUNT, "bob")]
        first = [await limiter.reserve(one) for _ in range(ACCOUNT.max_count + 2)]
        await limiter.reset(ACCOUNT, "bob")
        after_reset = await limiter.reserve(one)

        assert first[: ACCOUNT.max_count] == [None] * ACCOUNT.max_count
        assert all(wait is not None for wait in first[ACCOUNT.max_count :])
        assert after_reset is None


@pytest.mark.parametrize("store", ["redis", "memory"])
async def test_every_counter_has_the_window_as_its_ttl(store: str) -> None:
    async with limiter_on(store) as (limiter, client, keys):
        stale = keys.rate_limit(IP.name, "198.51.100.7")
        await client.set(stale, 3)  # a counter without TTL, as an older release could leave

        await limiter.reserve([(ACCOUNT, "carol"), (IP, "198.51.100.7")])

        for key in (keys.rate_limit(ACCOUNT.name, "carol"), stale):
            ttl = await client.pttl(key)
            assert 0 < ttl <= WINDOW_SECONDS * 1000, (key, ttl)
        assert int(await client.get(stale) or 0) == 4


async def test_a_restarted_redis_gets_the_script_again(tmp_path: Path) -> None:
    """The script is loaded once per server; a new, empty server answers NOSCRIPT, and the
    limiter loads it again instead of degrading."""
    async with private_redis(tmp_path) as server:
        client = server.client()
        guard = RedisGuard(timeout_seconds=2, cooldown_seconds=0)
        limiter = RateLimiter(client, RedisKeys("t:"), guard)
        try:
            assert await limiter.reserve([(ACCOUNT, "dave")]) is None
            await server.restart()
            with contextlib.suppress(redis_asyncio.RedisError):
                await client.ping()  # may fail once on the dead connection; the pool reconnects
            assert await limiter.reserve([(ACCOUNT, "dave")]) is None
            assert guard.failures == 0
            assert int(await client.get("t:rl:account:dave") or 0) == 1
        finally:
            await client.aclose()


async def test_redis_dying_partway_through_a_burst_gives_no_fresh_budget(tmp_path: Path) -> None:
    """Six attempts counted in Redis, then Redis dies and 64 more are released together: this
    process still admits only the limit's ten in all (its own count carries over)."""
    async with private_redis(tmp_path) as server:
        client = server.client()
        limiter = RateLimiter(client, RedisKeys("t:"), RedisGuard(timeout_seconds=1))
        try:
            before = [await limiter.reserve([(ACCOUNT, "erin")]) for _ in range(6)]
            assert before == [None] * 6
            await server.kill()
            results = await released_together(limiter, [[(ACCOUNT, "erin")]] * CONCURRENT)

            assert sum(r is None for r in results) == ACCOUNT.max_count - len(before)
            assert limiter.local_decisions == CONCURRENT
        finally:
            await client.aclose()
