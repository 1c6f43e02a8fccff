"""In-process copies of the revoked-session set and of recently read users.

Kept current by the Redis events channel: every replica hears every revocation and user change.
A replica trusts its copies only while it is *live*: subscribed, loaded from the database after
subscribing (so nothing committed before is missed and nothing published after is lost), and
hearing its own heartbeat (published every 0.5 s), which proves the channel still carries
messages. When not live, callers fall back to asking Redis or the database per call; after a
reconnect the copies are rebuilt.
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
HEARTBEAT_SECONDS = 0.5
LIVE_WINDOW_SECONDS = 2.0
_RECONNECT_MAX_SECONDS = 5.0


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
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._retention = retention
        self._recent = recent_revocations
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
        # Bumped by every user change heard and every rebuild: a read that began before a bump
        # must not fill the cache with what it read.
        self.generation = 0
        self._log = structlog.get_logger("userservice.replica")

    @property
    def live(self) -> bool:
        return self._loaded and time.monotonic() - self._heard_at < LIVE_WINDOW_SECONDS

    # -- what callers ask ----------------------------------------------------------------------

    def is_revoked(self, session_id: uuid.UUID) -> bool | None:
        """True or False while live; None when Redis or the database must be asked."""
        if session_id in self._revoked:
            return True  # a revocation heard is final, live or not
        return False if self.live else None

    def user(self, user_id: uuid.UUID) -> User | None:
        return self._users.get(user_id) if self.live else None

    def remember_user(self, user: User, generation: int) -> None:
        if self._caching_users and self.live and generation == self.generation:
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
        """Subscribes, rebuilds, listens; reconnects with backoff for as long as it runs."""
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
                await pubsub.aclose()  # type: ignore[no-untyped-call]

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
        since = dt.datetime.now(dt.UTC) - self._retention
        revoked = await self._recent(since)
        self.generation += 1
        self._users.clear()
        for session_id, _at in revoked:
            self._revoked[session_id] = True
        self._loaded = True
        self._log.info("replication live", revoked_sessions=len(revoked))

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
        # AttributeError: uuid.UUID(7) of a non-string id; RecursionError: json.loads of a
        # deeply nested payload. Neither may end the subscription (and cost every replica a
        # reconnect and a rebuild).
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            self._log.warning("unreadable event ignored")
