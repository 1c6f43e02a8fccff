"""The committed state every in-memory repository works on, and how a keyset cursor reads."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field

from server.domain import (
    Cursor,
    Event,
    IdempotencyRecord,
    RefreshTokenRecord,
    ServiceAccount,
    ServiceAccountRecord,
    SessionRecord,
    StoredUser,
    User,
)


@dataclass
class MemoryState:
    users: dict[uuid.UUID, StoredUser] = field(default_factory=dict)
    sessions: dict[uuid.UUID, SessionRecord] = field(default_factory=dict)
    revoke_reasons: dict[uuid.UUID, str] = field(default_factory=dict)
    refresh_tokens: dict[bytes, RefreshTokenRecord] = field(default_factory=dict)
    service_accounts: dict[uuid.UUID, ServiceAccountRecord] = field(default_factory=dict)
    idempotency: dict[tuple[str, str, str], IdempotencyRecord] = field(default_factory=dict)
    events: dict[int, Event] = field(default_factory=dict)
    # {"last": the last event id given}: ids are never reused, even after a purge.
    event_ids: dict[str, int] = field(default_factory=lambda: {"last": 0})

    def copy(self) -> MemoryState:
        # The values are frozen dataclasses: copying the dicts copies the state.
        return MemoryState(
            **{f.name: dict(getattr(self, f.name)) for f in dataclasses.fields(self)}
        )


def by_id(item: User | ServiceAccount) -> uuid.UUID:
    return item.id


def cursor_uuid(cursor: Cursor) -> uuid.UUID:
    return cursor if isinstance(cursor, uuid.UUID) else uuid.UUID(cursor)
