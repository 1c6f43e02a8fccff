"""Applying Alembic migrations from inside the running loop, and reading the schema revision."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from server.errors import Unavailable
from server.repositories.database import database_unavailable, is_connectivity_error

_SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "migrations"
# Any constant: replicas starting together take turns instead of racing the same DDL.
_PG_MIGRATION_LOCK = 0x75736572


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPT_LOCATION))
    return config


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _upgrade_in_transaction(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration rebuilds a table, and SQLite's DROP TABLE with foreign keys enforced
        # runs their ON DELETE actions (every session would lose its user). The pragma only
        # changes outside a transaction; the check below still refuses a dangling reference.
        _driver_pragma(connection, "foreign_keys=OFF")
    try:
        with connection.begin():
            _upgrade(connection)
            if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                raise RuntimeError("the migration left rows referencing missing ones; rolled back")
    finally:
        if sqlite:
            _driver_pragma(connection, "foreign_keys=ON")


def _driver_pragma(connection: Connection, pragma: str) -> None:
    # Straight to the driver: through SQLAlchemy the statement would open a transaction first.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Unavailable (DATABASE_UNAVAILABLE) when the database cannot serve (down, starting up)."""
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade_in_transaction)
    except Exception as exc:
        if is_connectivity_error(exc):
            raise database_unavailable() from exc
        raise


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """Unavailable (DATABASE_UNAVAILABLE) when the database cannot serve (down, starting up)."""
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    except Exception as exc:
        if is_connectivity_error(exc):
            raise database_unavailable() from exc
        raise


async def prepare_schema(engine: AsyncEngine, *, migrate: bool) -> tuple[str, bool]:
    """What start-up did to the schema, for the log, and whether the database answered.

    A database that does not exist or refuses the credentials raises here, at start; one that
    is merely down raises Unavailable when migrating, and otherwise only keeps readiness
    NOT_SERVING until it answers (`False`)."""
    head = head_revision()
    if not migrate:
        try:
            revision = await current_revision(engine)
        except Unavailable:
            return "not run (USERSERVICE_MIGRATE_ON_START is off); database unreachable", False
        return f"not run (USERSERVICE_MIGRATE_ON_START is off); schema at {revision}", True
    before = await current_revision(engine)
    await upgrade_to_head(engine)
    if before == head:
        return f"none needed (at {head})", True
    return f"applied ({before or 'empty'} → {head})", True
