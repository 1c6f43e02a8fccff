"""Refresh-token rotation's parts outside the rotation itself: the session's user, the grace
successor, and the token pair a login or a rotation answers with."""

from __future__ import annotations

import datetime as dt
import uuid

from server.domain import RefreshTokenRecord, Role, SessionRecord, TokenPair, User, UserState
from server.errors import Reason, Unauthenticated
from server.security.tokens import AccessTokenCodec, open_successor, refresh_token_hash
from server.services.unit_of_work import RefreshTokenRepository, UserRepository


async def session_user(users: UserRepository, family: SessionRecord, now: dt.datetime) -> User:
    """The user a session may still act for; Unauthenticated when the session or user may not."""
    if family.revoked_at is not None:
        raise Unauthenticated("the session has been revoked", reason=Reason.TOKEN_REVOKED)
    if family.expires_at <= now:
        raise Unauthenticated("the session has expired", reason=Reason.REFRESH_TOKEN_EXPIRED)
    stored = None if family.user_id is None else await users.get(family.user_id)
    if stored is None or stored.user.state is not UserState.ACTIVE:
        raise Unauthenticated("this account is disabled", reason=Reason.USER_DISABLED)
    return stored.user


async def grace_successor(
    tokens: RefreshTokenRepository,
    token: RefreshTokenRecord,
    presented: str,
    now: dt.datetime,
    reuse_grace: dt.timedelta,
) -> str | None:
    """The token that replaced `token`, if the grace period allows presenting it again: only
    within the window, and only while that successor is still the session's current token."""
    if not reuse_grace or token.rotated_at is None or token.successor_sealed is None:
        return None
    if now - token.rotated_at > reuse_grace:
        return None
    successor = open_successor(presented, token.successor_sealed)
    if successor is None:
        return None
    current = await tokens.current(token.session_id)
    if current is None or current.token_hash != refresh_token_hash(successor):
        return None
    return successor


class TokenMinter:
    """Issues the access token of a session, never outliving it, beside its refresh token."""

    def __init__(self, codec: AccessTokenCodec, access_ttl: dt.timedelta) -> None:
        self._codec = codec
        self._access_ttl = access_ttl

    def pair(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        role: Role,
        refresh_token: str,
        now: dt.datetime,
        session_expires_at: dt.datetime,
    ) -> TokenPair:
        # An access token never outlives its session.
        ttl = min(self._access_ttl, session_expires_at - now)
        access = self._codec.issue(
            str(user_id), now=now, ttl=ttl, session_id=str(session_id), role=role.value
        )
        return TokenPair(
            access_token=access.token,
            access_expires_at=access.expires_at,
            refresh_token=refresh_token,
            refresh_expires_at=session_expires_at,
            session_id=session_id,
        )
