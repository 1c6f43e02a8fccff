"""The sessions and refresh-token repositories in memory: a session's tokens end with it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence

from server.domain import (
    Cursor,
    EndedSession,
    RefreshTokenRecord,
    RevokeReason,
    SessionInfo,
    SessionRecord,
)
from server.repositories.ids import new_id
from tests.support.memory_repositories.state import MemoryState, cursor_uuid


class MemorySessions:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def start(
        self,
        *,
        user_id: uuid.UUID,
        now: dt.datetime,
        expires_at: dt.datetime,
        client_ip: str,
        user_agent: str,
    ) -> SessionRecord:
        session = SessionRecord(
            new_id(), user_id, now, now, expires_at, None, client_ip, user_agent
        )
        self._state.sessions[session.id] = session
        return session

    async def get(self, session_id: uuid.UUID) -> SessionRecord | None:
        return self._state.sessions.get(session_id)

    async def live_page(
        self, user_id: uuid.UUID, *, now: dt.datetime, after: Cursor | None, limit: int
    ) -> Sequence[SessionInfo]:
        live = sorted(
            (
                s
                for s in self._state.sessions.values()
                if s.user_id == user_id
                and _live(s, now)
                and (after is None or s.id > cursor_uuid(after))
            ),
            key=lambda s: s.id,
        )
        return [
            SessionInfo(
                s.id, user_id, s.created_at, s.last_used_at, s.expires_at, s.client_ip, s.user_agent
            )
            for s in live[:limit]
        ]

    async def is_live(self, session_id: uuid.UUID, now: dt.datetime) -> bool:
        session = self._state.sessions.get(session_id)
        return session is not None and _live(session, now)

    async def revoke(
        self, session_id: uuid.UUID, *, reason: RevokeReason, now: dt.datetime
    ) -> bool:
        session = self._state.sessions.get(session_id)
        if session is None or session.revoked_at is not None:
            return False
        self._state.sessions[session_id] = dataclasses.replace(session, revoked_at=now)
        self._state.revoke_reasons[session_id] = reason
        return True

    async def revoke_all(
        self,
        user_id: uuid.UUID,
        *,
        reason: RevokeReason,
        now: dt.datetime,
        keep: uuid.UUID | None = None,
    ) -> Sequence[uuid.UUID]:
        ids = [
            s.id
            for s in self._state.sessions.values()
            if s.user_id == user_id and s.revoked_at is None and s.id != keep
        ]
        for session_id in ids:
            await self.revoke(session_id, reason=reason, now=now)
        return ids

    async def revoked_since(self, since: dt.datetime) -> Sequence[tuple[uuid.UUID, dt.datetime]]:
        return [
            (s.id, s.revoked_at)
            for s in self._state.sessions.values()
            if s.revoked_at is not None and s.revoked_at >= since
        ]

    async def purge_expired(self, before: dt.datetime, *, limit: int) -> Sequence[EndedSession]:
        gone = set(_ended_sessions(self._state, before)[:limit])
        ended = []
        for session_id in gone:
            session = self._state.sessions.pop(session_id)
            ended.append(EndedSession(session_id, session.user_id, session.revoked_at is not None))
        tokens = self._state.refresh_tokens
        for token_hash in [h for h, t in tokens.items() if t.session_id in gone]:
            del tokens[token_hash]
        return ended


def _ended_sessions(state: MemoryState, before: dt.datetime) -> list[uuid.UUID]:
    return [
        s.id
        for s in state.sessions.values()
        if s.expires_at < before or (s.revoked_at is not None and s.revoked_at < before)
    ]


class MemoryRefreshTokens:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(self, token_hash: bytes, *, session_id: uuid.UUID, now: dt.datetime) -> None:
        self._state.refresh_tokens[token_hash] = RefreshTokenRecord(
            token_hash, session_id, now, None
        )

    async def find(self, token_hash: bytes) -> tuple[RefreshTokenRecord, SessionRecord] | None:
        token = self._state.refresh_tokens.get(token_hash)
        if token is None:
            return None
        return token, self._state.sessions[token.session_id]

    async def current(self, session_id: uuid.UUID) -> RefreshTokenRecord | None:
        return next(
            (t for t in self._of(session_id) if t.rotated_at is None),
            None,
        )

    async def rotate_if_current(
        self,
        token_hash: bytes,
        new_hash: bytes,
        now: dt.datetime,
        *,
        successor_sealed: bytes | None,
    ) -> bool:
        token = self._state.refresh_tokens.get(token_hash)
        if token is None or token.rotated_at is not None:
            return False
        self._state.refresh_tokens[token_hash] = dataclasses.replace(
            token, rotated_at=now, successor_sealed=successor_sealed
        )
        session = self._state.sessions[token.session_id]
        self._state.sessions[session.id] = dataclasses.replace(session, last_used_at=now)
        await self.add(new_hash, session_id=session.id, now=now)
        return True

    async def purge_of_ended_sessions(self, before: dt.datetime, *, limit: int) -> int:
        ended = set(_ended_sessions(self._state, before))
        tokens = self._state.refresh_tokens
        gone = [h for h, t in tokens.items() if t.session_id in ended][:limit]
        for token_hash in gone:
            del tokens[token_hash]
        return len(gone)

    def _of(self, session_id: uuid.UUID) -> list[RefreshTokenRecord]:
        return [t for t in self._state.refresh_tokens.values() if t.session_id == session_id]


def _live(session: SessionRecord, now: dt.datetime) -> bool:
    return session.revoked_at is None and session.expires_at > now
