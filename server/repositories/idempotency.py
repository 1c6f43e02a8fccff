"""Idempotency records: the first answer to a request that carried a request_id."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from server.repositories.models import IdempotencyRecord


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, operation: str, caller: str, request_id: str) -> IdempotencyRecord | None:
        return await self._session.get(IdempotencyRecord, (operation, caller, request_id))

    async def purge_expired(self, now: dt.datetime) -> int:
        result = await self._session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def add(
        self,
        *,
        operation: str,
        caller: str,
        request_id: str,
        request_hash: bytes,
        response: bytes,
        now: dt.datetime,
        ttl: dt.timedelta,
    ) -> None:
        self._session.add(
            IdempotencyRecord(
                operation=operation,
                caller=caller,
                request_id=request_id,
                request_hash=request_hash,
                response=response,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        await self._session.flush()
