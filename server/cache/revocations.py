"""Revoked sessions, replicated so that no replica accepts a revoked token once it is acknowledged.

PostgreSQL is the truth (sessions.revoked_at). Redis holds `revoked:<sid>` for as long as any
access token of that session can live, and a `revoked:loaded` marker saying it holds all of them;
the events channel tells every live replica at once; and every replica polls the database
(LocalReplica.poll) so that its copy is complete up to a second or so ago, with or without Redis.

`announce` (after the commit) returns once the revocation is in Redis and published. When Redis
cannot take it, it returns only after the replica's `fresh_window` has passed since the commit:
by then every poll-fresh replica has polled after the commit and holds it. `is_revoked`:

1. in this replica's set: revoked;
2. live and poll-fresh: not revoked (a revocation in Redis was published to this replica, one
   that missed Redis was acknowledged only after this replica's latest poll began);
3. poll-fresh, and Redis answers with its marker: Redis's word (what missed Redis is in the set);
4. otherwise None: the database decides.

So a Redis pause, restart or flush, or a replica not yet resubscribed, costs database reads,
never a revoked token accepted (ARCHITECTURE.md, "Replication under faults").
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextvars import Context

import structlog

from server.cache.client import REDIS_ERRORS, Redis
from server.cache.guard import RedisGuard, RedisUnavailable
from server.cache.keys import RedisKeys
from server.cache.replica import LocalReplica, sessions_revoked_message
from server.domain import RevokeReason
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
        # For operators (exported as metrics): checks the database had to answer, and
        # acknowledgements that waited for every replica's poll because Redis was unreachable.
        self.database_checks = 0
        self.backstop_waits = 0
        self.revoked: collections.Counter[str] = collections.Counter()  # sessions, by reason

    async def announce(self, session_ids: Iterable[uuid.UUID], *, reason: RevokeReason) -> None:
        """After the database commit: record in Redis and tell every replica; or, when Redis
        cannot take it, wait until every poll-fresh replica has read it from the database."""
        committed_by = time.monotonic()
        ids = list(session_ids)
        if not ids:
            return
        self.revoked[reason.value] += len(ids)
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
            self._log.warning("revocation not replicated yet; waiting for the database poll")
            self._failures += 1
            self.backstop_waits += 1
            self.schedule_resync()
            # Every replica polls at the same interval (a shared setting): a replica whose
            # latest poll began within `fresh_window` of now has read this commit.
            wait = committed_by + self._replica.fresh_window - time.monotonic()
            await asyncio.sleep(max(0.0, wait))

    async def is_revoked(self, session_id: uuid.UUID) -> bool | None:
        """True or False when this replica or Redis can vouch; None when the database must say."""
        local = self._replica.is_revoked(session_id)
        if local is not None:
            return local  # no round trip: the replicated set is current
        # Taken with the local answer, before any await: what this replica had polled by now.
        if not self._replica.poll_fresh:
            # A revocation that missed Redis may be missing from this replica's set too.
            self.database_checks += 1
            return None
        keys = (self._keys.revocations_loaded, self._keys.revoked_session(session_id))
        try:
            loaded, revoked = await self._guard.call(lambda: self._redis.mget(keys))
        except RedisUnavailable:
            self.schedule_resync()
            self.database_checks += 1
            return None
        if loaded is None or self._failures != self._failures_resynced:
            self.schedule_resync()
            self.database_checks += 1
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
