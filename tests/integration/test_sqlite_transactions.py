"""On the embedded database, writing units of work run one at a time: one that reads a row and
writes what it read cannot have another commit in between (no lost update), and reads still
proceed while a writer holds the lock."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.domain import Role
from server.repositories.database import Database, create_engine
from server.repositories.migrations import upgrade_to_head
from server.repositories.users import UserRepository
from tests.support.backends import backend_named
from tests.support.servers import settings_for_test

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
# How long the first unit of work gives the second to commit in between. The old code let it,
# well within this; the new one makes it wait for the first one's commit, however long that is.
CHANCE_TO_INTERLEAVE_SECONDS = 1.0


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    async with backend_named("embedded", str(tmp_path / "userservice.db")) as backend:
        settings = settings_for_test(backend, tmp_path)
        engine = create_engine(settings)
        await upgrade_to_head(engine)
        try:
            yield Database(engine, timeout_seconds=settings.database_timeout_seconds)
        finally:
            await engine.dispose()


async def _add_user(database: Database) -> uuid.UUID:
    async with database.transaction() as session:
        user = await UserRepository(session).add(
            email="race@example.com", password_hash="h", display_name="0", role=Role.USER, now=NOW
        )
    return user.id


async def test_a_read_then_write_unit_of_work_is_not_interleaved_with_another_writer(
    database: Database,
) -> None:
    user_id = await _add_user(database)
    first_has_read = asyncio.Event()
    second_committed = asyncio.Event()

    async def increment(*, first: bool) -> None:
        """Reads the user's version and writes version + 1: a lost update shows as a version
        that counts fewer increments than ran."""
        async with database.transaction() as session:
            users = UserRepository(session)
            stored = await users.get(user_id)
            assert stored is not None
            if first:
                first_has_read.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(second_committed.wait(), CHANCE_TO_INTERLEAVE_SECONDS)
                # Serialised, the second one cannot have committed while this one is open.
                assert not second_committed.is_set()
            user = stored.user
            await users.save(dataclasses.replace(user, version=user.version + 1))

    async def second() -> None:
        await first_has_read.wait()
        await increment(first=False)
        second_committed.set()

    await asyncio.gather(increment(first=True), second())

    async with database.read() as session:
        stored = await UserRepository(session).get(user_id)
    assert stored is not None
    assert stored.user.version == 3


async def test_a_read_proceeds_while_a_writer_holds_the_lock(database: Database) -> None:
    user_id = await _add_user(database)
    writer_has_read = asyncio.Event()
    reader_done = asyncio.Event()

    async def writer() -> None:
        async with database.transaction() as session:
            users = UserRepository(session)
            assert await users.get(user_id) is not None
            writer_has_read.set()
            await reader_done.wait()  # would never end if the read waited for this writer

    async def reader() -> None:
        await writer_has_read.wait()
        async with database.read() as session:
            assert await UserRepository(session).get(user_id) is not None
        reader_done.set()

    await asyncio.wait_for(asyncio.gather(writer(), reader()), timeout=5)
