"""Migrations: an empty database reaches head, the models match the schema, re-running is safe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from server.repositories.database import create_engine
from server.repositories.migrations import current_revision, head_revision, upgrade_to_head
from server.repositories.models import Base
from tests.support import servers
from tests.support.backends import Backend


@pytest.fixture
async def engine(backend: Backend, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(servers.settings_for_test(backend, tmp_path))
    try:
        yield engine
    finally:
        await engine.dispose()


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_brings_an_empty_database_to_head(engine: AsyncEngine) -> None:
    assert await current_revision(engine) is None

    await upgrade_to_head(engine)

    assert await current_revision(engine) == head_revision()
    async with engine.connect() as connection:
        tables = await connection.run_sync(_tables)
    assert set(Base.metadata.tables) <= tables


async def test_the_models_match_the_migrated_schema(engine: AsyncEngine) -> None:
    await upgrade_to_head(engine)

    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)

    assert differences == []


async def test_upgrading_a_database_already_at_head_changes_nothing(engine: AsyncEngine) -> None:
    await upgrade_to_head(engine)

    await upgrade_to_head(engine)

    assert await current_revision(engine) == head_revision()
    async with engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
