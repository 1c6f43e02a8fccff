"""One-time codes table access: stored by HMAC, consumed by compare-and-set."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain import CodePurpose, OneTimeCode
from server.repositories.models import OneTimeCodeRow


def _code(row: OneTimeCodeRow) -> OneTimeCode:
    return OneTimeCode(
        code_hash=row.code_hash,
        purpose=CodePurpose(row.purpose),
        user_id=row.user_id,
        email=row.email,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


class OneTimeCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, code: OneTimeCode) -> None:
        self._session.add(
            OneTimeCodeRow(
                code_hash=code.code_hash,
                purpose=code.purpose.value,
                user_id=code.user_id,
                email=code.email,
                created_at=code.created_at,
                expires_at=code.expires_at,
                used_at=code.used_at,
            )
        )
        await self._session.flush()

    async def find(
        self, code_hash: bytes, purpose: CodePurpose, now: dt.datetime
    ) -> OneTimeCode | None:
        row = await self._session.scalar(
            select(OneTimeCodeRow).where(
                OneTimeCodeRow.code_hash == code_hash,
                OneTimeCodeRow.purpose == purpose.value,
                OneTimeCodeRow.used_at.is_(None),
                OneTimeCodeRow.expires_at > now,
            )
        )
        return None if row is None else _code(row)

    async def consume(
        self, code_hash: bytes, purpose: CodePurpose, now: dt.datetime
    ) -> OneTimeCode | None:
        # One UPDATE decides: of two transactions consuming the same code, the second waits on
        # the row and then matches nothing (PostgreSQL re-checks the WHERE after the wait).
        result = await self._session.execute(
            update(OneTimeCodeRow)
            .where(
                OneTimeCodeRow.code_hash == code_hash,
                OneTimeCodeRow.purpose == purpose.value,
                OneTimeCodeRow.used_at.is_(None),
                OneTimeCodeRow.expires_at > now,
            )
            .values(used_at=now)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        row = await self._session.scalar(
            select(OneTimeCodeRow).where(OneTimeCodeRow.code_hash == code_hash)
        )
        return None if row is None else _code(row)

    async def void_all(self, user_id: uuid.UUID, purpose: CodePurpose, now: dt.datetime) -> None:
        await self._session.execute(
            update(OneTimeCodeRow)
            .where(
                OneTimeCodeRow.user_id == user_id,
                OneTimeCodeRow.purpose == purpose.value,
                OneTimeCodeRow.used_at.is_(None),
            )
            .values(used_at=now)
        )

    async def purge_expired(self, before: dt.datetime, *, limit: int) -> int:
        doomed = (
            select(OneTimeCodeRow.code_hash)
            .where(OneTimeCodeRow.expires_at < before)
            .limit(limit)
            .scalar_subquery()
        )
        result = await self._session.execute(
            delete(OneTimeCodeRow).where(OneTimeCodeRow.code_hash.in_(doomed))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
