"""Domain types: plain dataclasses that services take and return (no protobuf, no SQLAlchemy)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias


def email_key(email: str) -> str:
    """The form two addresses that look alike share: two addresses are one account when their
    keys are equal. NFKC, then Unicode case folding, then NFKC again (folding can undo the normal
    form). Takes an address as `normalize_email` returns it.

    That address is what the user wrote, trimmed, NFC (email_validator's normalisation) and
    lower-cased with `str.lower()`: what mail is sent to and shown. This key also maps
    compatibility forms together (fullwidth K, U+FF4B, becomes k) and folds case the Unicode way
    (sharp s becomes ss, Greek final sigma the medial one), so the fullwidth-k `known@x.io`,
    `STRASSE@x.io` and upper-case Greek `ODOS` collide with `known@x.io`, `straße@x.io` and the
    lower-case Greek one.
    """
    folded = unicodedata.normalize("NFKC", email).casefold()
    return unicodedata.normalize("NFKC", folded)


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class UserState(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class RevokeReason(enum.StrEnum):
    """Why a session ended (stored with it)."""

    LOGOUT = "logout"
    REVOKED = "revoked"
    REFRESH_TOKEN_REUSED = "refresh_token_reused"  # noqa: S105 - a reason, not a secret
    USER_CHANGED = "user_changed"
    USER_DELETED = "user_deleted"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason, not a secret
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a reason, not a secret


class Scope(enum.StrEnum):
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    SESSIONS_REVOKE = "sessions:revoke"
    TOKENS_VALIDATE = "tokens:validate"
    EVENTS_READ = "events:read"
    # Sees the secret part of events (one-time codes), for the deployment's notification service.
    NOTIFICATIONS_READ = "notifications:read"


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


# Where a keyset page starts: the order key (an id, or an email) of the previous page's last row.
Cursor = str | uuid.UUID


@dataclass(frozen=True, slots=True)
class UserFilter:
    email_prefix: str | None = None
    email_exact: str | None = None
    state: UserState | None = None

    @property
    def canonical(self) -> str:
        """The same filter always reads the same, so a page token can be bound to it."""
        return f"p={self.email_prefix or ''};e={self.email_exact or ''};s={self.state or ''}"

    @property
    def ordered_by_email(self) -> bool:
        """The one place ListUsers' order is decided: a prefix filter reads one contiguous range
        of the email index, so it pages in email order; every other query pages in id order."""
        return self.email_prefix is not None

    def order_key(self, user: User) -> str:
        """The page cursor of `user`: its email in email order, else its id."""
        return user.email if self.ordered_by_email else str(user.id)

    def parse_cursor(self, cursor: str) -> Cursor:
        """A cursor read back from a page token, typed for this filter's order; ValueError when
        it cannot be one."""
        return cursor if self.ordered_by_email else uuid.UUID(cursor)


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


# -- what the repositories store (services read and write these; never ORM rows) -------------


@dataclass(frozen=True, slots=True)
class StoredUser:
    """A user with its password hash, which never leaves the service layer."""

    user: User
    password_hash: str
    # A new address the user asked for, taking effect when its code is verified.
    pending_email: str | None = None


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
class ServiceAccountRecord:
    """A service account with its credentials (hashes only) and its token-revocation mark:
    tokens issued at or before `tokens_revoked_at` (whole seconds) are refused."""

    account: ServiceAccount
    secret_hash: bytes
    previous_secret_hash: bytes | None = None
    previous_secret_expires_at: dt.datetime | None = None
    tokens_revoked_at: dt.datetime | None = None


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


class CodePurpose(enum.StrEnum):
    """What a one-time code proves."""

    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a secret


@dataclass(frozen=True, slots=True)
class OneTimeCode:
    """A one-time code as stored: only its HMAC (`code_hash`), for the address it was sent to."""

    code_hash: bytes
    purpose: CodePurpose
    user_id: uuid.UUID
    email: str
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None = None


# -- the event log ------------------------------------------------------------------------------


class EventType(enum.StrEnum):
    """Every kind of event the log records: the one list (README, "Event types")."""

    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"  # data: the changed field names, never values
    USER_DELETED = "user.deleted"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    USER_ROLE_CHANGED = "user.role_changed"
    PASSWORD_CHANGED = "password.changed"  # noqa: S105 - an event name, not a secret
    SESSION_CREATED = "session.created"
    SESSION_REVOKED = "session.revoked"  # data: why (SessionEnd)
    LOGIN_FAILED = "login.failed"
    LOGIN_THROTTLED = "login.throttled"
    SERVICE_ACCOUNT_CREATED = "service_account.created"
    SERVICE_ACCOUNT_UPDATED = "service_account.updated"
    SERVICE_ACCOUNT_DISABLED = "service_account.disabled"
    SERVICE_ACCOUNT_ENABLED = "service_account.enabled"
    SERVICE_ACCOUNT_SECRET_ROTATED = "service_account.secret_rotated"  # noqa: S105
    SERVICE_ACCOUNT_DELETED = "service_account.deleted"
    SERVICE_TOKEN_ISSUED = "service_token.issued"  # noqa: S105 - an event name, not a secret
    # secret: the code and the address it goes to (only notifications:read sees them)
    EMAIL_VERIFICATION_REQUESTED = "email.verification_requested"
    USER_EMAIL_VERIFIED = "user.email_verified"
    EMAIL_CHANGE_REQUESTED = "email.change_requested"  # to the old address; secret: the address
    PASSWORD_RESET_REQUESTED = "password.reset_requested"  # noqa: S105 - secret: code, address
    PASSWORD_RESET = "password.reset"  # noqa: S105 - an event name, not a secret


class SessionEnd(enum.StrEnum):
    """Why a session.revoked event happened (its data's `why`)."""

    LOGOUT = "logout"
    REVOKE = "revoke"  # RevokeSession
    REVOKE_ALL = "revoke_all"
    REUSE_DETECTED = "reuse_detected"
    PASSWORD_CHANGE = "password_change"  # noqa: S105 - a reason, not a secret
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a reason, not a secret
    DISABLE = "disable"
    ROLE_CHANGE = "role_change"
    USER_DELETED = "user_deleted"
    EXPIRY = "expiry"


class PartyKind(enum.StrEnum):
    """Who acted, or what was acted on."""

    USER = "user"
    SERVICE_ACCOUNT = "service_account"
    SYSTEM = "system"  # the service itself (the purge) or an operator at a shell
    ANONYMOUS = "anonymous"  # a caller without a token (sign-up, a failed login)


@dataclass(frozen=True, slots=True)
class Party:
    kind: PartyKind
    id: str = ""

    @classmethod
    def user(cls, user_id: uuid.UUID) -> Party:
        return cls(PartyKind.USER, str(user_id))

    @classmethod
    def service_account(cls, account_id: uuid.UUID) -> Party:
        return cls(PartyKind.SERVICE_ACCOUNT, str(account_id))

    @classmethod
    def of(cls, principal: Principal | None) -> Party:
        """The actor behind a call: its user, its service account, or nobody."""
        if principal is None:
            return cls(PartyKind.ANONYMOUS)
        if principal.session_id is None:
            return cls(PartyKind.SERVICE_ACCOUNT, principal.subject)
        return cls(PartyKind.USER, principal.subject)


SYSTEM = Party(PartyKind.SYSTEM)
NOBODY = Party(PartyKind.ANONYMOUS)

# An event's data: JSON-able values only (field names, ids, reasons), never a secret.
EventValue: TypeAlias = str | int | bool | Sequence[str] | None
EventData: TypeAlias = Mapping[str, EventValue]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append, in the transaction of the change it records. `secret` holds what only
    a service with notifications:read may read (one-time codes); everyone else gets the event
    without it."""

    type: EventType
    created_at: dt.datetime
    actor: Party
    target: Party | None
    client_ip: str
    request_id: str
    data: EventData = field(default_factory=dict)
    secret: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """An appended event: `id` grows with every append and is the cursor of the stream."""

    id: int
    type: str
    created_at: dt.datetime
    actor: Party
    target: Party | None
    client_ip: str
    request_id: str
    data: EventData
    secret: Mapping[str, str]

    def redacted(self) -> Event:
        """The event as anyone without notifications:read sees it."""
        return self if not self.secret else dataclasses.replace(self, secret={})


@dataclass(frozen=True, slots=True)
class EventFilter:
    """ListEvents' filter; every given condition must hold."""

    types: frozenset[str] = frozenset()
    actor_id: str | None = None
    target_id: str | None = None
    since: dt.datetime | None = None  # created at or after
    until: dt.datetime | None = None  # created before

    @property
    def canonical(self) -> str:
        """The same filter always reads the same, so a page token can be bound to it."""
        times = [t.isoformat() if t else "" for t in (self.since, self.until)]
        return (
            f"t={','.join(sorted(self.types))};a={self.actor_id or ''};"
            f"g={self.target_id or ''};s={times[0]};u={times[1]}"
        )


@dataclass(frozen=True, slots=True)
class EndedSession:
    """A session the purge deleted; `revoked` is False when it simply expired."""

    id: uuid.UUID
    user_id: uuid.UUID | None
    revoked: bool
