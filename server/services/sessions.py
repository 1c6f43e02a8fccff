"""A user's sessions: list and revoke (self, admin, or a service with sessions:revoke)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from server.cache.revocations import RevocationStore
from server.clock import Clock
from server.domain import Principal, RevokeReason, Scope, SessionEnd, SessionInfo
from server.errors import NotFound, Reason
from server.services.access import require_self_or_admin
from server.services.event_log import append_revoked
from server.services.inputs import parse_id, resolve_user_ref
from server.services.paging import PageTokens, keyset_page, page_size
from server.services.unit_of_work import UnitOfWorkFactory, UserRepository
from server.services.user_rules import require_may_act_on


class SessionService:
    def __init__(
        self,
        *,
        units: UnitOfWorkFactory,
        revocations: RevocationStore,
        page_tokens: PageTokens,
        clock: Clock,
    ) -> None:
        self._units = units
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
        async with self._units.read() as uow:
            # An administrator's sessions (addresses, devices) are an administrator's business.
            await self._require_may_act_on(uow.users, principal, user_id)
            now = self._clock()
            return await keyset_page(
                lambda n: uow.sessions.live_page(user_id, now=now, after=after, limit=n),
                limit=limit,
                next_token=lambda last: self._page_tokens.encode(query, last.id),
            )

    async def revoke_session(self, raw_id: str, *, principal: Principal) -> None:
        session_id = parse_id(raw_id, field="session_id")
        async with self._units.transaction() as uow:
            found = await uow.sessions.get(session_id)
            # Another user's session is answered exactly as a random id: nobody learns which
            # ids are sessions unless they may revoke any.
            if found is None or found.user_id is None or not _may_see(principal, found.user_id):
                raise session_not_found()
            await self._require_may_act_on(uow.users, principal, found.user_id)
            now = self._clock()
            if await uow.sessions.revoke(session_id, reason=RevokeReason.REVOKED, now=now):
                append_revoked(
                    uow.events,
                    [session_id],
                    user_id=found.user_id,
                    why=SessionEnd.REVOKE,
                    actor=principal,
                    now=now,
                )
        await self._revocations.announce([session_id], reason=RevokeReason.REVOKED)

    async def revoke_all_sessions(self, ref: str, *, principal: Principal) -> None:
        user_id = resolve_user_ref(ref, principal, field="user_id")
        require_self_or_admin(principal, user_id, Scope.SESSIONS_REVOKE)
        async with self._units.transaction() as uow:
            await self._require_may_act_on(uow.users, principal, user_id)
            now = self._clock()
            revoked = await uow.sessions.revoke_all(user_id, reason=RevokeReason.REVOKED, now=now)
            append_revoked(
                uow.events,
                revoked,
                user_id=user_id,
                why=SessionEnd.REVOKE_ALL,
                actor=principal,
                now=now,
            )
        await self._revocations.announce(revoked, reason=RevokeReason.REVOKED)

    @staticmethod
    async def _require_may_act_on(
        users: UserRepository, principal: Principal, user_id: uuid.UUID
    ) -> None:
        if principal.user_id == user_id or principal.is_admin:
            return  # no read needed: the rule cannot refuse these
        target = await users.get(user_id)
        if target is not None:
            require_may_act_on(principal, target.user)


def session_not_found() -> NotFound:
    return NotFound("no such session", reason=Reason.SESSION_NOT_FOUND)


def _may_see(principal: Principal, user_id: uuid.UUID) -> bool:
    return (
        principal.user_id == user_id
        or principal.is_admin
        or principal.has_scope(Scope.SESSIONS_REVOKE)
    )
