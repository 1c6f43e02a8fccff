"""The in-memory one-time codes: the twin of server/repositories/codes.py over one MemoryState."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from server.domain import CodePurpose, OneTimeCode
from tests.support.memory_repositories.state import MemoryState


class MemoryCodes:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(self, code: OneTimeCode) -> None:
        self._state.codes[code.code_hash] = code

    async def find(
        self, code_hash: bytes, purpose: CodePurpose, now: dt.datetime
    ) -> OneTimeCode | None:
        code = self._state.codes.get(code_hash)
        usable = code is not None and code.purpose is purpose and code.used_at is None
        return code if usable and code is not None and code.expires_at > now else None

    async def consume(
        self, code_hash: bytes, purpose: CodePurpose, now: dt.datetime
    ) -> OneTimeCode | None:
        code = self._state.codes.get(code_hash)
        if code is None or code.purpose is not purpose or code.used_at is not None:
            return None
        if code.expires_at <= now:
            return None
        used = dataclasses.replace(code, used_at=now)
        self._state.codes[code_hash] = used
        return used

    async def void_all(self, user_id: uuid.UUID, purpose: CodePurpose, now: dt.datetime) -> None:
        for code in list(self._state.codes.values()):
            if code.user_id == user_id and code.purpose is purpose and code.used_at is None:
                self._state.codes[code.code_hash] = dataclasses.replace(code, used_at=now)

    async def purge_expired(self, before: dt.datetime, *, limit: int) -> int:
        doomed = [c.code_hash for c in self._state.codes.values() if c.expires_at < before][:limit]
        for code_hash in doomed:
            del self._state.codes[code_hash]
        return len(doomed)
