"""Read-through user cache: this replica's copy first, then Redis. Redis trouble is a cache miss,
never an error, and never a stale read: an entry a change could not delete is not read again until
it is deleted. Every change is announced on the events channel, so every replica drops its copy."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import uuid
from contextvars import Context
from typing import Any

from server.cache.client import Redis
from server.cache.guard import RedisGuard, RedisUnavailable
from server.cache.keys import RedisKeys
from server.cache.replica import LocalReplica, user_changed_message
from server.domain import Role, User, UserState
from server.tasks import cancel_and_wait

_TTL_SECONDS = 300
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
        self, redis: Redis, keys: RedisKeys, guard: RedisGuard, replica: LocalReplica
    ) -> None:
        self._replica = replica
        self._redis = redis
        self._keys = keys
        self._guard = guard
        # Users changed while Redis could not be told. A hung or partitioned Redis keeps its
        # data, so their old entries must go before anyone reads them from Redis again.
        self._undeleted: set[uuid.UUID] = set()
        self._retry: asyncio.Task[None] | None = None

    @property
    def generation(self) -> int:
        """Take before reading a user elsewhere; pass to `put` so a change in between wins."""
        return self._replica.generation

    async def get(self, user_id: uuid.UUID) -> User | None:
        local = self._replica.user(user_id)
        if local is not None:
            return local
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
        self._replica.remember_user(user, generation)
        return user

    async def put(self, user: User, *, generation: int) -> None:
        if user.id in self._undeleted:
            return
        self._replica.remember_user(user, generation)
        key, value = self._keys.user(user.id), encode_user(user)
        with contextlib.suppress(RedisUnavailable):
            await self._guard.call(lambda: self._redis.set(key, value, ex=_TTL_SECONDS))

    async def invalidate(self, user_id: uuid.UUID) -> bool:
        """False when Redis could not be told; the delete is then retried until it is."""
        self._replica.changed_here(user_id)

        async def delete_and_announce() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.delete(self._keys.user(user_id))
                pipe.publish(self._keys.events, user_changed_message(user_id))
                await pipe.execute()

        try:
            await self._guard.call(delete_and_announce)
        except RedisUnavailable:
            self._undeleted.add(user_id)
            if self._retry is None or self._retry.done():
                self._retry = asyncio.create_task(
                    self._retry_deletes(), name="user-cache-retry", context=Context()
                )
            return False
        return True

    async def _delete_undeleted(self) -> bool:
        ids = list(self._undeleted)

        async def delete_and_announce() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.delete(*(self._keys.user(user_id) for user_id in ids))
                for user_id in ids:
                    pipe.publish(self._keys.events, user_changed_message(user_id))
                await pipe.execute()

        try:
            await self._guard.call(delete_and_announce)
        except RedisUnavailable:
            return False
        self._undeleted.difference_update(ids)
        return True

    async def _retry_deletes(self) -> None:
        delay = _RETRY_FIRST_SECONDS
        while self._undeleted:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX_SECONDS)
            await self._delete_undeleted()

    async def close(self) -> None:
        await cancel_and_wait(self._retry)
