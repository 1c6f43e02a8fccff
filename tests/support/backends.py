"""Real PostgreSQL and Redis for tests: a fresh database and a fresh key prefix per test.

Unreachable backends skip the test with the reason, except when
USERSERVICE_TEST_REQUIRE_BACKENDS=1 (CI), where they fail it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import pytest
import redis.asyncio as redis_asyncio

POSTGRES_DSN = os.environ.get(
    "USERSERVICE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("USERSERVICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_BACKENDS = os.environ.get("USERSERVICE_TEST_REQUIRE_BACKENDS") == "1"


def unavailable(what: str, error: BaseException) -> None:
    message = f"{what} is unreachable ({type(error).__name__}: {error})"
    if REQUIRE_BACKENDS:
        pytest.fail(f"{message}; USERSERVICE_TEST_REQUIRE_BACKENDS=1 forbids skipping")
    pytest.skip(message)


@dataclass(frozen=True, slots=True)
class Backend:
    """Where one test's application keeps its state."""

    name: str  # "embedded" (SQLite + memory://) or "postgres" (PostgreSQL + Redis)
    database_url: str
    redis_url: str
    redis_key_prefix: str

    @property
    def shared_redis(self) -> bool:
        return not self.redis_url.startswith("memory://")


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A new, empty database; dropped afterwards. Yields its SQLAlchemy URL."""
    name = f"userservice_test_{uuid.uuid4().hex[:16]}"
    try:
        admin = await asyncpg.connect(POSTGRES_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unavailable(f"PostgreSQL at {POSTGRES_DSN}", exc)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base = POSTGRES_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def redis_prefix() -> AsyncIterator[str]:
    """A unique key prefix on the shared Redis; its keys are deleted afterwards (never a flush)."""
    prefix = f"ustest:{uuid.uuid4().hex[:12]}:"
    client = redis_asyncio.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (OSError, redis_asyncio.RedisError) as exc:
        await client.aclose()
        unavailable(f"Redis at {REDIS_URL}", exc)
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@asynccontextmanager
async def backend_named(name: str, sqlite_path: str) -> AsyncIterator[Backend]:
    if name == "embedded":
        yield Backend(name, f"sqlite+aiosqlite:///{sqlite_path}", "memory://", "userservice:")
        return
    async with postgres_database() as database_url, redis_prefix() as prefix:
        yield Backend(name, database_url, REDIS_URL, prefix)
