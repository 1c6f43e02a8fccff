"""A LocalReplica under test: an in-process Redis (fakeredis) that a test can disconnect or slow
down, and a stand-in for the database query that lists recent revocations. Events reach the
replica the only way they reach it in production: published on the events channel."""

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
from server.cache.replica import LocalReplica
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
