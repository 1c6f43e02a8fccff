"""UserCache on an in-process Redis (fakeredis with Lua): versioned writes and Redis trouble.

A write of what a read found must never replace a newer version or bring back a deleted user,
whatever order the writes reach Redis in; and retrying a change Redis missed must never itself
look like a Redis failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fakeredis import FakeAsyncRedis, FakeServer

from server.cache.guard import RedisGuard
from server.cache.keys import RedisKeys
from server.cache.replica import LocalReplica
from server.cache.users import UserCache, decode_user
from server.domain import Role, User, UserState

KEYS = RedisKeys("unit:")
WITHIN_SECONDS = 5.0


@dataclass
class Harness:
    cache: UserCache
    redis: FakeAsyncRedis
    server: FakeServer
    guard: RedisGuard
    replica: LocalReplica
    changed: dict[uuid.UUID, int | None]  # what the replica's poll reads as changed users

    async def stored(self, user_id: uuid.UUID) -> User | None:
        raw = await self.redis.get(KEYS.user(user_id))
        return None if raw is None else decode_user(raw)


async def no_revocations(since: dt.datetime) -> list[tuple[uuid.UUID, dt.datetime]]:
    return []


@asynccontextmanager
async def user_cache(poll_seconds: float = 3600) -> AsyncIterator[Harness]:
    """A cache whose replica never goes live but has polled (and stays poll-fresh for the test):
    every read reaches Redis."""
    server = FakeServer()
    redis = FakeAsyncRedis(server=server)
    guard = RedisGuard(timeout_seconds=0.5, cooldown_seconds=0.0)
    changed: dict[uuid.UUID, int | None] = {}

    async def changed_users(since: dt.datetime) -> list[tuple[uuid.UUID, int | None]]:
        return list(changed.items())

    replica = LocalReplica(
        redis,
        KEYS,
        retention=dt.timedelta(minutes=16),
        recent_revocations=no_revocations,
        max_users=0,
        user_ttl_seconds=60,
        poll_seconds=poll_seconds,
        recent_user_changes=changed_users,
    )
    await replica.poll()
    cache = UserCache(redis, KEYS, guard, replica, ttl_seconds=300)
    try:
        yield Harness(cache, redis, server, guard, replica, changed)
    finally:
        await cache.close()
        await redis.aclose()


def version_of(user: User, version: int) -> User:
    return dataclasses.replace(user, version=version, display_name=f"v{version}")


def a_user() -> User:
    now = dt.datetime.now(dt.UTC)
    return User(
        id=uuid.uuid4(),
        email=f"{uuid.uuid4().hex[:8]}@example.com",
        display_name="v1",
        role=Role.USER,
        state=UserState.ACTIVE,
        email_verified=False,
        created_at=now,
        updated_at=now,
        version=1,
    )


async def test_a_read_from_before_a_change_does_not_land_after_it() -> None:
    async with user_cache() as harness:
        cache, old = harness.cache, a_user()
        assert await cache.invalidate(old.id, version=2)  # UpdateUser committed version 2

        await cache.put(old, generation=cache.generation)  # a miss that read version 1
        assert await harness.stored(old.id) is None
        assert await cache.get(old.id) is None

        new = version_of(old, 2)
        await cache.put(new, generation=cache.generation)  # a read after the change
        assert await cache.get(old.id) == new


async def test_a_newer_version_stored_is_never_replaced_by_an_older_one() -> None:
    async with user_cache() as harness:
        cache, user = harness.cache, a_user()
        await cache.put(version_of(user, 3), generation=cache.generation)
        await cache.put(version_of(user, 2), generation=cache.generation)
        assert await harness.stored(user.id) == version_of(user, 3)
        await cache.put(version_of(user, 4), generation=cache.generation)
        assert await harness.stored(user.id) == version_of(user, 4)


async def test_a_deleted_user_is_never_written_back() -> None:
    async with user_cache() as harness:
        cache, user = harness.cache, a_user()
        await cache.put(user, generation=cache.generation)
        assert await cache.invalidate(user.id)  # deleted: no version given

        await cache.put(version_of(user, 10**9), generation=cache.generation)
        assert await harness.stored(user.id) is None
        # The tombstone lives as long as an entry would.
        assert 0 < await harness.redis.ttl(KEYS.user_floor(user.id)) <= 300


async def test_a_change_redis_missed_is_sent_once_it_answers_and_costs_no_false_outage() -> None:
    async with user_cache(poll_seconds=0.2) as harness:
        cache, user = harness.cache, a_user()
        await cache.put(user, generation=cache.generation)

        harness.server.connected = False
        assert not await cache.invalidate(user.id, version=2)
        failures = harness.guard.failures
        harness.server.connected = True
        await harness.replica.poll()  # poll-fresh again: reads may ask Redis

        assert await cache.get(user.id) is None  # the change reaches Redis before any read
        assert await harness.stored(user.id) is None
        await cache.put(user, generation=cache.generation)  # version 1: too old now
        assert await harness.stored(user.id) is None

        # The background retry wakes with nothing left to send: it must send nothing (a DEL of
        # no key is a Redis error), not report Redis as failing.
        retry = cache._retry
        assert retry is not None
        await asyncio.wait_for(retry, WITHIN_SECONDS)
        assert harness.guard.failures == failures
        assert harness.guard.reachable


async def test_a_change_redis_missed_waits_for_the_poll_window_before_it_is_acknowledged() -> None:
    async with user_cache(poll_seconds=0.2) as harness:
        cache, user = harness.cache, a_user()
        harness.server.connected = False
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert not await cache.invalidate(user.id, version=2)
        # Every replica polling each 0.2 s has polled since: each knows the change's floor.
        assert loop.time() - started >= harness.replica.fresh_window
        assert cache.backstop_waits == 1


async def test_a_copy_older_than_the_polled_floor_is_never_served() -> None:
    """Redis missed a change made elsewhere (its entry is the old version); this replica's
    database poll learned the user's new version, so the entry is a miss, not a stale read."""
    async with user_cache() as harness:
        cache, old = harness.cache, a_user()
        await cache.put(old, generation=cache.generation)
        assert await cache.get(old.id) == old

        harness.changed[old.id] = 2  # another replica committed version 2; Redis never heard
        await harness.replica.poll()

        assert await harness.stored(old.id) == old  # still in Redis ...
        assert await cache.get(old.id) is None  # ... and never served
        await cache.put(old, generation=cache.generation)  # nor remembered by a late read
        assert await cache.get(old.id) is None
        new = version_of(old, 2)
        await cache.put(new, generation=cache.generation)
        assert await cache.get(old.id) == new


async def test_a_user_deleted_elsewhere_is_never_served_from_redis() -> None:
    async with user_cache() as harness:
        cache, user = harness.cache, a_user()
        await cache.put(user, generation=cache.generation)
        harness.changed[user.id] = None  # deleted
        await harness.replica.poll()
        assert await cache.get(user.id) is None


async def test_a_replica_whose_poll_is_late_serves_no_cached_copy() -> None:
    async with user_cache(poll_seconds=0.05) as harness:
        cache, user = harness.cache, a_user()
        await cache.put(user, generation=cache.generation)
        await harness.replica.poll()
        assert await cache.get(user.id) == user
        await asyncio.sleep(harness.replica.fresh_window)  # no poll since: it may miss a change
        assert not harness.replica.poll_fresh
        assert await cache.get(user.id) is None
