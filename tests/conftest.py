from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc.aio
import pytest

from server.app import Application
from server.config import Settings
from server.observability.logging import configure_logging
from tests.support.backends import Backend, backend_named
from tests.support.servers import serving, settings_for_test

# Once, before any server runs (grpc#43421: reconfiguring logging during calls can deadlock).
configure_logging(level="WARNING", json_logs=False)


@pytest.fixture(params=["embedded", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each test using this runs twice: SQLite + memory://, and PostgreSQL + Redis."""
    async with backend_named(request.param, str(tmp_path / "userservice.db")) as value:
        yield value


@pytest.fixture
async def postgres_backend(tmp_path: Path) -> AsyncIterator[Backend]:
    async with backend_named("postgres", str(tmp_path / "unused.db")) as value:
        yield value


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    return settings_for_test(backend, tmp_path)


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[tuple[Application, grpc.aio.Channel]]:
    async with serving(settings) as pair:
        yield pair


@pytest.fixture
def app(served: tuple[Application, grpc.aio.Channel]) -> Application:
    return served[0]


@pytest.fixture
def channel(served: tuple[Application, grpc.aio.Channel]) -> grpc.aio.Channel:
    return served[1]


# Left out of `make test`, run by `make test-all` (CI): fault injection with private PostgreSQL
# and Redis servers or a stalling proxy, long races, and whole-product runs. Listed here, by
# module or folder, so that the split is seen in one place; any test may mark itself slow too.
SLOW_MODULES = (
    "tests/integration/test_revocation_faults.py",
    "tests/integration/test_postgres_faults.py",
    "tests/integration/redis_outage/",
    "tests/integration/test_replication.py",
    "tests/integration/test_database_connections_cut.py",
    "tests/integration/test_database_refusing_or_hanging.py",
    "tests/integration/test_user_cache_races.py",
    "tests/integration/test_user_cache_faults.py",
    "tests/integration/test_event_replicas.py",
    "tests/e2e/test_load_balancing.py",
    "tests/e2e/test_bench_smoke.py",
    "tests/e2e/test_readme_walkthrough.py",
)
ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().relative_to(ROOT).as_posix().startswith(SLOW_MODULES):
            item.add_marker(pytest.mark.slow)
