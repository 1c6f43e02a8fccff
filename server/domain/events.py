"""The event log: event types, who acted on what, events to append and appended ones."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from server.domain.principals import Principal


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
