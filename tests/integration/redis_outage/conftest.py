"""Redis down: slower, never wrong (ARCHITECTURE.md, "Replication and faults").

The application runs on PostgreSQL and a redis-server of the test's own, which the test kills
and restarts (a restarted Redis is a new, empty one). While Redis is down, reads come from the
database, revocations are checked against the database and failed logins are still counted in
the process; once Redis is back, the same application uses it again without a restart, and no
revocation is forgotten — neither one made during the outage nor one whose Redis copy the restart
lost. test_redis_outage_user_cache.py and test_redis_outage_sessions.py share the fixtures here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc.aio
import pytest
import redis.asyncio as redis_asyncio

from server.app import Application
from tests.support.backends import Backend, postgres_database
from tests.support.private_redis import PrivateRedis, private_redis
from tests.support.redis_outage import FAILED_LOGINS_ALLOWED
from tests.support.servers import serving, settings_for_test


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    async with private_redis(tmp_path / "redis") as server:
        yield server


@pytest.fixture
async def served(
    redis_server: PrivateRedis, tmp_path: Path
) -> AsyncIterator[tuple[Application, grpc.aio.Channel]]:
    async with postgres_database() as database_url:
        backend = Backend("postgres", database_url, redis_server.url, "outage:")
        # Redis is the only cache here: these tests watch its keys, which a read served from the
        # process's own copy (tested in test_replication.py) would never refill.
        settings = settings_for_test(
            backend, tmp_path, login_failures_per_account=FAILED_LOGINS_ALLOWED, user_cache_size=0
        )
        # conftest's `app` and `channel` fixtures take theirs from this `served`.
        async with serving(settings) as pair:
            yield pair


@pytest.fixture
async def inspector(redis_server: PrivateRedis) -> AsyncIterator[redis_asyncio.Redis]:
    """The test's own client of the private Redis, to see what the application keeps there."""
    client = redis_server.client()
    try:
        yield client
    finally:
        await client.aclose()
