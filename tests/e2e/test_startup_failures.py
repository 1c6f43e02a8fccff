"""What an operator sees when the service cannot start: one line naming the setting or the fix,
a non-zero exit and no traceback; and, when it does start, which database, Redis store and
signing key it uses. Each case is a real process (tests/support/process.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.backends import POSTGRES_DSN
from tests.support.ports import free_port
from tests.support.process import (
    embedded_env,
    parse_log_line,
    run_at_terminal,
    run_userservice,
    running_service,
    userservice_command,
)

pytestmark = pytest.mark.e2e

SERVE = ("serve", "--host", "127.0.0.1", "--port", "0")


def postgres_url(database: str, password: str = "") -> str:
    """A URL on the test PostgreSQL server (trust authentication: any password is accepted)."""
    base = POSTGRES_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    if password:
        base = base.replace("postgres@", f"postgres:{password}@", 1)
    return f"{base}/{database}"


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a `serve` that could not start (JSON logs), or a failed assert."""
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [
        entry
        for line in result.stderr.splitlines()
        if (entry := parse_log_line(line)) is not None and entry.get("level") == "error"
    ]
    assert [e["event"] for e in errors] == ["cannot start"], result.stderr
    return str(errors[0]["error"])


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The whole stderr of a command that refused, which must be one line."""
    assert result.returncode != 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("0.0.0.0", 0))  # as the metrics listener binds by default
        holder.listen()
        yield holder.getsockname()[1]


def test_an_unreachable_postgresql_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres:hunter2-secret@127.0.0.1:{free_port()}/userservice"
    env = embedded_env(tmp_path, database_url=url)

    served = run_userservice(SERVE, env, cwd=tmp_path)
    migrated = run_userservice(["migrate"], env, cwd=tmp_path)

    for line in (refusal(served), one_line(migrated)):
        assert "USERSERVICE_DATABASE_URL" in line
        assert "cannot reach" in line
        assert "hunter2-secret" not in line
        assert "postgres:***@127.0.0.1" in line
    assert served.returncode == 1
    assert migrated.returncode == 1


@pytest.mark.postgres
def test_a_missing_postgresql_database_is_one_line_saying_how_to_create_it(
    tmp_path: Path,
) -> None:
    name = f"userservice_missing_{uuid.uuid4().hex[:12]}"
    env = embedded_env(tmp_path, database_url=postgres_url(name))

    served = run_userservice(SERVE, env, cwd=tmp_path)

    if "cannot reach" in served.stderr:
        pytest.skip(f"PostgreSQL at {POSTGRES_DSN} is unreachable")
    line = refusal(served)
    assert "USERSERVICE_DATABASE_URL" in line
    assert f"database '{name}' does not exist" in line
    assert f"createdb -h 127.0.0.1 -p 5432 -U postgres {name}" in line
    assert served.returncode == 2
    # Production does not migrate on start; it fails at start all the same.
    production = run_userservice(
        SERVE, {**env, "USERSERVICE_MIGRATE_ON_START": "false"}, cwd=tmp_path
    )
    assert f"database '{name}' does not exist" in refusal(production)


def test_a_taken_metrics_port_is_one_line_naming_the_setting(
    tmp_path: Path, taken_port: int
) -> None:
    served = run_userservice(
        SERVE, embedded_env(tmp_path, metrics_port=str(taken_port)), cwd=tmp_path
    )

    line = refusal(served)
    assert line.startswith("USERSERVICE_METRICS_PORT: ")
    assert f":{taken_port}" in line
    assert "0 to turn the metrics listener off" in line
    assert served.returncode == 2


def test_a_taken_grpc_port_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        served = run_userservice(
            ["serve", "--host", "127.0.0.1", "--port", str(port)],
            embedded_env(tmp_path),
            cwd=tmp_path,
        )

    line = refusal(served)
    assert line.startswith("USERSERVICE_PORT: ")
    assert f"127.0.0.1:{port}" in line
    assert served.returncode == 2


def test_the_traceback_of_a_start_up_failure_is_logged_at_debug_only(
    tmp_path: Path, taken_port: int
) -> None:
    env = embedded_env(tmp_path, metrics_port=str(taken_port), log_level="DEBUG")

    served = run_userservice(SERVE, env, cwd=tmp_path)

    assert served.returncode == 2
    debug = [
        entry
        for line in served.stderr.splitlines()
        if (entry := parse_log_line(line)) is not None
        and entry.get("level") == "debug"
        and entry.get("event") == "cannot start"
    ]
    assert len(debug) == 1, served.stderr
    assert "Address already in use" in str(debug[0].get("exception")), debug


def test_production_reports_every_configuration_error_at_once(tmp_path: Path) -> None:
    env = {
        "USERSERVICE_ENVIRONMENT": "production",
        "USERSERVICE_KEYS_DIR": str(tmp_path / "no-keys"),
        "USERSERVICE_METRICS_PORT": "not-a-port",
    }

    served = run_userservice(SERVE, env, cwd=tmp_path)

    assert served.returncode == 2
    assert "Traceback" not in served.stderr
    for setting in ("DATABASE_URL", "REDIS_URL", "PAGE_TOKEN_SECRET", "KEYS_DIR", "METRICS_PORT"):
        assert served.stderr.count(f"USERSERVICE_{setting}") == 1, served.stderr


def test_the_start_up_log_names_the_database_redis_migrations_and_key(tmp_path: Path) -> None:
    with running_service(embedded_env(tmp_path), cwd=tmp_path) as first:
        [database] = first.events("database")
        [redis] = first.events("redis")
        [key] = first.events("signing key generated")
    with running_service(embedded_env(tmp_path), cwd=tmp_path) as second:
        [again] = second.events("database")
        assert second.events("signing key generated") == []
        assert second.events("signing keys")

    assert database["database"] == f"SQLite at {(tmp_path / 'userservice.db').resolve()}"
    assert database["migrations"].startswith("applied (empty → ")
    assert again["migrations"].startswith("none needed")
    assert redis["store"].startswith("memory://")
    assert key["path"].startswith(str((tmp_path / "keys").resolve()))


@pytest.mark.postgres
def test_the_start_up_log_masks_the_database_password(tmp_path: Path) -> None:
    env = embedded_env(
        tmp_path,
        database_url=postgres_url("postgres", password="hunter2-secret"),
        migrate_on_start="false",
    )
    with running_service(env, cwd=tmp_path) as service:
        [database] = service.events("database")
        stderr = service.stderr

    if "unreachable" in stderr:
        pytest.skip(f"PostgreSQL at {POSTGRES_DSN} is unreachable")
    assert "hunter2-secret" not in stderr
    assert database["database"].startswith("postgresql+asyncpg://postgres:***@")
    assert database["migrations"].startswith("not run")


def test_create_admin_from_another_directory_refuses_to_make_a_new_database(
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"USERSERVICE_ADMIN_PASSWORD": "saffron-tundra-beacon-71"}  # the default database URL

    made = run_userservice(["create-admin", "--email", "root@example.com"], env, cwd=elsewhere)
    listed = run_userservice(["service-accounts", "list"], env, cwd=elsewhere)

    for line in (one_line(made), one_line(listed)):
        assert line.startswith("userservice: USERSERVICE_DATABASE_URL: no database at ")
        assert str(elsewhere / "var" / "userservice.db") in line
        assert "userservice migrate" in line
    assert made.returncode == 2
    assert not (elsewhere / "var").exists()


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(
            [*userservice_command(), "create-admin", "--email", "a@example.com"], id="userservice"
        ),
        pytest.param(
            [
                str(Path(sys.executable).parent / "userservice-client"),
                "--address",
                "127.0.0.1:1",
                "login",
                "--email",
                "a@example.com",
            ],
            id="userservice-client",
        ),
    ],
)
def test_ctrl_d_at_a_password_prompt_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    if command[0] == userservice_command()[0]:
        migrated = run_userservice(["migrate"], {}, cwd=tmp_path)
        assert migrated.returncode == 0, migrated.stderr
    env = {"HOME": str(tmp_path)}

    prompt = "Password: " if command[0] == userservice_command()[0] else "a@example.com: "
    status, stderr = run_at_terminal(command, env, cwd=tmp_path, prompt=prompt, keys=b"\x04")

    assert status == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "no password given" in lines[0]
