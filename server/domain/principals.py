"""Who calls: the principal behind a call, its scopes and its client, and the answers replayed
to a repeated request."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field

from server.domain.users import Role


class Scope(enum.StrEnum):
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    SESSIONS_REVOKE = "sessions:revoke"
    TOKENS_VALIDATE = "tokens:validate"
    EVENTS_READ = "events:read"
    # Sees the secret part of events (one-time codes), for the deployment's notification service.
    NOTIFICATIONS_READ = "notifications:read"


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
class IdempotencyRecord:
    """The first answer to a request that carried a request_id, replayed until `expires_at`."""

    operation: str
    caller: str
    request_id: str
    request_hash: bytes
    response: bytes
    created_at: dt.datetime
    expires_at: dt.datetime
