"""In-process copies of the revoked-session set and of recently read users.

Two feeds keep them current (ARCHITECTURE.md, "Replication under faults"):

* the Redis events channel: every replica hears every revocation and user change within
  milliseconds. The replica is *live* while subscribed, polled after subscribing (so nothing
  committed before is missed and nothing published after is lost), and hearing its own
  heartbeat (published every 0.5 s), which proves the channel still carries messages;
* a database poll every `poll_seconds`, which needs no Redis: it re-reads the revocations of the
  last `POLL_OVERLAP` before the previous poll began (transactions still committing, clock skew)
  into the revoked set. The replica is *poll-fresh* while its last successful poll began within
  `fresh_window` (one interval plus a margin). A revocation acknowledged `fresh_window` after
  its commit is therefore in the set of every poll-fresh replica. The same poll reads the users
  changed in that window (from the event log) with their versions now, and keeps each as the
  user's *floor*: no copy of an older version is served, from this process or from Redis.

A revoked session in the set is final. "Not revoked" is answered locally only while live and
poll-fresh; otherwise the caller asks Redis (only while poll-fresh) or the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import structlog
from cachetools import TTLCache
from redis.asyncio.client import PubSub

from server.cache.client import REDIS_ERRORS, Redis
from server.cache.keys import RedisKeys
from server.domain import User

RecentRevocations = Callable[[dt.datetime], Awaitable[Sequence[tuple[uuid.UUID, dt.datetime]]]]
# Users changed since a time, each with its version now (None: deleted).
RecentUserChanges = Callable[[dt.datetime], Awaitable[Sequence[tuple[uuid.UUID, int | None]]]]
# The floor of a deleted user: above any version a user reaches.
DELETED_FLOOR = 10**15
HEARTBEAT_SECONDS = 0.5
LIVE_WINDOW_SECONDS = 2.0
_RECONNECT_MAX_SECONDS = 5.0
# Each poll re-reads this far back before the previous poll began: longer than a transaction can
# take to commit (its statements are bounded by the database timeout) plus the clock skew between
# replicas (revoked_at is the revoking replica's clock).
POLL_OVERLAP = dt.timedelta(seconds=30)
# A poll may take this long beyond its interval before the replica stops being poll-fresh.
POLL_MARGIN_SECONDS = 0.5


def sessions_revoked_message(ids: Iterable[uuid.UUID]) -> str:
    return json.dumps({"type": "sessions_revoked", "ids": [str(i) for i in ids]})


def user_changed_message(user_id: uuid.UUID) -> str:
    return json.dumps({"type": "user_changed", "id": str(user_id)})


class LocalReplica:
    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        *,
        retention: dt.timedelta,
        recent_revocations: RecentRevocations,
        max_users: int,
        user_ttl_seconds: float,
        poll_seconds: float = 1.0,
        events_appended: Callable[[], None] = lambda: None,
        recent_user_changes: RecentUserChanges | None = None,
        user_floor_seconds: float = 330.0,
    ) -> None:
        self._redis = redis
        self._events_appended = events_appended
        self._keys = keys
        self._retention = retention
        self._recent = recent_revocations
        self._recent_users = recent_user_changes
        # The least version of a user any cached copy may have, learned by the poll from the
        # database: kept longer than Redis keeps an entry, so no stale copy outlives its floor.
        self._user_floors: TTLCache[uuid.UUID, int] = TTLCache(
            maxsize=1_000_000, ttl=user_floor_seconds
        )
        self._revoked: TTLCache[uuid.UUID, bool] = TTLCache(
            maxsize=1_000_000, ttl=retention.total_seconds()
        )
        self._users: TTLCache[uuid.UUID, User] = TTLCache(
            maxsize=max(1, max_users), ttl=user_ttl_seconds
        )
        self._caching_users = max_users > 0
        self._instance = uuid.uuid4().hex
        self._loaded = False
        self._heard_at = 0.0
        self._poll_seconds = poll_seconds
        self.fresh_window = poll_seconds + POLL_MARGIN_SECONDS
        # Monotonic start of the latest successful poll (0: none yet) and of the subscription
        # Redis last confirmed; the wall-clock start of the latest poll bounds the next query.
        self._polled_at = 0.0
        self._subscribed_at = 0.0
        self._polled_since: dt.datetime | None = None
        # Bumped by every user change heard and every rebuild: a read that began before a bump
        # must not fill the cache with what it read.
        self.generation = 0
        self._log = structlog.get_logger("userservice.replica")

    @property
    def live(self) -> bool:
        """Subscribed, polled since, and hearing its own heartbeat: the channel carries news."""
        return self._loaded and time.monotonic() - self._heard_at < LIVE_WINDOW_SECONDS

    @property
    def poll_fresh(self) -> bool:
        """The latest successful database poll began within `fresh_window`."""
        return self._polled_at > 0 and time.monotonic() - self._polled_at < self.fresh_window

    # -- what callers ask ----------------------------------------------------------------------

    def is_revoked(self, session_id: uuid.UUID) -> bool | None:
        """True or False while live and poll-fresh; None when Redis or the database must say."""
        if session_id in self._revoked:
            return True  # a revocation heard or polled is final, live or not
        trusted = self.live and self._polled_at >= self._subscribed_at and self.poll_fresh
        return False if trusted else None

    def user(self, user_id: uuid.UUID) -> User | None:
        """This replica's copy, while it is live (changes carried by Redis reached it) and
        poll-fresh (changes Redis could not carry were acknowledged after its latest poll)."""
        if not (self.live and self.poll_fresh):
            return None
        user = self._users.get(user_id)
        if user is not None and user.version < self.user_floor(user_id):
            self._users.pop(user_id, None)
            return None
        return user

    def user_floor(self, user_id: uuid.UUID) -> int:
        """No copy of an older version than this may be served (0: no change polled)."""
        return self._user_floors.get(user_id, 0)

    def remember_user(self, user: User, generation: int) -> None:
        if (
            self._caching_users
            and self.live
            and generation == self.generation
            and user.version >= self.user_floor(user.id)
        ):
            self._users[user.id] = user

    def revoked_here(self, session_ids: Iterable[uuid.UUID]) -> None:
        """A revocation made by this replica: honoured here at once, whatever Redis does."""
        for session_id in session_ids:
            self._revoked[session_id] = True

    def changed_here(self, user_id: uuid.UUID) -> None:
        self.generation += 1
        self._users.pop(user_id, None)

    # -- the subscription ----------------------------------------------------------------------

    async def run(self) -> None:
        """Polls the database and listens to Redis, each on its own, for as long as it runs."""
        poller = asyncio.create_task(self._poll_periodically(), name="revocations-poll")
        try:
            await self._subscribe()
        finally:
            # Not a TaskGroup: on Python 3.11 a cancel swallowed by a timeout inside the poll
            # would leave it waiting for ever; this cancels until the poll has ended, even while
            # this task is being cancelled again by its owner.
            while not poller.done():
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({poller}, timeout=0.1)

    async def _poll_periodically(self) -> None:
        """One poll every `poll_seconds`, start to start; Redis plays no part."""
        while True:
            started = time.monotonic()
            with contextlib.suppress(Exception):  # logged in poll(); the next one retries
                await self.poll()
            await asyncio.sleep(max(0.0, started + self._poll_seconds - time.monotonic()))

    async def poll(self) -> None:
        """Reads the revocations since the previous poll (the whole retention window at first).

        The start is taken before the query, so the query's snapshot is later than it: once
        this returns, every revocation committed before `started` is in the set.
        """
        started, started_wall = time.monotonic(), dt.datetime.now(dt.UTC)
        since = self._polled_since or started_wall - self._retention
        try:
            revoked = await self._recent(since)
        except Exception as exc:
            if self._polled_at and not self.poll_fresh:
                self._log.warning("revocations poll failed", error=type(exc).__name__)
            raise
        for session_id, _at in revoked:
            self._revoked[session_id] = True
        if self._recent_users is not None:
            for user_id, version in await self._recent_users(since):
                floor = DELETED_FLOOR if version is None else version
                self._user_floors[user_id] = max(floor, self.user_floor(user_id))
        if started > self._polled_at:
            self._polled_at = started
            self._polled_since = started_wall - POLL_OVERLAP

    async def _subscribe(self) -> None:
        """Subscribes, polls, listens; reconnects with backoff for as long as it runs."""
        delay = HEARTBEAT_SECONDS
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis or the database failed: reconnect
                if self._loaded:
                    # It was live: a fresh outage starts again from the shortest wait.
                    self._log.warning("replication paused", error=type(exc).__name__)
                    delay = HEARTBEAT_SECONDS
                self._loaded = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_MAX_SECONDS)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        heartbeat = json.dumps({"type": "heartbeat", "from": self._instance})
        try:
            await pubsub.subscribe(self._keys.events)
            await self._subscription_confirmed(pubsub)
            await self._rebuild()
            beat_at = 0.0
            while True:
                if time.monotonic() >= beat_at:
                    await self._redis.publish(self._keys.events, heartbeat)
                    beat_at = time.monotonic() + HEARTBEAT_SECONDS
                wait = max(0.01, beat_at - time.monotonic())
                message = await pubsub.get_message(timeout=wait)
                if message is not None and message.get("type") == "message":
                    self._apply(message.get("data"))
        finally:
            with contextlib.suppress(*REDIS_ERRORS):
                await pubsub.aclose()

    @staticmethod
    async def _subscription_confirmed(pubsub: PubSub) -> None:
        """`subscribe` returns once SUBSCRIBE is sent, and Redis may run other clients' PUBLISHes
        before it: rebuilding then could miss an event committed after the read. Once Redis has
        replied, every later event reaches this replica."""
        async with asyncio.timeout(LIVE_WINDOW_SECONDS):
            while True:
                message = await pubsub.get_message(timeout=LIVE_WINDOW_SECONDS)
                if message is not None and message.get("type") == "subscribe":
                    return

    async def _rebuild(self) -> None:
        """After Redis confirmed the subscription: a poll that began after it, and no user kept
        from before it (changes announced while unsubscribed were not heard)."""
        self._subscribed_at = time.monotonic()
        await self.poll()
        self.generation += 1
        self._users.clear()
        self._loaded = True
        self._log.info("replication live", revoked_sessions=len(self._revoked))

    def _apply(self, raw: Any) -> None:
        try:
            event = json.loads(raw)
            kind = event["type"]
            if kind == "heartbeat":
                if event.get("from") == self._instance:
                    self._heard_at = time.monotonic()
            elif kind == "sessions_revoked":
                self.revoked_here(uuid.UUID(i) for i in event["ids"])
            elif kind == "user_changed":
                self.changed_here(uuid.UUID(event["id"]))
            elif kind == "events_appended":
                self._events_appended()  # wakes this process's event watchers
        # AttributeError: uuid.UUID(7) of a non-string id; RecursionError: json.loads of a
        # deeply nested payload. Neither may end the subscription (and cost every replica a
        # reconnect and a rebuild).
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            self._log.warning("unreadable event ignored")
