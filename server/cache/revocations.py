"""Revoked sessions, replicated through Redis so every replica refuses their tokens at once.

PostgreSQL is the truth (sessions.revoked_at). Redis holds `revoked:<sid>` for as long as any
access token of that session can live, and a `revoked:loaded` marker saying it holds all of them.
`is_revoked` answers None ("ask the database") whenever Redis cannot vouch: unreachable, or the
marker gone (Redis restarted or was flushed). A revocation that could not reach Redis, or a
missing marker, triggers a resynchronisation from the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextvars import Context

import structlog

from server.cache.client import REDIS_ERRORS, Redis
from server.cache.guard import RedisGuard, RedisUnavailable
from server.cache.keys import RedisKeys
from server.cache.replica import LocalReplica, sessions_revoked_message
from server.tasks import cancel_and_wait

# While a resync keeps failing (Redis or the database down), it is retried with backoff.
_RETRY_FIRST_SECONDS = 0.25
_RETRY_MAX_SECONDS = 5.0

RecentRevocations = Callable[[dt.datetime], Awaitable[Sequence[tuple[uuid.UUID, dt.datetime]]]]


class RevocationStore:
    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        guard: RedisGuard,
        replica: LocalReplica,
        *,
        retention: dt.timedelta,
        recent_revocations: RecentRevocations,
    ) -> None:
        self._replica = replica
        self._redis = redis
        self._keys = keys
        self._guard = guard
        self._retention = retention
        self._recent = recent_revocations
        self._log = structlog.get_logger("userservice.revocations")
        self._resync: asyncio.Task[None] | None = None
        # Counts revocations that failed to reach Redis; a resync that began after the latest
        # failure makes Redis trustworthy again.
        self._failures = 0
        self._failures_resynced = 0

    async def announce(self, session_ids: Iterable[uuid.UUID]) -> None:
        """After the database commit: record in Redis and tell every replica."""
        ids = list(session_ids)
        if not ids:
            return
        self._replica.revoked_here(ids)
        seconds = int(self._retention.total_seconds())
        message = sessions_revoked_message(ids)

        async def record() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                for session_id in ids:
                    pipe.set(self._keys.revoked_session(session_id), b"1", ex=seconds)
                pipe.publish(self._keys.events, message)
                await pipe.execute()

        try:
            await self._guard.call(record)
        except RedisUnavailable:
            self._log.warning("revocation not replicated yet; will resynchronise")
            self._failures += 1
            self.schedule_resync()

    async def is_revoked(self, session_id: uuid.UUID) -> bool | None:
        """True or False when this replica or Redis can vouch; None when the database must say."""
        local = self._replica.is_revoked(session_id)
        if local is not None:
            return local  # no round trip: the replicated set is current
        keys = (self._keys.revocations_loaded, self._keys.revoked_session(session_id))
        try:
            loaded, revoked = await self._guard.call(lambda: self._redis.mget(keys))
        except RedisUnavailable:
            self.schedule_resync()
            return None
        if loaded is None or self._failures != self._failures_resynced:
            self.schedule_resync()
            return None
        return revoked is not None

    def schedule_resync(self) -> None:
        if self._resync is None or self._resync.done():
            # A fresh context: the call that noticed the gap must not lend its deadline.
            self._resync = asyncio.create_task(
                self._resync_until_current(), name="revocations-resync", context=Context()
            )

    async def _resync_until_current(self) -> None:
        """Retries until Redis holds every revocation made here. Other replicas trust Redis
        while its marker is there, so a revocation that missed Redis must reach it once Redis
        answers again, whether or not this replica gets another call."""
        delay = _RETRY_FIRST_SECONDS
        while not await self.resync() or self._failures != self._failures_resynced:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_SECONDS)

    async def resync(self) -> bool:
        """Copies every revocation still relevant from the database into Redis, then the marker."""
        now = dt.datetime.now(dt.UTC)
        failures = self._failures
        try:
            revoked = await self._recent(now - self._retention)
            async with self._redis.pipeline(transaction=False) as pipe:
                for session_id, revoked_at in revoked:
                    left = int((revoked_at + self._retention - now).total_seconds())
                    if left > 0:
                        pipe.set(self._keys.revoked_session(session_id), b"1", ex=left)
                pipe.set(self._keys.revocations_loaded, b"1")
                # Live replicas learn from the channel, not from these keys: tell them too.
                ids = [session_id for session_id, _ in revoked]
                for start in range(0, len(ids), 1000):
                    pipe.publish(
                        self._keys.events, sessions_revoked_message(ids[start : start + 1000])
                    )
                await pipe.execute()
        except REDIS_ERRORS as exc:
            self._log.info("revocations resync postponed", error=type(exc).__name__)
            return False
        except Exception as exc:  # noqa: BLE001 - the database may be down too; retried later
            self._log.warning("revocations resync failed", error=type(exc).__name__)
            return False
        self._failures_resynced = failures
        self._log.info("revocations resynchronised", count=len(revoked))
        return True

    async def close(self) -> None:
        await cancel_and_wait(self._resync)
