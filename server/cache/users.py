"""Read-through user cache: this replica's copy first, then Redis. Redis trouble is a cache miss,
never an error, and never a stale read.

Writes to Redis are versioned, so a miss that read version v never overwrites a newer version
or brings back a deleted user, whatever order the writes reach Redis in: a change leaves a floor
(`user-floor:<id>`, a tombstone kept as long as entries) holding the least version a later write
may store, and deletes the entry; a write stores its user only when its version reaches the floor
and exceeds the stored entry's (one Lua script, so the check and the write are atomic). A change
Redis could not be told about is retried until it is, and this replica reads no Redis entry of
that user meanwhile. Every change is announced on the events channel (by the same script), so
every replica drops its own copy; the in-process copy keeps its generation guard.

Redis may miss a change (paused, partitioned): the change is then acknowledged only after the
replicas' poll window, and every replica's database poll learns each changed user's version as a
floor (`LocalReplica.user_floor`): an older copy, in this process or in Redis, is never served,
and a replica whose poll is late serves no cached copy at all (ARCHITECTURE.md, "User cache").
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
import uuid
from contextvars import Context
from typing import Any

from server.cache.client import Redis
from server.cache.guard import RedisGuard, RedisUnavailable
from server.cache.keys import RedisKeys
from server.cache.replica import LocalReplica, user_changed_message
from server.domain import Role, User, UserState
from server.tasks import cancel_and_wait

DEFAULT_TTL_SECONDS = 300
# The floor of a deleted user, or of a change whose new version the caller did not give: above
# any version a user reaches, and exact in Lua's doubles.
_FLOOR_ABOVE_ALL = 10**15

# KEYS: entry, floor. ARGV: version, encoded user, ttl seconds. 1 when written.
_PUT_SCRIPT = """
local floor = redis.call('GET', KEYS[2])
local version = tonumber(ARGV[1])
if floor and version < tonumber(floor) then return 0 end
local stored = redis.call('GET', KEYS[1])
if stored then
  local ok, entry = pcall(cjson.decode, stored)
  if ok and type(entry) == 'table' then
    local held = tonumber(entry['version'])
    if held and held >= version then return 0 end
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

# KEYS: entry, floor. ARGV: floor version, ttl seconds, channel, message. The floor only rises.
_CHANGED_SCRIPT = """
local floor = redis.call('GET', KEYS[2])
if not floor or tonumber(floor) < tonumber(ARGV[1]) then floor = ARGV[1] end
redis.call('SET', KEYS[2], floor, 'EX', ARGV[2])
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""
_RETRY_FIRST_SECONDS = 0.25
_RETRY_MAX_SECONDS = 5.0


def encode_user(user: User) -> bytes:
    return json.dumps(
        {
            "id": str(user.id),
            "email": user.email,
            "display_name": user.display_name,
            "role": user.role.value,
            "state": user.state.value,
            "email_verified": user.email_verified,
            "created_at": user.created_at.isoformat(),
            "updated_at": user.updated_at.isoformat(),
            "version": user.version,
        },
        separators=(",", ":"),
    ).encode()


def decode_user(raw: bytes | str) -> User:
    data: dict[str, Any] = json.loads(raw)
    return User(
        id=uuid.UUID(data["id"]),
        email=data["email"],
        display_name=data["display_name"],
        role=Role(data["role"]),
        state=UserState(data["state"]),
        email_verified=bool(data["email_verified"]),
        created_at=dt.datetime.fromisoformat(data["created_at"]),
        updated_at=dt.datetime.fromisoformat(data["updated_at"]),
        version=int(data["version"]),
    )


class UserCache:
    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        guard: RedisGuard,
        replica: LocalReplica,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        self._replica = replica
        self._redis = redis
        self._keys = keys
        self._guard = guard
        self._ttl = ttl_seconds
        # Registered once: each call sends the script's digest (EVALSHA); redis-py loads the
        # script again when a restarted Redis no longer knows it.
        self._put_script = redis.register_script(_PUT_SCRIPT)
        self._changed_script = redis.register_script(_CHANGED_SCRIPT)
        # Changes Redis could not be told about, with their floors. A hung or partitioned Redis
        # keeps its data, so the floor must reach it before anyone reads the user there again.
        self._undeleted: dict[uuid.UUID, int] = {}
        # Changes acknowledged only after the poll window because Redis could not take them.
        self.backstop_waits = 0
        self._retry: asyncio.Task[None] | None = None

    @property
    def generation(self) -> int:
        """Take before reading a user elsewhere; pass to `put` so a change in between wins."""
        return self._replica.generation

    async def get(self, user_id: uuid.UUID) -> User | None:
        local = self._replica.user(user_id)
        if local is not None:
            return local
        if not self._replica.poll_fresh:
            return None  # a change Redis missed may be unknown here: the database decides
        if user_id in self._undeleted and not await self._delete_undeleted():
            return None
        generation = self._replica.generation
        try:
            raw = await self._guard.call(lambda: self._redis.get(self._keys.user(user_id)))
        except RedisUnavailable:
            return None
        if raw is None:
            return None
        user = decode_user(raw)
        if user.version < self._replica.user_floor(user_id):
            return None  # written before a change that Redis never heard of
        self._replica.remember_user(user, generation)
        return user

    async def put(self, user: User, *, generation: int) -> None:
        """Stores what a read found, unless a change since (here or anywhere) supersedes it."""
        if user.id in self._undeleted or user.version < self._replica.user_floor(user.id):
            return
        self._replica.remember_user(user, generation)
        keys = [self._keys.user(user.id), self._keys.user_floor(user.id)]
        args: list[bytes | int] = [user.version, encode_user(user), self._ttl]
        with contextlib.suppress(RedisUnavailable):
            await self._guard.call(lambda: self._put_script(keys=keys, args=args))

    async def invalidate(self, user_id: uuid.UUID, *, version: int | None = None) -> bool:
        """After a change committed `version` (None: deleted, or not known): no cache write of
        an older version lands afterwards, and every replica drops its copy.

        False when Redis could not be told; it is then retried until it is.
        """
        committed_by = time.monotonic()
        self._replica.changed_here(user_id)
        floor = _FLOOR_ABOVE_ALL if version is None else version
        try:
            await self._guard.call(lambda: self._changed(user_id, floor))
        except RedisUnavailable:
            self._undeleted[user_id] = max(floor, self._undeleted.get(user_id, 0))
            if self._retry is None or self._retry.done():
                self._retry = asyncio.create_task(
                    self._retry_deletes(), name="user-cache-retry", context=Context()
                )
            # Like a revocation Redis could not take: acknowledged once every poll-fresh replica
            # has polled since the commit, so each holds this change's floor.
            self.backstop_waits += 1
            wait = committed_by + self._replica.fresh_window - time.monotonic()
            await asyncio.sleep(max(0.0, wait))
            return False
        return True

    async def _changed(self, user_id: uuid.UUID, floor: int) -> None:
        await self._changed_script(
            keys=[self._keys.user(user_id), self._keys.user_floor(user_id)],
            args=[floor, self._ttl, self._keys.events, user_changed_message(user_id)],
        )

    async def _delete_undeleted(self) -> bool:
        pending = dict(self._undeleted)
        if not pending:
            return True  # nothing to send (DEL with no key would be a Redis error)

        async def tell_redis() -> None:
            for user_id, floor in pending.items():
                await self._changed(user_id, floor)

        try:
            await self._guard.call(tell_redis)
        except RedisUnavailable:
            return False
        for user_id, floor in pending.items():
            if self._undeleted.get(user_id) == floor:
                del self._undeleted[user_id]
        return True

    async def _retry_deletes(self) -> None:
        delay = _RETRY_FIRST_SECONDS
        while self._undeleted:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_SECONDS)
            await self._delete_undeleted()

    async def close(self) -> None:
        await cancel_and_wait(self._retry)
