"""An in-memory unit of work: the storage the services see, without a database.

Dict-backed and honest about transactions: a transaction works on a copy of the committed state
and publishes it only when its block ends without an error; a read never publishes anything.
Transactions take turns (one writer at a time, as on SQLite), which stands in for row locks.
A taken email raises the same AlreadyExists (EMAIL_TAKEN) as the SQL repositories.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.support.memory_events import MemoryEvents
from tests.support.memory_repositories import (
    MemoryIdempotency,
    MemoryRefreshTokens,
    MemoryServiceAccounts,
    MemorySessions,
    MemoryState,
    MemoryUsers,
)


class MemoryUnitOfWork:
    def __init__(self, state: MemoryState) -> None:
        self.users = MemoryUsers(state)
        self.sessions = MemorySessions(state)
        self.refresh_tokens = MemoryRefreshTokens(state)
        self.service_accounts = MemoryServiceAccounts(state)
        self.idempotency = MemoryIdempotency(state)
        self.events = MemoryEvents(state)


class MemoryUnitOfWorkFactory:
    """What the services are given instead of the SQL factory; `state` is the committed state,
    for tests to inspect."""

    def __init__(self) -> None:
        self.state = MemoryState()
        self.commits = 0
        self._writer = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[MemoryUnitOfWork]:
        async with self._writer:
            working = self.state.copy()
            yield MemoryUnitOfWork(working)
            self.state = working  # reached only when the block did not raise
            self.commits += 1

    @asynccontextmanager
    async def read(self) -> AsyncIterator[MemoryUnitOfWork]:
        yield MemoryUnitOfWork(self.state.copy())
