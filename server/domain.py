"""Domain types: plain dataclasses that services take and return (no protobuf, no SQLAlchemy)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class UserState(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Scope(enum.StrEnum):
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    SESSIONS_REVOKE = "sessions:revoke"
    TOKENS_VALIDATE = "tokens:validate"


@dataclass(frozen=True, slots=True)
class User:
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    state: UserState
    email_verified: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (with a session) or a service account (with scopes)."""

    subject: str
    expires_at: dt.datetime
    session_id: uuid.UUID | None = None
    role: Role | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    client_id: str = ""  # service accounts

    @property
    def user_id(self) -> uuid.UUID | None:
        return None if self.session_id is None else uuid.UUID(self.subject)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def has_scope(self, scope: Scope) -> bool:
        return scope.value in self.scopes


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip: str
    user_agent: str


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
class UserFilter:
    email_prefix: str | None = None
    email_exact: str | None = None
    state: UserState | None = None

    @property
    def canonical(self) -> str:
        """The same filter always reads the same, so a page token can be bound to it."""
        return f"p={self.email_prefix or ''};e={self.email_exact or ''};s={self.state or ''}"

    def order_key(self, user: User) -> str:
        """The page cursor of `user`: its email under a prefix filter, else its id."""
        return user.email if self.email_prefix is not None else str(user.id)


@dataclass(frozen=True, slots=True)
class UserChanges:
    """The fields UpdateUser was asked to change (None: leave as is)."""

    display_name: str | None = None
    email: str | None = None
    role: Role | None = None
    state: UserState | None = None


class ServiceAccountState(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A machine identity: it authenticates with client credentials and holds scopes."""

    id: uuid.UUID
    client_id: str
    display_name: str
    scopes: tuple[str, ...]
    state: ServiceAccountState
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


@dataclass(frozen=True, slots=True)
class IssuedSecret:
    """An account with its new client secret (shown once); after a rotation, until when the
    previous secret is still accepted."""

    account: ServiceAccount
    client_secret: str
    previous_secret_expires_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ServiceAccountChanges:
    """The fields UpdateServiceAccount was asked to change (None: leave as is)."""

    display_name: str | None = None
    scopes: tuple[str, ...] | None = None
    state: ServiceAccountState | None = None
