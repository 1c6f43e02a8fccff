"""`userservice service-accounts ...`, run as an operator runs it."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.process import process_env

pytestmark = pytest.mark.e2e

TIMEOUT_SECONDS = 60


def userservice(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # cwd is the temporary directory, so no `.env` of the developer's is read.
    env = process_env(
        {
            "USERSERVICE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'db.sqlite'}",
            "USERSERVICE_REDIS_URL": "memory://",
            "USERSERVICE_KEYS_DIR": str(workdir / "keys"),
            "USERSERVICE_METRICS_PORT": "0",
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "service-accounts", *args],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture(autouse=True)
def migrated(tmp_path: Path) -> None:
    """The database exists, as it does where the server runs (operators' commands never make
    one)."""
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "migrate"],
        env=process_env(
            {"USERSERVICE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"}
        ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def printed(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    fields = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(":")
        if value and name.replace("_", "").isalpha():
            fields[name] = value.strip()
    return fields


def stored(workdir: Path) -> list[tuple[str, str, bytes, str]]:
    with sqlite3.connect(workdir / "db.sqlite") as db:
        query = "SELECT client_id, scopes, secret_hash, state FROM service_accounts"
        return list(db.execute(query))


def test_create_prints_the_secret_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    result = userservice(
        tmp_path, "create", "--display-name", "Billing", "--scopes", "users:read,tokens:validate"
    )

    assert result.returncode == 0, result.stderr
    fields = printed(result)
    secret = fields["client_secret"]
    assert result.stdout.count(secret) == 1
    assert secret not in result.stderr
    [(client_id, scopes, secret_hash, state)] = stored(tmp_path)
    assert client_id == fields["client_id"]
    assert client_id.startswith("svc_")
    assert scopes == "tokens:validate users:read"
    assert state == "active"
    assert secret_hash == hashlib.sha256(secret.encode()).digest()

    listed = userservice(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    assert client_id in listed.stdout
    assert secret not in listed.stdout


def test_list_prints_a_header_and_aligned_columns(tmp_path: Path) -> None:
    for name, scopes in (("Billing", "users:read,tokens:validate"), ("Jobs", "")):
        made = userservice(tmp_path, "create", "--display-name", name, "--scopes", scopes)
        assert made.returncode == 0, made.stderr

    listed = userservice(tmp_path, "list")

    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "CLIENT", "ID", "STATE", "SCOPES", "NAME"]
    assert len(rows) == 2
    for column in ("CLIENT ID", "STATE", "SCOPES", "NAME"):
        start = header.index(column)
        assert all(row[start - 2 : start] == "  " and row[start] != " " for row in rows), column
    assert {row.split()[-1] for row in rows} == {"Billing", "Jobs"}


def test_rotate_disable_and_delete(tmp_path: Path) -> None:
    created = printed(userservice(tmp_path, "create", "--display-name", "Jobs"))
    account_id = created["id"]

    rotated = userservice(tmp_path, "rotate", account_id)
    assert rotated.returncode == 0, rotated.stderr
    new_secret = printed(rotated)["client_secret"]
    assert new_secret != created["client_secret"]
    assert "previous secret valid until" in rotated.stdout

    disabled = userservice(tmp_path, "disable", account_id)
    assert disabled.returncode == 0, disabled.stderr
    assert stored(tmp_path)[0][3] == "disabled"

    assert userservice(tmp_path, "delete", account_id).returncode == 0
    assert stored(tmp_path) == []
    missing = userservice(tmp_path, "delete", account_id)
    assert missing.returncode == 1
    assert "SERVICE_ACCOUNT_NOT_FOUND" in missing.stderr


def test_an_unknown_scope_is_refused(tmp_path: Path) -> None:
    result = userservice(tmp_path, "create", "--display-name", "X", "--scopes", "root")
    assert result.returncode == 1
    assert "scopes" in result.stderr
