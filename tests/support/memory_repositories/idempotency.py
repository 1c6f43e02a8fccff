"""The idempotency-records repository in memory."""

from __future__ import annotations

import datetime as dt

from server.domain import IdempotencyRecord
from server.repositories.conflicts import request_already_recorded
from tests.support.memory_repositories.state import MemoryState


class MemoryIdempotency:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def get(self, operation: str, caller: str, request_id: str) -> IdempotencyRecord | None:
        return self._state.idempotency.get((operation, caller, request_id))

    async def add(self, record: IdempotencyRecord) -> None:
        key = (record.operation, record.caller, record.request_id)
        if key in self._state.idempotency:
            raise request_already_recorded()
        self._state.idempotency[key] = record

    async def purge_expired(self, now: dt.datetime, *, limit: int) -> int:
        gone = [k for k, r in self._state.idempotency.items() if r.expires_at < now][:limit]
        for key in gone:
            del self._state.idempotency[key]
        return len(gone)
