"""`userservice serve` refusing to start (taken port, bad settings), and `userservice migrate`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from server.repositories.migrations import head_revision
from tests.support.backends import postgres_database
from tests.support.ports import free_port
from tests.support.process import embedded_env, run_health, run_userservice, running_service

pytestmark = pytest.mark.e2e


def test_a_taken_port_is_refused_naming_the_address(tmp_path: Path) -> None:
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    with running_service(embedded_env(first_dir), cwd=first_dir) as first:
        address = f"127.0.0.1:{first.port}"

        second = run_userservice(
            ["serve", "--host", "127.0.0.1", "--port", str(first.port)],
            embedded_env(second_dir),
            cwd=second_dir,
            timeout=15,
        )

        assert second.returncode == 2, second.stderr
        assert "cannot listen" in second.stderr
        assert address in second.stderr
        still_there = run_health(address, first_dir)
        assert still_there.returncode == 0, still_there.stderr
        assert first.process.poll() is None


@pytest.mark.parametrize(
    ("setting", "overrides"),
    [
        ("USERSERVICE_DATABASE_URL", {"environment": "production"}),
        ("USERSERVICE_PORT", {"port": "notanumber"}),
    ],
)
def test_invalid_configuration_exits_2_naming_the_setting(
    tmp_path: Path, setting: str, overrides: dict[str, str]
) -> None:
    # No --port on the command line: the port comes from the environment.
    result = run_userservice(
        ["serve", "--host", "127.0.0.1"],
        embedded_env(tmp_path, **overrides),
        cwd=tmp_path,
        timeout=15,
    )

    assert result.returncode == 2
    assert "invalid configuration" in result.stderr
    assert setting in result.stderr


def test_workers_with_the_in_process_store_are_refused(tmp_path: Path) -> None:
    result = run_userservice(
        ["serve", "--host", "127.0.0.1", "--port", str(free_port()), "--workers", "2"],
        embedded_env(tmp_path),
        cwd=tmp_path,
        timeout=15,
    )

    assert result.returncode == 2
    assert "USERSERVICE_REDIS_URL" in result.stderr


@pytest.mark.postgres
async def test_migrate_brings_a_fresh_postgres_database_to_head_and_can_run_again(
    tmp_path: Path,
) -> None:
    async with postgres_database() as database_url:
        env = embedded_env(tmp_path, database_url=database_url)

        first = await asyncio.to_thread(run_userservice, ["migrate"], env, cwd=tmp_path)
        second = await asyncio.to_thread(run_userservice, ["migrate"], env, cwd=tmp_path)

        connection = await asyncpg.connect(database_url.replace("+asyncpg", "", 1), timeout=5)
        try:
            revision = await connection.fetchval("SELECT version_num FROM alembic_version")
        finally:
            await connection.close()

    for result in (first, second):
        assert result.returncode == 0, result.stderr
        assert f"schema at {head_revision()}" in result.stdout
    assert revision == head_revision()
