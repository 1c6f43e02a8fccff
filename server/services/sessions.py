"""A user's sessions: list and revoke (self, admin, or a service with sessions:revoke)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from server.cache.revocations import RevocationStore
from server.domain import Principal, Scope, SessionInfo
from server.errors import NotFound
from server.repositories.database import Database
from server.repositories.sessions import SessionRepository, to_session_info
from server.services.access import require_self_or_admin
from server.services.inputs import parse_id, resolve_user_ref
from server.services.paging import PageTokens, page_size

Clock = Callable[[], dt.datetime]


class SessionService:
    def __init__(
        self,
        *,
        db: Database,
        revocations: RevocationStore,
        page_tokens: PageTokens,
        clock: Clock,
    ) -> None:
        self._db = db
        self._revocations = revocations
        self._page_tokens = page_tokens
        self._clock = clock

    async def list_sessions(
        self, ref: str, *, size: int, token: str, principal: Principal
    ) -> tuple[Sequence[SessionInfo], str]:
        user_id = resolve_user_ref(ref, principal, field="user_id")
        require_self_or_admin(principal, user_id, Scope.SESSIONS_REVOKE)
        limit = page_size(size)
        query = f"sessions:{user_id}"
        after = self._page_tokens.decode_id(token, query)
        async with self._db.read() as session:
            rows = await SessionRepository(session).live_page(
                user_id, now=self._clock(), after=after, limit=limit + 1
            )
        sessions = [to_session_info(row) for row in rows[:limit]]
        more = len(rows) > limit
        return sessions, self._page_tokens.encode(query, sessions[-1].id) if more else ""

    async def revoke_session(self, raw_id: str, *, principal: Principal) -> None:
        session_id = parse_id(raw_id, field="session_id")
        async with self._db.transaction() as session:
            sessions = SessionRepository(session)
            row = await sessions.get(session_id)
            if row is None or row.user_id is None:
                raise NotFound("no such session", reason="SESSION_NOT_FOUND")
            require_self_or_admin(principal, row.user_id, Scope.SESSIONS_REVOKE)
            await sessions.revoke(session_id, reason="revoked", now=self._clock())
        await self._revocations.announce([session_id])

    async def revoke_all_sessions(self, ref: str, *, principal: Principal) -> None:
        user_id = resolve_user_ref(ref, principal, field="user_id")
        require_self_or_admin(principal, user_id, Scope.SESSIONS_REVOKE)
        async with self._db.transaction() as session:
            revoked = await SessionRepository(session).revoke_all(
                user_id, reason="revoked", now=self._clock()
            )
        await self._revocations.announce(revoked)
