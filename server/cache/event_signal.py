"""Wakes this process's event watchers when events were committed.

Events this process committed wake its watchers at once, and one message on the Redis events
channel (`events_appended`, coalesced: one publish in flight, at most one more queued) tells
the other replicas, whose `LocalReplica` calls `wake`. Redis is only the fast path: watchers
also re-read the database every poll interval, so a lost message (Redis down, a replica not
subscribed yet) delays an event by at most that interval and never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
from typing import Final

from server.cache.client import Redis
from server.cache.guard import RedisGuard, RedisUnavailable
from server.cache.keys import RedisKeys

EVENTS_APPENDED_MESSAGE: Final = json.dumps({"type": "events_appended"})


class EventSignal:
    def __init__(self, redis: Redis, keys: RedisKeys, guard: RedisGuard) -> None:
        self._redis = redis
        self._keys = keys
        self._guard = guard
        self._wake = asyncio.Event()
        self._publishing: asyncio.Task[None] | None = None
        self._queued = False
        self.closed = False

    def next_wake(self) -> asyncio.Event:
        """Set by the next `wake`: take it before reading, then wait on it, and no wake between
        the read and the wait is lost."""
        return self._wake

    def wake(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    def committed(self) -> None:
        """This process committed events: wake its watchers, and tell the other replicas."""
        self.wake()
        self._queued = True
        if self._publishing is None or self._publishing.done():
            # A context of its own: the committing call's deadline must not bound the publish.
            self._publishing = asyncio.create_task(
                self._publish(), name="events-appended", context=contextvars.Context()
            )

    async def _publish(self) -> None:
        while self._queued:
            self._queued = False
            with contextlib.suppress(RedisUnavailable):  # the watchers' poll covers it
                await self._guard.call(
                    lambda: self._redis.publish(self._keys.events, EVENTS_APPENDED_MESSAGE)
                )

    async def close(self) -> None:
        """Shutting down: watchers end their streams (their clients resume elsewhere)."""
        self.closed = True
        self.wake()
        if self._publishing is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._publishing
