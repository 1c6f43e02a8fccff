"""Sessions and the tokens they issue: what services return and what repositories store."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

from server.domain.users import Role


class RevokeReason(enum.StrEnum):
    """Why a session ended (stored with it)."""

    LOGOUT = "logout"
    REVOKED = "revoked"
    REFRESH_TOKEN_REUSED = "refresh_token_reused"  # noqa: S105 - a reason, not a secret
    USER_CHANGED = "user_changed"
    USER_DELETED = "user_deleted"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason, not a secret
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a reason, not a secret


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    access_expires_at: dt.datetime
    refresh_token: str
    refresh_expires_at: dt.datetime | None
    session_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class TokenIntrospection:
    active: bool
    user_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    role: Role | None = None
    expires_at: dt.datetime | None = None
    scopes: tuple[str, ...] = ()
    client_id: str = ""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: uuid.UUID
    user_id: uuid.UUID
    created_at: dt.datetime
    last_used_at: dt.datetime
    expires_at: dt.datetime
    client_ip: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One login as stored: `user_id` is None once the user is deleted (the revoked row stays
    until the purge, so a token of it is still known to be dead)."""

    id: uuid.UUID
    user_id: uuid.UUID | None
    created_at: dt.datetime
    last_used_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    client_ip: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    """One refresh token a session issued, by hash; `rotated_at` is None while it is current."""

    token_hash: bytes
    session_id: uuid.UUID
    issued_at: dt.datetime
    rotated_at: dt.datetime | None
    # The token that replaced this one, sealed under this one (only while a reuse grace is set).
    successor_sealed: bytes | None = None


@dataclass(frozen=True, slots=True)
class EndedSession:
    """A session the purge deleted; `revoked` is False when it simply expired."""

    id: uuid.UUID
    user_id: uuid.UUID | None
    revoked: bool
