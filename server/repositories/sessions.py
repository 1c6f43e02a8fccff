"""Sessions (refresh-token families) and their refresh tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain import SessionInfo
from server.repositories.ids import new_id
from server.repositories.models import RefreshTokenRow, SessionRow


def to_session_info(row: SessionRow) -> SessionInfo:
    assert row.user_id is not None  # listed sessions belong to a live user
    return SessionInfo(
        id=row.id,
        user_id=row.user_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        client_ip=row.client_ip,
        user_agent=row.user_agent,
    )


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def start(
        self,
        *,
        user_id: uuid.UUID,
        refresh_hash: bytes,
        now: dt.datetime,
        expires_at: dt.datetime,
        client_ip: str,
        user_agent: str,
    ) -> SessionRow:
        row = SessionRow(
            id=new_id(),
            user_id=user_id,
            created_at=now,
            last_used_at=now,
            expires_at=expires_at,
            revoked_at=None,
            revoke_reason=None,
            client_ip=client_ip,
            user_agent=user_agent,
        )
        self._session.add(row)
        await self._session.flush()
        self._session.add(
            RefreshTokenRow(
                token_hash=refresh_hash, session_id=row.id, issued_at=now, rotated_at=None
            )
        )
        await self._session.flush()
        return row

    async def live_page(
        self, user_id: uuid.UUID, *, now: dt.datetime, after: uuid.UUID | None, limit: int
    ) -> Sequence[SessionRow]:
        query = (
            select(SessionRow)
            .where(
                SessionRow.user_id == user_id,
                SessionRow.revoked_at.is_(None),
                SessionRow.expires_at > now,
            )
            .order_by(SessionRow.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(SessionRow.id > after)
        return list((await self._session.execute(query)).scalars())

    async def purge_expired(self, before: dt.datetime) -> int:
        """Deletes sessions that expired, or were revoked, before `before` (with their tokens)."""
        result = await self._session.execute(
            delete(SessionRow).where(
                (SessionRow.expires_at < before) | (SessionRow.revoked_at < before)
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def get(self, session_id: uuid.UUID) -> SessionRow | None:
        return await self._session.get(SessionRow, session_id)

    async def find_refresh_token(
        self, token_hash: bytes, *, for_update: bool
    ) -> tuple[RefreshTokenRow, SessionRow] | None:
        query = (
            select(RefreshTokenRow, SessionRow)
            .join(SessionRow, SessionRow.id == RefreshTokenRow.session_id)
            .where(RefreshTokenRow.token_hash == token_hash)
        )
        if for_update:
            # Serialises concurrent refreshes of one session (PostgreSQL; SQLite has one writer).
            query = query.with_for_update(of=SessionRow)
        row = (await self._session.execute(query)).first()
        return None if row is None else (row[0], row[1])

    async def latest_rotated(self, session_id: uuid.UUID) -> RefreshTokenRow | None:
        query = (
            select(RefreshTokenRow)
            .where(
                RefreshTokenRow.session_id == session_id, RefreshTokenRow.rotated_at.is_not(None)
            )
            .order_by(RefreshTokenRow.rotated_at.desc())
            .limit(1)
        )
        return (await self._session.execute(query)).scalar_one_or_none()

    async def current_token(self, session_id: uuid.UUID) -> RefreshTokenRow | None:
        query = select(RefreshTokenRow).where(
            RefreshTokenRow.session_id == session_id, RefreshTokenRow.rotated_at.is_(None)
        )
        return (await self._session.execute(query)).scalar_one_or_none()

    async def rotate(
        self, session: SessionRow, old: RefreshTokenRow, new_hash: bytes, now: dt.datetime
    ) -> None:
        old.rotated_at = now
        session.last_used_at = now
        self._session.add(
            RefreshTokenRow(
                token_hash=new_hash, session_id=session.id, issued_at=now, rotated_at=None
            )
        )
        await self._session.flush()

    async def revoke(self, session_id: uuid.UUID, *, reason: str, now: dt.datetime) -> bool:
        """Marks one live session revoked; False when it was already revoked or is unknown."""
        result = await self._session.execute(
            update(SessionRow)
            .where(SessionRow.id == session_id, SessionRow.revoked_at.is_(None))
            .values(revoked_at=now, revoke_reason=reason)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoke_all(
        self, user_id: uuid.UUID, *, reason: str, now: dt.datetime, keep: uuid.UUID | None = None
    ) -> Sequence[uuid.UUID]:
        """Revokes every live session of a user (except `keep`); returns their ids."""
        query = select(SessionRow.id).where(
            SessionRow.user_id == user_id, SessionRow.revoked_at.is_(None)
        )
        if keep is not None:
            query = query.where(SessionRow.id != keep)
        ids = list((await self._session.execute(query)).scalars())
        if ids:
            await self._session.execute(
                update(SessionRow)
                .where(SessionRow.id.in_(ids))
                .values(revoked_at=now, revoke_reason=reason)
            )
        return ids

    async def revoked_since(self, since: dt.datetime) -> Sequence[tuple[uuid.UUID, dt.datetime]]:
        query = select(SessionRow.id, SessionRow.revoked_at).where(SessionRow.revoked_at >= since)
        return [(sid, at) for sid, at in (await self._session.execute(query)).all() if at]

    async def is_live(self, session_id: uuid.UUID, now: dt.datetime) -> bool:
        """The session exists, is not revoked and has not expired (the database's word)."""
        query = select(SessionRow.revoked_at, SessionRow.expires_at).where(
            SessionRow.id == session_id
        )
        row = (await self._session.execute(query)).first()
        return row is not None and row[0] is None and row[1] > now
