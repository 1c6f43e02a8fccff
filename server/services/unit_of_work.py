"""What the services need from storage: one unit of work (one transaction) owning the repositories.

The services depend on these protocols only; `server/repositories/` implements them over SQL and
`tests/support/memory_uow.py` in memory. Repositories take and return the dataclasses of
`server/domain/`. Every change is an explicit method call, and the implementation translates its
own failures into domain errors: a unique violation into the conflict it means (AlreadyExists),
a lost database into Unavailable, a passed deadline into DeadlineExceeded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from server.domain import (
    CodePurpose,
    Cursor,
    EndedSession,
    Event,
    EventFilter,
    IdempotencyRecord,
    NewEvent,
    OneTimeCode,
    RefreshTokenRecord,
    RevokeReason,
    Role,
    ServiceAccount,
    ServiceAccountRecord,
    SessionInfo,
    SessionRecord,
    StoredUser,
    User,
    UserFilter,
)


class UserRepository(Protocol):
    async def get(self, user_id: uuid.UUID) -> StoredUser | None: ...

    async def get_for_update(self, user_id: uuid.UUID) -> StoredUser | None:
        """`get`, holding the row's lock until the unit of work ends."""
        ...

    async def get_by_email(self, email: str) -> StoredUser | None: ...

    async def page(self, *, where: UserFilter, after: Cursor | None, limit: int) -> Sequence[User]:
        """At most `limit` users matching `where`, after the cursor, in `where`'s order."""
        ...

    async def add(
        self, *, email: str, password_hash: str, display_name: str, role: Role, now: dt.datetime
    ) -> User:
        """A new active user; AlreadyExists (EMAIL_TAKEN) when the email is taken."""
        ...

    async def save(self, user: User) -> None:
        """Writes the user's fields as given (the caller sets version and updated_at);
        AlreadyExists (EMAIL_TAKEN) when its new email is taken."""
        ...

    async def replace_password_hash(self, user_id: uuid.UUID, *, current: str, new: str) -> bool:
        """Compare-and-set: stores `new` only if the hash is still `current`; whether it did."""
        ...

    async def set_pending_email(self, user_id: uuid.UUID, email: str | None) -> None:
        """Stores (or clears) the address the user asked to change to."""
        ...

    async def delete(self, user_id: uuid.UUID) -> None: ...


class OneTimeCodeRepository(Protocol):
    async def add(self, code: OneTimeCode) -> None: ...

    async def find(
        self, code_hash: bytes, purpose: CodePurpose, now: dt.datetime
    ) -> OneTimeCode | None:
        """The code if it is unused and unexpired at `now` (nothing written)."""
        ...

    async def consume(
        self, code_hash: bytes, purpose: CodePurpose, now: dt.datetime
    ) -> OneTimeCode | None:
        """Compare-and-set: marks the code used if it is unused and unexpired at `now`, and
        returns it; None (nothing written) otherwise. A code is consumed once, however many
        transactions race."""
        ...

    async def void_all(self, user_id: uuid.UUID, purpose: CodePurpose, now: dt.datetime) -> None:
        """Marks every unused code of the user for `purpose` used."""
        ...

    async def purge_expired(self, before: dt.datetime, *, limit: int) -> int:
        """Deletes at most `limit` codes that expired before `before`; how many it deleted."""
        ...


class SessionRepository(Protocol):
    async def start(
        self,
        *,
        user_id: uuid.UUID,
        now: dt.datetime,
        expires_at: dt.datetime,
        client_ip: str,
        user_agent: str,
    ) -> SessionRecord: ...

    async def get(self, session_id: uuid.UUID) -> SessionRecord | None: ...

    async def live_page(
        self, user_id: uuid.UUID, *, now: dt.datetime, after: Cursor | None, limit: int
    ) -> Sequence[SessionInfo]:
        """The user's sessions neither revoked nor expired, in id order, after the cursor."""
        ...

    async def is_live(self, session_id: uuid.UUID, now: dt.datetime) -> bool:
        """The session exists, is not revoked and has not expired."""
        ...

    async def revoke(
        self, session_id: uuid.UUID, *, reason: RevokeReason, now: dt.datetime
    ) -> bool:
        """Marks one live session revoked; False when it was already revoked or is unknown."""
        ...

    async def revoke_all(
        self,
        user_id: uuid.UUID,
        *,
        reason: RevokeReason,
        now: dt.datetime,
        keep: uuid.UUID | None = None,
    ) -> Sequence[uuid.UUID]:
        """Revokes every live session of a user (except `keep`); returns their ids."""
        ...

    async def revoked_since(self, since: dt.datetime) -> Sequence[tuple[uuid.UUID, dt.datetime]]:
        """(session id, revoked at) of every session revoked at or after `since`."""
        ...

    async def purge_expired(self, before: dt.datetime, *, limit: int) -> Sequence[EndedSession]:
        """Deletes at most `limit` sessions that expired, or were revoked, before `before` (with
        any refresh tokens they still have); the sessions it deleted."""
        ...


class RefreshTokenRepository(Protocol):
    async def add(self, token_hash: bytes, *, session_id: uuid.UUID, now: dt.datetime) -> None:
        """A session's new current token."""
        ...

    async def find(self, token_hash: bytes) -> tuple[RefreshTokenRecord, SessionRecord] | None:
        """The token and its session."""
        ...

    async def current(self, session_id: uuid.UUID) -> RefreshTokenRecord | None:
        """The session's token not yet rotated."""
        ...

    async def rotate_if_current(
        self,
        token_hash: bytes,
        new_hash: bytes,
        now: dt.datetime,
        *,
        successor_sealed: bytes | None,
    ) -> bool:
        """Compare-and-set: if `token_hash` is still its session's current token, marks it
        rotated (keeping `successor_sealed` with it, for the reuse grace period), adds `new_hash` as
        the current one and touches the session. False (and nothing written) when another
        rotation won: one refresh token is rotated at most once, however many calls race."""
        ...

    async def purge_of_ended_sessions(self, before: dt.datetime, *, limit: int) -> int:
        """Deletes at most `limit` tokens of sessions that expired, or were revoked, before
        `before`; how many it deleted."""
        ...


class ServiceAccountRepository(Protocol):
    async def add(
        self,
        *,
        client_id: str,
        display_name: str,
        scopes: tuple[str, ...],
        secret_hash: bytes,
        now: dt.datetime,
    ) -> ServiceAccount:
        """A new active account holding `scopes`, with no previous secret."""
        ...

    async def get(self, account_id: uuid.UUID) -> ServiceAccountRecord | None: ...

    async def get_for_update(self, account_id: uuid.UUID) -> ServiceAccountRecord | None:
        """`get`, holding the row's lock until the unit of work ends."""
        ...

    async def get_by_client_id(self, client_id: str) -> ServiceAccountRecord | None: ...

    async def page(self, *, after: Cursor | None, limit: int) -> Sequence[ServiceAccount]:
        """At most `limit` accounts in id order, after the cursor."""
        ...

    async def save(self, record: ServiceAccountRecord) -> None:
        """Writes the record's fields as given (the caller sets version and updated_at)."""
        ...

    async def delete(self, account_id: uuid.UUID) -> None: ...


class IdempotencyRepository(Protocol):
    async def get(
        self, operation: str, caller: str, request_id: str
    ) -> IdempotencyRecord | None: ...

    async def add(self, record: IdempotencyRecord) -> None:
        """AlreadyExists when the (operation, caller, request_id) is already recorded."""
        ...

    async def purge_expired(self, now: dt.datetime, *, limit: int) -> int:
        """Deletes at most `limit` records expired at `now`; how many it deleted."""
        ...


class EventRepository(Protocol):
    def append(self, event: NewEvent) -> None:
        """Records the event with this unit of work's changes: it is written when the unit
        commits, and never if it rolls back."""
        ...

    async def after(self, cursor: int, *, types: frozenset[str], limit: int) -> Sequence[Event]:
        """At most `limit` events with an id above `cursor` (of `types`, when given), in id order.
        Every event with a smaller id than one returned is committed or never will be."""
        ...

    async def page(self, *, where: EventFilter, after: int | None, limit: int) -> Sequence[Event]:
        """At most `limit` events matching `where`, after the cursor, in id order."""
        ...

    async def last_id(self) -> int:
        """The id of the newest event (0 when there is none)."""
        ...

    async def purge_before(self, before: dt.datetime, *, limit: int) -> int:
        """Deletes at most `limit` events recorded before `before`; how many it deleted."""
        ...


class UnitOfWork(Protocol):
    """One transaction's repositories: what they read is consistent, what they write is
    committed together or not at all."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def sessions(self) -> SessionRepository: ...

    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...

    @property
    def service_accounts(self) -> ServiceAccountRepository: ...

    @property
    def idempotency(self) -> IdempotencyRepository: ...

    @property
    def events(self) -> EventRepository: ...

    @property
    def codes(self) -> OneTimeCodeRepository: ...


class UnitOfWorkFactory(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work committed when the block ends, rolled back if it raises."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work for reads: nothing it does is committed."""
        ...
