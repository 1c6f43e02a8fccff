"""Read-through user cache in Redis. Redis trouble is a cache miss, never an error."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from typing import Any

from server.cache.client import Redis
from server.cache.guard import RedisGuard, RedisUnavailable
from server.cache.keys import RedisKeys
from server.domain import Role, User, UserState

_TTL_SECONDS = 300


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
    def __init__(self, redis: Redis, keys: RedisKeys, guard: RedisGuard) -> None:
        self._redis = redis
        self._keys = keys
        self._guard = guard

    async def get(self, user_id: uuid.UUID) -> User | None:
        try:
            raw = await self._guard.call(lambda: self._redis.get(self._keys.user(user_id)))
        except RedisUnavailable:
            return None
        return None if raw is None else decode_user(raw)

    async def put(self, user: User) -> None:
        key, value = self._keys.user(user.id), encode_user(user)
        with contextlib.suppress(RedisUnavailable):
            await self._guard.call(lambda: self._redis.set(key, value, ex=_TTL_SECONDS))

    async def invalidate(self, user_id: uuid.UUID) -> bool:
        """False when Redis could not be told (the entry then lives out its short TTL)."""
        try:
            await self._guard.call(lambda: self._redis.delete(self._keys.user(user_id)))
        except RedisUnavailable:
            return False
        return True
