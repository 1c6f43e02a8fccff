"""`userservice-client`: keys, --version, refused input, no server, delete without --yes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli_client import (
    PASSWORD,
    TIMEOUT_SECONDS,
    Person,
    Service,
    logged_in,
    person,
    run_client,
)
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e


def test_keys_lists_the_signing_key(service: Service, tmp_path: Path) -> None:
    anyone = person(service, tmp_path, "anyone")  # no login needed
    [key_file] = (service.workdir / "keys").glob("*.pem")

    table = anyone.run("keys")
    keys = anyone.json("keys")["keys"]

    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["KID", "KTY", "ALG", "CRV"]
    assert key_file.stem in table.stdout
    assert [key["kid"] for key in keys] == [key_file.stem]


def test_delete_without_yes_and_without_a_terminal_refuses_and_keeps_the_user(
    service: Service, tmp_path: Path
) -> None:
    ivan = logged_in(service, tmp_path, "ivan")

    refused = ivan.run("users", "delete", "me", stdin="y\n")  # a pipe, not a person
    still_there = ivan.run("whoami")
    deleted = ivan.run("users", "delete", "me", "--yes")

    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "userservice-client: not deleted: pass --yes to delete without a terminal to confirm on"
    )
    assert still_there.returncode == 0, still_there.stderr
    assert deleted.returncode == 0, deleted.stderr


def test_both_commands_print_their_version(tmp_path: Path) -> None:
    client = run_client("--version", cwd=tmp_path)
    operator = subprocess.run(
        [sys.executable, "-m", "server.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )

    assert (client.returncode, operator.returncode) == (0, 0)
    assert re.fullmatch(r"userservice-client \d+\.\d+\.\d+\S*\n", client.stdout), client.stdout
    assert re.fullmatch(r"userservice \d+\.\d+\.\d+\S*\n", operator.stdout), operator.stdout


def test_an_invalid_email_is_refused_naming_the_field(service: Service, tmp_path: Path) -> None:
    nobody = Person("not-an-email", service.address, tmp_path / "nobody" / "token.json", tmp_path)

    refused = nobody.sign_up()
    as_json = nobody.run("--json", "users", "create", "--email", "x", stdin=PASSWORD + "\n")

    assert refused.returncode == 1
    assert "\n  email: " in refused.stderr
    assert as_json.returncode == 1
    assert json.loads(as_json.stderr)["field_violations"][0]["field"] == "email"


def test_an_unreachable_server_exits_7_naming_the_address(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"

    done = run_client("--address", address, "--timeout", "3", "keys", cwd=tmp_path)

    assert done.returncode == 7
    assert done.stderr.strip() == f"userservice-client: cannot reach userservice at {address}"
