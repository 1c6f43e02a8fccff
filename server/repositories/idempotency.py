"""Idempotency records: the first answer to a request that carried a request_id."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain import IdempotencyRecord
from server.repositories.conflicts import request_already_recorded
from server.repositories.models import IdempotencyRow


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, operation: str, caller: str, request_id: str) -> IdempotencyRecord | None:
        row = await self._session.get(IdempotencyRow, (operation, caller, request_id))
        if row is None:
            return None
        return IdempotencyRecord(
            operation=row.operation,
            caller=row.caller,
            request_id=row.request_id,
            request_hash=row.request_hash,
            response=row.response,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )

    async def add(self, record: IdempotencyRecord) -> None:
        self._session.add(
            IdempotencyRow(
                operation=record.operation,
                caller=record.caller,
                request_id=record.request_id,
                request_hash=record.request_hash,
                response=record.response,
                created_at=record.created_at,
                expires_at=record.expires_at,
            )
        )
        try:
            await self._session.flush()
        except IntegrityError:
            raise request_already_recorded() from None

    async def purge_expired(self, now: dt.datetime, *, limit: int) -> int:
        key = tuple_(IdempotencyRow.operation, IdempotencyRow.caller, IdempotencyRow.request_id)
        batch = (
            select(IdempotencyRow.operation, IdempotencyRow.caller, IdempotencyRow.request_id)
            .where(IdempotencyRow.expires_at < now)
            .limit(limit)
        )
        result = await self._session.execute(delete(IdempotencyRow).where(key.in_(batch)))
        return int(result.rowcount)  # type: ignore[attr-defined]
