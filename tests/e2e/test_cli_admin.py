"""`userservice create-admin` and `userservice keys generate`, run as an operator runs them."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.process import process_env

pytestmark = pytest.mark.e2e

PASSWORD = "saffron-tundra-beacon-71"
TIMEOUT_SECONDS = 60


def cli_env(workdir: Path, **extra: str) -> dict[str, str]:
    return process_env(
        {
            "USERSERVICE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'db.sqlite'}",
            "USERSERVICE_REDIS_URL": "memory://",
            "USERSERVICE_KEYS_DIR": str(workdir / "keys"),
            "USERSERVICE_METRICS_PORT": "0",
            **extra,
        }
    )


def userservice(
    workdir: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    # cwd is the temporary directory, so no `.env` of the developer's is read.
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        input=stdin,
        env=cli_env(workdir, **env),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture(autouse=True)
def migrated(tmp_path: Path) -> None:
    """The database exists, as it does where the server runs: operators' commands never make
    one (they say where they looked; see test_startup_failures.py)."""
    done = userservice(tmp_path, "migrate")
    assert done.returncode == 0, done.stderr


def stored_users(workdir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(workdir / "db.sqlite") as db:
        return list(db.execute("SELECT email, role FROM users ORDER BY email"))


def test_create_admin_reads_the_password_from_stdin_and_prints_the_normalised_email(
    tmp_path: Path,
) -> None:
    result = userservice(
        tmp_path, "create-admin", "--email", "Root@Example.com", stdin=PASSWORD + "\n"
    )

    assert result.returncode == 0, result.stderr
    assert "root@example.com" in result.stdout
    assert "Root@Example.com" not in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    assert stored_users(tmp_path) == [("root@example.com", "admin")]


def test_create_admin_reads_the_password_from_the_environment(tmp_path: Path) -> None:
    result = userservice(
        tmp_path,
        "create-admin",
        "--email",
        "ops@example.com",
        USERSERVICE_ADMIN_PASSWORD=PASSWORD,
    )

    assert result.returncode == 0, result.stderr
    assert "ops@example.com" in result.stdout
    assert stored_users(tmp_path) == [("ops@example.com", "admin")]


def test_create_admin_refuses_a_password_the_policy_refuses(tmp_path: Path) -> None:
    result = userservice(tmp_path, "create-admin", "--email", "root@example.com", stdin="short\n")

    assert result.returncode == 1
    assert "PASSWORD_TOO_SHORT" in result.stderr
    assert stored_users(tmp_path) == []


def test_create_admin_refuses_an_email_that_is_taken_in_any_case(tmp_path: Path) -> None:
    first = userservice(tmp_path, "create-admin", "--email", "root@example.com", stdin=PASSWORD)
    assert first.returncode == 0, first.stderr

    again = userservice(tmp_path, "create-admin", "--email", "ROOT@example.com", stdin=PASSWORD)

    assert again.returncode == 1
    assert "EMAIL_TAKEN" in again.stderr
    assert stored_users(tmp_path) == [("root@example.com", "admin")]


def test_create_admin_has_no_password_flag(tmp_path: Path) -> None:
    # A password on the command line would sit in the shell history and in `ps` output.
    result = userservice(
        tmp_path, "create-admin", "--email", "root@example.com", "--password", PASSWORD
    )

    assert result.returncode == 2
    assert "--password" in result.stderr
    assert stored_users(tmp_path) == []


def test_keys_generate_writes_a_private_key_file_each_time(tmp_path: Path) -> None:
    directory = tmp_path / "k2"

    first = userservice(tmp_path, "keys", "generate", "--dir", str(directory))
    second = userservice(tmp_path, "keys", "generate", "--dir", str(directory))

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    keys = sorted(directory.glob("*.pem"))
    assert len(keys) == 2
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
        assert str(key) in first.stdout + second.stdout
    assert not (tmp_path / "keys").exists()  # --dir, not USERSERVICE_KEYS_DIR
