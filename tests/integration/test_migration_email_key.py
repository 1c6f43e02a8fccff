"""Migration 0005 on a database with users: every user gets its email_key, look-alikes that
already exist are both kept (the later one with a key of its own), sessions keep their user, and
each of the two still logs in with its exact address."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from server.repositories.database import create_engine
from server.repositories.migrations import alembic_config, upgrade_to_head
from server.repositories.models import SessionRow, UserRow
from server.repositories.users import UserRepository
from tests.support import servers
from tests.support.backends import Backend

FULLWIDTH_K = "\uff4b"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FULLWIDTH_W = "\uff57"
# More than one backfill batch (1,000 users), so that a collision is found across batches.
OTHER_USERS = 2100
USERS = UserRow.__table__  # rows are inserted without email_key, as before 0005


@pytest.fixture
async def engine(backend: Backend, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(servers.settings_for_test(backend, tmp_path))
    try:
        yield engine
    finally:
        await engine.dispose()


def _upgrade_to_0004(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "0004")


def _user(email: str, created: int) -> dict[str, object]:
    at = START + dt.timedelta(minutes=created)
    return {
        "id": uuid.uuid4(),
        "email": email,
        "password_hash": "hash",
        "display_name": email.split("@")[0],
        "role": "user",
        "state": "active",
        "email_verified": False,
        "version": 1,
        "created_at": at,
        "updated_at": at,
    }


async def _id_by_email(repository: UserRepository, email: str) -> uuid.UUID | None:
    found = await repository.get_by_email(email)
    return None if found is None else found.user.id


async def _keys(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as connection:
        rows = await connection.execute(sa.select(UserRow.email, UserRow.email_key))
        return {row.email: row.email_key for row in rows}


async def test_existing_users_get_their_key_and_lookalikes_are_all_kept(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_to_0004)
    first = _user("known@example.com", created=1)
    later = _user(f"{FULLWIDTH_K}nown@example.com", created=2)
    others = [_user(f"user{n}@example.com", created=n) for n in range(OTHER_USERS)]
    latest = _user(f"kno{FULLWIDTH_W}n@example.com", created=OTHER_USERS + 1)
    session_id = uuid.uuid4()
    async with engine.begin() as connection:
        # Inserted newest first: the backfill's order is created_at's, not the table's.
        await connection.execute(sa.insert(USERS), [latest, later, *others, first])
        await connection.execute(
            sa.insert(SessionRow.__table__),
            {
                "id": session_id,
                "user_id": first["id"],
                "created_at": START,
                "last_used_at": START,
                "expires_at": START + dt.timedelta(days=30),
                "client_ip": "",
                "user_agent": "",
            },
        )

    with caplog.at_level(logging.WARNING, logger="userservice.migrations"):
        await upgrade_to_head(engine)

    keys = await _keys(engine)
    assert keys["known@example.com"] == "known@example.com"
    assert keys[str(later["email"])] == f"known@example.com#{later['id']}"
    assert keys[str(latest["email"])] == f"known@example.com#{latest['id']}"
    assert all(keys[f"user{n}@example.com"] == f"user{n}@example.com" for n in range(OTHER_USERS))
    collisions = [r for r in caplog.records if "collision" in r.getMessage()]
    assert {str(later["id"]), str(latest["id"])} <= {
        word for r in collisions for word in r.getMessage().replace(";", " ").split()
    }
    async with engine.connect() as connection:
        owner = await connection.scalar(
            sa.select(SessionRow.user_id).where(SessionRow.id == session_id)
        )
    assert owner == first["id"]  # the table rebuild did not run ON DELETE SET NULL


async def test_after_a_collision_each_user_is_found_by_its_exact_address_and_can_be_saved(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_to_0004)
    first = _user("known@example.com", created=1)
    later = _user(f"{FULLWIDTH_K}nown@example.com", created=2)
    async with engine.begin() as connection:
        await connection.execute(sa.insert(USERS), [first, later])
    await upgrade_to_head(engine)

    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        repository = UserRepository(session)
        assert await _id_by_email(repository, "known@example.com") == first["id"]
        assert await _id_by_email(repository, str(later["email"])) == later["id"]
        # Another look-alike spelling is the account that holds the shared key.
        assert await _id_by_email(repository, f"kno{FULLWIDTH_W}n@example.com") == first["id"]
        found_later = await repository.get_by_email(str(later["email"]))
        assert found_later is not None
        # Saving the later user keeps its own key: the save must not collide with the first.
        renamed = dataclasses.replace(found_later.user, display_name="Renamed", version=2)
        await repository.save(renamed)

    keys = await _keys(engine)
    assert keys[str(later["email"])] == f"known@example.com#{later['id']}"
