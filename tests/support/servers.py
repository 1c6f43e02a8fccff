"""Settings for tests and a running application on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc.aio

from server.app import Application, running_application
from server.config import Settings
from tests.support.backends import Backend


def settings_for_test(backend: Backend, workdir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "development",
        "database_url": backend.database_url,
        "redis_url": backend.redis_url,
        "redis_key_prefix": backend.redis_key_prefix,
        "host": "127.0.0.1",
        "port": 0,
        "metrics_port": 0,
        "keys_dir": workdir / "keys",
        "health_check_interval_seconds": 0.1,
        "shutdown_grace_seconds": 2.0,
        "shutdown_drain_seconds": 0,
        # A key a test writes signs at once (tests of the activation delay set their own).
        "jwt_key_activation_seconds": 0,
        # The OWASP minimum costs ~30 ms a hash; tests take the same parameters production allows.
        "argon2_memory_kib": 19456,
        "argon2_time_cost": 2,
        # Tests release bursts of sign-ups and logins larger than the hashing pool; the
        # admission tests (test_hashing_pool_full.py) set the production bound themselves.
        "hashing_queue_per_thread": 1000,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Application, grpc.aio.Channel]]:
    async with (
        running_application(settings, shutdown_grace=1.0) as app,
        grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        yield app, channel
