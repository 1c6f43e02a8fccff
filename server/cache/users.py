"""Read-through user cache in Redis. Redis trouble is a cache miss, never an error."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import structlog

from server.cache.client import REDIS_ERRORS, Redis
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
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._log = structlog.get_logger("userservice.cache")

    async def get(self, user_id: uuid.UUID) -> User | None:
        try:
            raw = await self._redis.get(self._keys.user(user_id))
        except REDIS_ERRORS as exc:
            self._log.warning("user cache unavailable", error=type(exc).__name__)
            return None
        return None if raw is None else decode_user(raw)

    async def put(self, user: User) -> None:
        try:
            await self._redis.set(self._keys.user(user.id), encode_user(user), ex=_TTL_SECONDS)
        except REDIS_ERRORS as exc:
            self._log.warning("user cache unavailable", error=type(exc).__name__)

    async def invalidate(self, user_id: uuid.UUID) -> None:
        try:
            await self._redis.delete(self._keys.user(user_id))
        except REDIS_ERRORS as exc:
            self._log.warning("user cache unavailable", error=type(exc).__name__)
