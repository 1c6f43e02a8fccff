"""The database: engine built in the composition root, and units of work bounded by the deadline.

Every unit of work runs under `asyncio.timeout` (the RPC's remaining deadline, at most the
configured database timeout). A lost or refused connection becomes `Unavailable` and an expired
deadline `DeadlineExceeded`: the transaction is rolled back, so nothing is half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from server.config import Settings
from server.deadlines import budget, deadline_passed
from server.errors import DeadlineExceeded, Reason, Unavailable
from server.observability.spans import SpanOpener

# An execution option: the transaction will write (SQLite begins it IMMEDIATE).
_WRITES = "userservice_writes"
_NO_SPAN = contextlib.nullcontext()


def create_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(settings)
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_timeout_seconds,
        # A connection killed under us (failover, pg_terminate_backend) is replaced, not reused.
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "timeout": settings.database_timeout_seconds,
            "server_settings": {"application_name": "userservice"},
        },
    )


def _sqlite_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.database_url)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # The timeout is SQLite's busy timeout: a writer waits that long for the lock, then fails.
    engine = create_async_engine(url, connect_args={"timeout": settings.database_timeout_seconds})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite opens a transaction itself, and only before the first INSERT/UPDATE/DELETE: the
        # SELECTs of a unit of work would run outside it, and another writer could commit between
        # a read and the write that depends on it. Off, so that `_begin` decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        # A writing unit of work takes SQLite's write lock before its first read (IMMEDIATE), so
        # write units run one at a time, each on data no other can change before it commits;
        # the others wait up to the busy timeout. Reads take a snapshot (DEFERRED) and never wait.
        immediate = connection.get_execution_options().get(_WRITES, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN DEFERRED")

    return engine


# SQLSTATE classes meaning "the database cannot serve now", not "this statement is wrong":
# 08 connection exception, 53 insufficient resources (53300 too many connections), 57P shutdown,
# crash and "cannot connect now" (starting up, shutting down, in recovery), 58 system error.
# asyncpg reports these as plain PostgresErrors, which SQLAlchemy wraps as a bare DBAPIError.
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P", "58")


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error: asyncpg's own, or the one SQLAlchemy wraps (`.orig`)."""
    for candidate in (exc, getattr(exc, "orig", None), exc.__cause__):
        code = getattr(candidate, "sqlstate", None)
        if isinstance(code, str) and code:
            return code
    return None


def is_connectivity_error(exc: BaseException) -> bool:
    """The database could not be reached, dropped the connection or cannot serve now (shutting
    down, starting up, out of connection slots), as opposed to a bad statement."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | OSError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    code = sqlstate(exc)
    return code is not None and code.startswith(UNAVAILABLE_SQLSTATE_PREFIXES)


class Database:
    def __init__(
        self, engine: AsyncEngine, *, timeout_seconds: float, spans: SpanOpener | None = None
    ) -> None:
        self.engine = engine
        self._spans = spans
        self._span_attributes = {"db.system": engine.dialect.name}
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._writes = async_sessionmaker(
            engine.execution_options(**{_WRITES: True}), expire_on_commit=False
        )
        self._timeout = timeout_seconds
        self._closing: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends, rolled back if it raises. On SQLite
        it holds the database's write lock from its first statement (units are serialised); on
        PostgreSQL it is READ COMMITTED, and a read that a write depends on takes a row lock."""
        async with self._unit(self._writes, commit=True, name="database transaction") as session:
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Reads only; nothing is committed."""
        async with self._unit(self._sessions, commit=False, name="database read") as session:
            yield session

    @asynccontextmanager
    async def _unit(
        self, sessions: async_sessionmaker[AsyncSession], *, commit: bool, name: str
    ) -> AsyncIterator[AsyncSession]:
        # A child span of the call's, when tracing is on: the unit from connect to commit.
        span = _NO_SPAN if self._spans is None else self._spans(name, self._span_attributes)
        with span:
            async with self._bounded():
                session = sessions()
                await self._connected(session)
                try:
                    yield session
                    if commit:
                        await session.commit()
                finally:
                    await session.close()  # rolls back what was not committed

    async def _connected(self, session: AsyncSession) -> None:
        """Takes the unit's connection in a task of its own, so that the unit's bound holds.

        Opening a connection to a database that hangs is where a cancellation can be lost
        (asyncpg retries without TLS after its connect timeout, and a cancel that lands as that
        timeout fires is swallowed on Python 3.11): the unit would outlive its bound by further
        connect timeouts. Cancelled meanwhile, the unit fails now; the connect ends by its own
        timeout and the session is closed after it, in the background."""
        opening = asyncio.create_task(session.connection(), name="database-connect")
        try:
            await asyncio.shield(opening)
        except asyncio.CancelledError:
            closing = asyncio.create_task(_close_after(opening, session), name="database-close")
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
            raise
        except BaseException:
            await session.close()
            raise

    @asynccontextmanager
    async def _bounded(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(budget(self._timeout)):
                yield
        except TimeoutError:
            if deadline_passed():
                raise DeadlineExceeded(
                    "the call's deadline passed", reason=Reason.DEADLINE_EXCEEDED
                ) from None
            raise database_unavailable() from None
        except Exception as exc:  # asyncpg's own errors can escape SQLAlchemy's wrapping
            if not is_connectivity_error(exc):
                raise
            raise database_unavailable() from exc


async def _close_after(opening: asyncio.Task[Any], session: AsyncSession) -> None:
    with contextlib.suppress(BaseException):
        await opening
    with contextlib.suppress(Exception):
        await session.close()


def database_unavailable() -> Unavailable:
    return Unavailable(
        "the database is unavailable; retry later", reason=Reason.DATABASE_UNAVAILABLE
    )
