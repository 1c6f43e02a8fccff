"""Dict-backed repositories over one `MemoryState`: the in-memory twins of server/repositories/,
raising the same domain errors (a taken email is AlreadyExists EMAIL_TAKEN)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from server.domain import (
    Cursor,
    EndedSession,
    Event,
    IdempotencyRecord,
    OneTimeCode,
    RefreshTokenRecord,
    RevokeReason,
    Role,
    ServiceAccount,
    ServiceAccountRecord,
    ServiceAccountState,
    SessionInfo,
    SessionRecord,
    StoredUser,
    User,
    UserFilter,
    UserState,
    email_key,
)
from server.repositories.conflicts import email_taken, request_already_recorded
from server.repositories.ids import new_id


@dataclass
class MemoryState:
    users: dict[uuid.UUID, StoredUser] = field(default_factory=dict)
    sessions: dict[uuid.UUID, SessionRecord] = field(default_factory=dict)
    revoke_reasons: dict[uuid.UUID, str] = field(default_factory=dict)
    refresh_tokens: dict[bytes, RefreshTokenRecord] = field(default_factory=dict)
    service_accounts: dict[uuid.UUID, ServiceAccountRecord] = field(default_factory=dict)
    idempotency: dict[tuple[str, str, str], IdempotencyRecord] = field(default_factory=dict)
    events: dict[int, Event] = field(default_factory=dict)
    codes: dict[bytes, OneTimeCode] = field(default_factory=dict)
    # {"last": the last event id given}: ids are never reused, even after a purge.
    event_ids: dict[str, int] = field(default_factory=lambda: {"last": 0})

    def copy(self) -> MemoryState:
        # The values are frozen dataclasses: copying the dicts copies the state.
        return MemoryState(
            **{f.name: dict(getattr(self, f.name)) for f in dataclasses.fields(self)}
        )


class MemoryUsers:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def get(self, user_id: uuid.UUID) -> StoredUser | None:
        return self._state.users.get(user_id)

    get_for_update = get  # transactions take turns: holding one is holding every lock

    async def get_by_email(self, email: str) -> StoredUser | None:
        users = self._state.users.values()
        exact = next((s for s in users if s.user.email == email), None)
        return exact or self._holder_of_key(email_key(email))

    def _holder_of_key(self, key: str) -> StoredUser | None:
        # No migration runs here, so every user's key is the one its email gives.
        return next((s for s in self._state.users.values() if email_key(s.user.email) == key), None)

    async def page(self, *, where: UserFilter, after: Cursor | None, limit: int) -> Sequence[User]:
        users = [s.user for s in self._state.users.values() if _matches(s.user, where)]
        if where.ordered_by_email:
            users = sorted((u for u in users if after is None or u.email > str(after)), key=_email)
        else:
            users = sorted((u for u in users if after is None or u.id > _uuid(after)), key=_id)
        return users[:limit]

    async def add(
        self, *, email: str, password_hash: str, display_name: str, role: Role, now: dt.datetime
    ) -> User:
        if self._holder_of_key(email_key(email)) is not None:
            raise email_taken()
        user = User(new_id(), email, display_name, role, UserState.ACTIVE, False, now, now, 1)
        self._state.users[user.id] = StoredUser(user, password_hash)
        return user

    async def save(self, user: User) -> None:
        holder = self._holder_of_key(email_key(user.email))
        if holder is not None and holder.user.id != user.id:
            raise email_taken()
        stored = self._state.users[user.id]
        self._state.users[user.id] = dataclasses.replace(stored, user=user)

    async def replace_password_hash(self, user_id: uuid.UUID, *, current: str, new: str) -> bool:
        stored = self._state.users.get(user_id)
        if stored is None or stored.password_hash != current:
            return False
        self._state.users[user_id] = dataclasses.replace(stored, password_hash=new)
        return True

    async def set_pending_email(self, user_id: uuid.UUID, email: str | None) -> None:
        stored = self._state.users[user_id]
        self._state.users[user_id] = dataclasses.replace(stored, pending_email=email)

    async def delete(self, user_id: uuid.UUID) -> None:
        self._state.users.pop(user_id, None)
        for code in list(self._state.codes.values()):
            if code.user_id == user_id:  # ON DELETE CASCADE
                del self._state.codes[code.code_hash]
        for session in self._state.sessions.values():
            if session.user_id == user_id:  # ON DELETE SET NULL
                self._state.sessions[session.id] = dataclasses.replace(session, user_id=None)


class MemorySessions:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def start(
        self,
        *,
        user_id: uuid.UUID,
        now: dt.datetime,
        expires_at: dt.datetime,
        client_ip: str,
        user_agent: str,
    ) -> SessionRecord:
        session = SessionRecord(
            new_id(), user_id, now, now, expires_at, None, client_ip, user_agent
        )
        self._state.sessions[session.id] = session
        return session

    async def get(self, session_id: uuid.UUID) -> SessionRecord | None:
        return self._state.sessions.get(session_id)

    async def live_page(
        self, user_id: uuid.UUID, *, now: dt.datetime, after: Cursor | None, limit: int
    ) -> Sequence[SessionInfo]:
        live = sorted(
            (
                s
                for s in self._state.sessions.values()
                if s.user_id == user_id and _live(s, now) and (after is None or s.id > _uuid(after))
            ),
            key=lambda s: s.id,
        )
        return [
            SessionInfo(
                s.id, user_id, s.created_at, s.last_used_at, s.expires_at, s.client_ip, s.user_agent
            )
            for s in live[:limit]
        ]

    async def is_live(self, session_id: uuid.UUID, now: dt.datetime) -> bool:
        session = self._state.sessions.get(session_id)
        return session is not None and _live(session, now)

    async def revoke(
        self, session_id: uuid.UUID, *, reason: RevokeReason, now: dt.datetime
    ) -> bool:
        session = self._state.sessions.get(session_id)
        if session is None or session.revoked_at is not None:
            return False
        self._state.sessions[session_id] = dataclasses.replace(session, revoked_at=now)
        self._state.revoke_reasons[session_id] = reason
        return True

    async def revoke_all(
        self,
        user_id: uuid.UUID,
        *,
        reason: RevokeReason,
        now: dt.datetime,
        keep: uuid.UUID | None = None,
    ) -> Sequence[uuid.UUID]:
        ids = [
            s.id
            for s in self._state.sessions.values()
            if s.user_id == user_id and s.revoked_at is None and s.id != keep
        ]
        for session_id in ids:
            await self.revoke(session_id, reason=reason, now=now)
        return ids

    async def revoked_since(self, since: dt.datetime) -> Sequence[tuple[uuid.UUID, dt.datetime]]:
        return [
            (s.id, s.revoked_at)
            for s in self._state.sessions.values()
            if s.revoked_at is not None and s.revoked_at >= since
        ]

    async def purge_expired(self, before: dt.datetime, *, limit: int) -> Sequence[EndedSession]:
        gone = set(_ended_sessions(self._state, before)[:limit])
        ended = []
        for session_id in gone:
            session = self._state.sessions.pop(session_id)
            ended.append(EndedSession(session_id, session.user_id, session.revoked_at is not None))
        tokens = self._state.refresh_tokens
        for token_hash in [h for h, t in tokens.items() if t.session_id in gone]:
            del tokens[token_hash]
        return ended


def _ended_sessions(state: MemoryState, before: dt.datetime) -> list[uuid.UUID]:
    return [
        s.id
        for s in state.sessions.values()
        if s.expires_at < before or (s.revoked_at is not None and s.revoked_at < before)
    ]


class MemoryRefreshTokens:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(self, token_hash: bytes, *, session_id: uuid.UUID, now: dt.datetime) -> None:
        self._state.refresh_tokens[token_hash] = RefreshTokenRecord(
            token_hash, session_id, now, None
        )

    async def find(self, token_hash: bytes) -> tuple[RefreshTokenRecord, SessionRecord] | None:
        token = self._state.refresh_tokens.get(token_hash)
        if token is None:
            return None
        return token, self._state.sessions[token.session_id]

    async def current(self, session_id: uuid.UUID) -> RefreshTokenRecord | None:
        return next(
            (t for t in self._of(session_id) if t.rotated_at is None),
            None,
        )

    async def rotate_if_current(
        self,
        token_hash: bytes,
        new_hash: bytes,
        now: dt.datetime,
        *,
        successor_sealed: bytes | None,
    ) -> bool:
        token = self._state.refresh_tokens.get(token_hash)
        if token is None or token.rotated_at is not None:
            return False
        self._state.refresh_tokens[token_hash] = dataclasses.replace(
            token, rotated_at=now, successor_sealed=successor_sealed
        )
        session = self._state.sessions[token.session_id]
        self._state.sessions[session.id] = dataclasses.replace(session, last_used_at=now)
        await self.add(new_hash, session_id=session.id, now=now)
        return True

    async def purge_of_ended_sessions(self, before: dt.datetime, *, limit: int) -> int:
        ended = set(_ended_sessions(self._state, before))
        tokens = self._state.refresh_tokens
        gone = [h for h, t in tokens.items() if t.session_id in ended][:limit]
        for token_hash in gone:
            del tokens[token_hash]
        return len(gone)

    def _of(self, session_id: uuid.UUID) -> list[RefreshTokenRecord]:
        return [t for t in self._state.refresh_tokens.values() if t.session_id == session_id]


class MemoryServiceAccounts:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(
        self,
        *,
        client_id: str,
        display_name: str,
        scopes: tuple[str, ...],
        secret_hash: bytes,
        now: dt.datetime,
    ) -> ServiceAccount:
        account = ServiceAccount(
            new_id(), client_id, display_name, scopes, ServiceAccountState.ACTIVE, now, now, 1
        )
        self._state.service_accounts[account.id] = ServiceAccountRecord(account, secret_hash)
        return account

    async def get(self, account_id: uuid.UUID) -> ServiceAccountRecord | None:
        return self._state.service_accounts.get(account_id)

    get_for_update = get

    async def get_by_client_id(self, client_id: str) -> ServiceAccountRecord | None:
        accounts = self._state.service_accounts.values()
        return next((r for r in accounts if r.account.client_id == client_id), None)

    async def page(self, *, after: Cursor | None, limit: int) -> Sequence[ServiceAccount]:
        accounts = sorted((r.account for r in self._state.service_accounts.values()), key=_id)
        return [a for a in accounts if after is None or a.id > _uuid(after)][:limit]

    async def save(self, record: ServiceAccountRecord) -> None:
        self._state.service_accounts[record.account.id] = record

    async def delete(self, account_id: uuid.UUID) -> None:
        self._state.service_accounts.pop(account_id, None)


class MemoryIdempotency:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def get(self, operation: str, caller: str, request_id: str) -> IdempotencyRecord | None:
        return self._state.idempotency.get((operation, caller, request_id))

    async def add(self, record: IdempotencyRecord) -> None:
        key = (record.operation, record.caller, record.request_id)
        if key in self._state.idempotency:
            raise request_already_recorded()
        self._state.idempotency[key] = record

    async def purge_expired(self, now: dt.datetime, *, limit: int) -> int:
        gone = [k for k, r in self._state.idempotency.items() if r.expires_at < now][:limit]
        for key in gone:
            del self._state.idempotency[key]
        return len(gone)


def _matches(user: User, where: UserFilter) -> bool:
    return (
        (where.email_prefix is None or user.email.startswith(where.email_prefix))
        and (where.email_exact is None or user.email == where.email_exact)
        and (where.state is None or user.state is where.state)
    )


def _live(session: SessionRecord, now: dt.datetime) -> bool:
    return session.revoked_at is None and session.expires_at > now


def _email(user: User) -> str:
    return user.email


def _id(item: User | ServiceAccount) -> uuid.UUID:
    return item.id


def _uuid(cursor: Cursor) -> uuid.UUID:
    return cursor if isinstance(cursor, uuid.UUID) else uuid.UUID(cursor)
