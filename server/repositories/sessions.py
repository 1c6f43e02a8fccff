"""Sessions (refresh-token families) and their refresh tokens, in domain types."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain import (
    Cursor,
    EndedSession,
    RefreshTokenRecord,
    RevokeReason,
    SessionInfo,
    SessionRecord,
)
from server.repositories.ids import new_id
from server.repositories.models import RefreshTokenRow, SessionRow


def to_session(row: SessionRow) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        user_id=row.user_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        client_ip=row.client_ip,
        user_agent=row.user_agent,
    )


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


def to_refresh_token(row: RefreshTokenRow) -> RefreshTokenRecord:
    return RefreshTokenRecord(
        token_hash=row.token_hash,
        session_id=row.session_id,
        issued_at=row.issued_at,
        rotated_at=row.rotated_at,
        successor_sealed=row.successor_sealed,
    )


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def start(
        self,
        *,
        user_id: uuid.UUID,
        now: dt.datetime,
        expires_at: dt.datetime,
        client_ip: str,
        user_agent: str,
    ) -> SessionRecord:
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
        return to_session(row)

    async def get(self, session_id: uuid.UUID) -> SessionRecord | None:
        row = await self._session.get(SessionRow, session_id)
        return None if row is None else to_session(row)

    async def live_page(
        self, user_id: uuid.UUID, *, now: dt.datetime, after: Cursor | None, limit: int
    ) -> Sequence[SessionInfo]:
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
            query = query.where(SessionRow.id > uuid.UUID(str(after)))
        return [to_session_info(row) for row in (await self._session.execute(query)).scalars()]

    async def is_live(self, session_id: uuid.UUID, now: dt.datetime) -> bool:
        query = select(SessionRow.revoked_at, SessionRow.expires_at).where(
            SessionRow.id == session_id
        )
        row = (await self._session.execute(query)).first()
        return row is not None and row[0] is None and row[1] > now

    async def revoke(
        self, session_id: uuid.UUID, *, reason: RevokeReason, now: dt.datetime
    ) -> bool:
        result = await self._session.execute(
            update(SessionRow)
            .where(SessionRow.id == session_id, SessionRow.revoked_at.is_(None))
            .values(revoked_at=now, revoke_reason=reason)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoke_all(
        self,
        user_id: uuid.UUID,
        *,
        reason: RevokeReason,
        now: dt.datetime,
        keep: uuid.UUID | None = None,
    ) -> Sequence[uuid.UUID]:
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

    async def purge_expired(self, before: dt.datetime, *, limit: int) -> Sequence[EndedSession]:
        # At most `limit` rows a statement (both indexed columns): a backlog is purged in many
        # short transactions instead of one that outlives the database timeout.
        batch = select(SessionRow.id).where(_ended_before(before)).limit(limit)
        result = await self._session.execute(
            delete(SessionRow)
            .where(SessionRow.id.in_(batch.scalar_subquery()))
            .returning(SessionRow.id, SessionRow.user_id, SessionRow.revoked_at)
        )
        return [EndedSession(sid, uid, revoked_at is not None) for sid, uid, revoked_at in result]


def _ended_before(before: dt.datetime) -> ColumnElement[bool]:
    return (SessionRow.expires_at < before) | (SessionRow.revoked_at < before)


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token_hash: bytes, *, session_id: uuid.UUID, now: dt.datetime) -> None:
        self._session.add(
            RefreshTokenRow(token_hash=token_hash, session_id=session_id, issued_at=now)
        )
        await self._session.flush()

    async def find(self, token_hash: bytes) -> tuple[RefreshTokenRecord, SessionRecord] | None:
        return await self._first(self._with_session(token_hash))

    async def current(self, session_id: uuid.UUID) -> RefreshTokenRecord | None:
        query = select(RefreshTokenRow).where(
            RefreshTokenRow.session_id == session_id, RefreshTokenRow.rotated_at.is_(None)
        )
        row = (await self._session.execute(query)).scalar_one_or_none()
        return None if row is None else to_refresh_token(row)

    async def rotate_if_current(
        self,
        token_hash: bytes,
        new_hash: bytes,
        now: dt.datetime,
        *,
        successor_sealed: bytes | None,
    ) -> bool:
        won = await self._session.execute(
            update(RefreshTokenRow)
            .where(RefreshTokenRow.token_hash == token_hash, RefreshTokenRow.rotated_at.is_(None))
            .values(rotated_at=now, successor_sealed=successor_sealed)
            .returning(RefreshTokenRow.session_id)
        )
        session_id = won.scalar_one_or_none()
        if session_id is None:
            return False
        await self._session.execute(
            update(SessionRow).where(SessionRow.id == session_id).values(last_used_at=now)
        )
        await self.add(new_hash, session_id=session_id, now=now)
        return True

    async def purge_of_ended_sessions(self, before: dt.datetime, *, limit: int) -> int:
        batch = (
            select(RefreshTokenRow.token_hash)
            .join(SessionRow, SessionRow.id == RefreshTokenRow.session_id)
            .where(_ended_before(before))
            .limit(limit)
        )
        result = await self._session.execute(
            delete(RefreshTokenRow).where(RefreshTokenRow.token_hash.in_(batch.scalar_subquery()))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    def _with_session(token_hash: bytes) -> Select[RefreshTokenRow, SessionRow]:
        return (
            select(RefreshTokenRow, SessionRow)
            .join(SessionRow, SessionRow.id == RefreshTokenRow.session_id)
            .where(RefreshTokenRow.token_hash == token_hash)
        )

    async def _first(
        self, query: Select[RefreshTokenRow, SessionRow]
    ) -> tuple[RefreshTokenRecord, SessionRecord] | None:
        row = (await self._session.execute(query)).first()
        return None if row is None else (to_refresh_token(row[0]), to_session(row[1]))
