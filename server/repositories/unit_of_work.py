"""The SQL unit of work: one AsyncSession (one transaction) and the repositories over it.

It implements `server.services.unit_of_work.UnitOfWorkFactory`. The deadline bound and the
translation of a lost database into Unavailable stay in `Database`; the repositories translate
unique violations into the domain's conflict errors.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from server.repositories.codes import OneTimeCodeRepository
from server.repositories.database import Database
from server.repositories.events import EventRepository
from server.repositories.idempotency import IdempotencyRepository
from server.repositories.service_accounts import ServiceAccountRepository
from server.repositories.sessions import RefreshTokenRepository, SessionRepository
from server.repositories.users import UserRepository
from server.security.sealing import SecretBox


class SqlUnitOfWork:
    """The repositories of one transaction; never shared by concurrent tasks."""

    def __init__(self, session: AsyncSession, box: SecretBox) -> None:
        self.users = UserRepository(session)
        self.sessions = SessionRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)
        self.service_accounts = ServiceAccountRepository(session)
        self.idempotency = IdempotencyRepository(session)
        self.events = EventRepository(session, box)
        self.codes = OneTimeCodeRepository(session)


class SqlUnitOfWorkFactory:
    """`box` seals the secret part of events; `events_committed` is called after each commit
    that wrote events (it wakes watchers)."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        events_committed: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._box = box
        self._events_committed = events_committed
        # Events committed, by type (exported as userservice_events_written_total).
        self.events_written: collections.Counter[str] = collections.Counter()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self._db.transaction() as session:
            uow = SqlUnitOfWork(session, self._box)
            yield uow
            # Last, just before the commit: the events' lock is held only as long as that takes.
            written = await uow.events.flush()
        if written:
            self.events_written.update(written)
            self._events_committed()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self._db.read() as session:
            yield SqlUnitOfWork(session, self._box)
