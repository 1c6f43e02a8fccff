"""Every Redis key and channel name, in one place, under the configured prefix."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str

    def user(self, user_id: uuid.UUID) -> str:
        return f"{self.prefix}user:{user_id}"

    def user_floor(self, user_id: uuid.UUID) -> str:
        """The least version a cache write of the user may store (a tombstone left by a change)."""
        return f"{self.prefix}user-floor:{user_id}"

    def revoked_session(self, session_id: uuid.UUID) -> str:
        return f"{self.prefix}revoked:{session_id}"

    @property
    def revocations_loaded(self) -> str:
        """Present while Redis holds every recent revocation (absent after a flush or restart)."""
        return f"{self.prefix}revoked:loaded"

    @property
    def events(self) -> str:
        return f"{self.prefix}events"

    def rate_limit(self, bucket: str, subject: str) -> str:
        return f"{self.prefix}rl:{bucket}:{subject}"
