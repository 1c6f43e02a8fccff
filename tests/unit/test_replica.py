"""LocalReplica: the process's own copy of revoked sessions and recently read users
(ARCHITECTURE.md, "Replication and faults").

The replica runs against an in-process Redis (fakeredis) that a test can disconnect, and a
stand-in for the database query that lists recent revocations. Events reach it the only way
they reach it in production: published on the events channel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from server.cache.keys import RedisKeys
from server.cache.replica import LocalReplica, sessions_revoked_message, user_changed_message
from server.domain import Role, User, UserState
from server.tasks import cancel_and_wait

KEYS = RedisKeys("unit:")
RETENTION = dt.timedelta(minutes=16)
# Subscribing and rebuilding take milliseconds; a reconnect waits out a 0.5 s backoff first.
WITHIN_SECONDS = 3.0
POLL_SECONDS = 0.01


@dataclass
class Database:
    """What the replica reads from the database: the sessions revoked recently."""

    revoked: list[tuple[uuid.UUID, dt.datetime]] = field(default_factory=list)
    reads: int = 0

    async def recent_revocations(
        self, since: dt.datetime
    ) -> Sequence[tuple[uuid.UUID, dt.datetime]]:
        self.reads += 1
        return [(session_id, at) for session_id, at in self.revoked if at >= since]


@dataclass
class Harness:
    replica: LocalReplica
    redis: FakeAsyncRedis
    server: FakeServer
    database: Database

    async def publish(self, message: str | bytes) -> None:
        await self.redis.publish(KEYS.events, message)

    def disconnect_redis(self) -> None:
        self.server.connected = False

    def reconnect_redis(self) -> None:
        self.server.connected = True


class SlowSubscribeLink:
    """Redis over a slow link, for SUBSCRIBE: `subscribe()` returns once the command is sent,
    as redis-py's does, but Redis registers it only at `deliver()`. Until then other
    connections' PUBLISHes reach no one here."""

    def __init__(self, redis: FakeAsyncRedis) -> None:
        self.redis = redis
        self.sent = asyncio.Event()
        self._delivered = asyncio.Event()

    def deliver(self) -> None:
        self._delivered.set()

    def pubsub(self, **options: Any) -> _SlowPubSub:
        return _SlowPubSub(self.redis.pubsub(**options), self._delivered, self.sent)

    async def publish(self, channel: str, message: str | bytes) -> int:
        return int(await self.redis.publish(channel, message))


class _SlowPubSub:
    def __init__(self, inner: Any, delivered: asyncio.Event, sent: asyncio.Event) -> None:
        self._inner = inner
        self._delivered = delivered
        self._sent = sent
        self._arrival: asyncio.Task[None] | None = None

    async def subscribe(self, *channels: str) -> None:
        self._arrival = asyncio.create_task(self._arrive(channels))
        self._sent.set()

    async def _arrive(self, channels: tuple[str, ...]) -> None:
        await self._delivered.wait()
        await self._inner.subscribe(*channels)

    async def get_message(self, *, timeout: float) -> dict[str, Any] | None:  # noqa: ASYNC109
        if not self._delivered.is_set():  # no reply can come back before the command arrives
            with suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._delivered.wait()
            return None
        assert self._arrival is not None
        await self._arrival
        message: dict[str, Any] | None = await self._inner.get_message(timeout=timeout)
        return message

    async def aclose(self) -> None:
        await cancel_and_wait(self._arrival)
        await self._inner.aclose()


@asynccontextmanager
async def replica_of(
    *,
    user_ttl_seconds: float = 60.0,
    database: Database | None = None,
    running: bool = True,
    link: Callable[[FakeAsyncRedis], Any] = lambda redis: redis,
    poll_seconds: float = 3600.0,
) -> AsyncIterator[Harness]:
    """A LocalReplica on its own fake Redis (reached through `link`); `running` starts its
    subscription and its database poll (by default one poll at start, then none: the tests
    of the subscription count database reads)."""
    server = FakeServer()
    redis = FakeAsyncRedis(server=server)
    database = database or Database()
    replica = LocalReplica(
        cast(Any, link(redis)),
        KEYS,
        retention=RETENTION,
        recent_revocations=database.recent_revocations,
        max_users=100,
        user_ttl_seconds=user_ttl_seconds,
        poll_seconds=poll_seconds,
    )
    task = asyncio.create_task(replica.run()) if running else None
    try:
        yield Harness(replica, redis, server, database)
    finally:
        await cancel_and_wait(task)
        await redis.aclose()


async def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WITHIN_SECONDS
    while not check():
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not within {WITHIN_SECONDS}s")
        await asyncio.sleep(POLL_SECONDS)


async def live(harness: Harness) -> Harness:
    await eventually(lambda: harness.replica.live, "replica live")
    return harness


def a_user(display_name: str = "Ada") -> User:
    now = dt.datetime.now(dt.UTC)
    return User(
        id=uuid.uuid4(),
        email=f"{uuid.uuid4().hex[:8]}@example.com",
        display_name=display_name,
        role=Role.USER,
        state=UserState.ACTIVE,
        email_verified=False,
        created_at=now,
        updated_at=now,
        version=1,
    )


async def test_a_user_read_before_a_change_was_heard_is_not_remembered() -> None:
    async with replica_of() as harness:
        replica = (await live(harness)).replica
        user = a_user()
        read_began_at = replica.generation  # a read of the user starts here...

        await harness.publish(user_changed_message(user.id))  # ...the user changes meanwhile
        await eventually(lambda: replica.generation != read_began_at, "user_changed heard")
        replica.remember_user(user, read_began_at)  # ...and the read ends with the old user

        assert replica.user(user.id) is None
        replica.remember_user(user, replica.generation)  # a read that began after the change
        assert replica.user(user.id) == user


async def test_revocation_is_unknown_while_not_live_but_a_heard_revocation_is_final() -> None:
    revoked, other = uuid.uuid4(), uuid.uuid4()
    async with replica_of(running=False) as idle:
        assert idle.replica.is_revoked(other) is None  # never subscribed: ask Redis or the DB

    async with replica_of() as harness:
        replica = (await live(harness)).replica
        assert replica.is_revoked(revoked) is False  # live: no round trip for a live session

        await harness.publish(sessions_revoked_message([revoked]))
        await eventually(lambda: replica.is_revoked(revoked) is True, "revocation heard")

        harness.disconnect_redis()
        await eventually(lambda: not replica.live, "replica not live once Redis is gone")
        assert replica.is_revoked(revoked) is True
        assert replica.is_revoked(other) is None


async def test_going_live_loads_the_revocations_the_database_holds() -> None:
    before = uuid.uuid4()
    database = Database(revoked=[(before, dt.datetime.now(dt.UTC))])
    async with replica_of(database=database) as harness:
        replica = (await live(harness)).replica

        assert replica.is_revoked(before) is True
        assert replica.is_revoked(uuid.uuid4()) is False


async def test_an_unreadable_event_is_ignored_and_the_replica_stays_live() -> None:
    unreadable: list[str | bytes] = [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"a string"',
        b"null",
        b'{"no": "type"}',
        b'{"type": "user_changed"}',
        b'{"type": "user_changed", "id": "not-a-uuid"}',
        b'{"type": "user_changed", "id": 7}',
        b'{"type": "sessions_revoked", "ids": 7}',
        b'{"type": "sessions_revoked", "ids": [42]}',
        b'{"type": "sessions_revoked", "ids": [{"id": "x"}]}',
        b"[" * 100_000,
    ]
    revoked = uuid.uuid4()
    async with replica_of() as harness:
        replica = (await live(harness)).replica
        generation, rebuilds = replica.generation, harness.database.reads

        for message in unreadable:
            await harness.publish(message)
        await harness.publish(sessions_revoked_message([revoked]))  # delivered after them all
        await eventually(lambda: replica.is_revoked(revoked) is True, "the readable event heard")

        assert replica.live
        # No reconnect and rebuild happened, and no garbage counted as a user change.
        assert (harness.database.reads, replica.generation) == (rebuilds, generation)


async def test_a_remembered_user_expires_after_user_ttl_seconds() -> None:
    ttl = 0.3
    async with replica_of(user_ttl_seconds=ttl) as harness:
        replica = (await live(harness)).replica
        user = a_user()
        remembered_at = time.monotonic()
        replica.remember_user(user, replica.generation)
        assert replica.user(user.id) == user

        await eventually(lambda: replica.user(user.id) is None, "the user copy expired")

        assert time.monotonic() - remembered_at >= ttl
        assert replica.live  # it was the expiry, not a lost subscription, that dropped it


async def test_a_reconnect_drops_the_users_remembered_before_it() -> None:
    async with replica_of() as harness:
        replica = (await live(harness)).replica
        user = a_user()
        replica.remember_user(user, replica.generation)
        assert replica.user(user.id) == user

        harness.disconnect_redis()  # changes announced now are never heard here
        await eventually(lambda: not replica.live, "replica not live once Redis is gone")
        reads = harness.database.reads
        harness.reconnect_redis()
        await live(harness)

        assert replica.user(user.id) is None
        assert harness.database.reads == reads + 1  # polled again after subscribing again


async def test_the_rebuild_reads_the_database_only_once_redis_has_registered_the_subscription() -> (
    None
):
    """Otherwise a revocation committed after the rebuild's read, and announced before Redis
    registered the subscription, would never be heard, and its token accepted while live."""
    links: list[SlowSubscribeLink] = []

    def slow(redis: FakeAsyncRedis) -> SlowSubscribeLink:
        links.append(SlowSubscribeLink(redis))
        return links[-1]

    revoked = uuid.uuid4()
    async with replica_of(link=slow) as harness:
        (link,) = links
        await asyncio.wait_for(link.sent.wait(), WITHIN_SECONDS)  # SUBSCRIBE on its way

        # Another replica commits a revocation and announces it, before the SUBSCRIBE lands.
        harness.database.revoked.append((revoked, dt.datetime.now(dt.UTC)))
        await harness.publish(sessions_revoked_message([revoked]))
        link.deliver()
        replica = (await live(harness)).replica

        assert replica.is_revoked(revoked) is True
