"""Domain types: plain dataclasses that services take and return (no protobuf, no SQLAlchemy).

One submodule per theme; every public name is re-exported here, so `from server.domain import X`
is the way to use them.
"""

from server.domain.codes import CodePurpose, OneTimeCode
from server.domain.events import (
    NOBODY,
    SYSTEM,
    Event,
    EventData,
    EventFilter,
    EventType,
    EventValue,
    NewEvent,
    Party,
    PartyKind,
    SessionEnd,
)
from server.domain.principals import ClientInfo, IdempotencyRecord, Principal, Scope
from server.domain.service_accounts import (
    IssuedSecret,
    ServiceAccount,
    ServiceAccountChanges,
    ServiceAccountRecord,
    ServiceAccountState,
)
from server.domain.sessions import (
    EndedSession,
    RefreshTokenRecord,
    RevokeReason,
    SessionInfo,
    SessionRecord,
    TokenIntrospection,
    TokenPair,
)
from server.domain.users import (
    Cursor,
    Role,
    StoredUser,
    User,
    UserChanges,
    UserFilter,
    UserState,
    email_key,
)

__all__ = [
    "NOBODY",
    "SYSTEM",
    "ClientInfo",
    "CodePurpose",
    "Cursor",
    "EndedSession",
    "Event",
    "EventData",
    "EventFilter",
    "EventType",
    "EventValue",
    "IdempotencyRecord",
    "IssuedSecret",
    "NewEvent",
    "OneTimeCode",
    "Party",
    "PartyKind",
    "Principal",
    "RefreshTokenRecord",
    "RevokeReason",
    "Role",
    "Scope",
    "ServiceAccount",
    "ServiceAccountChanges",
    "ServiceAccountRecord",
    "ServiceAccountState",
    "SessionEnd",
    "SessionInfo",
    "SessionRecord",
    "StoredUser",
    "TokenIntrospection",
    "TokenPair",
    "User",
    "UserChanges",
    "UserFilter",
    "UserState",
    "email_key",
]
