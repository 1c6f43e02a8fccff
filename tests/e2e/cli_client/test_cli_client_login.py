"""`userservice-client`: signing up, logging in and out, and what a failed login says."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.support.cli_client import PASSWORD, Service, logged_in, person, run_client
from tests.support.ports import free_port

pytestmark = pytest.mark.e2e


def test_a_person_signs_up_logs_in_and_reads_their_own_account(
    service: Service, tmp_path: Path
) -> None:
    ada = person(service, tmp_path, "ada")

    created = ada.sign_up()
    login = ada.login()

    assert created.returncode == 0, created.stderr
    assert ada.email in created.stdout
    assert login.returncode == 0, login.stderr
    assert stat.S_IMODE(ada.token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(ada.token_file.parent.stat().st_mode) == 0o700
    assert PASSWORD not in created.stdout + login.stdout + ada.token_file.read_text()

    whoami = ada.run("whoami")
    assert whoami.returncode == 0, whoami.stderr
    assert ada.email in whoami.stdout
    me = ada.json("whoami")
    assert me["email"] == ada.email
    assert ada.json("users", "get", "me")["id"] == me["id"]

    sessions = ada.run("sessions", "list")
    assert sessions.returncode == 0, sessions.stderr
    header, *rows = sessions.stdout.splitlines()
    assert header.split()[0] == "ID"
    assert len(rows) == 1
    assert rows[0].endswith("*")  # the session making the call
    assert len(ada.json("sessions", "list")["sessions"]) == 1


def test_a_wrong_password_exits_3_and_says_so(service: Service, tmp_path: Path) -> None:
    bob = person(service, tmp_path, "bob")
    assert bob.sign_up().returncode == 0

    wrong = bob.login("not-the-right-password")

    assert wrong.returncode == 3
    assert wrong.stderr.strip() == "userservice-client: wrong email or password"
    assert not bob.token_file.exists()


def test_a_json_error_is_one_object_on_stderr(service: Service, tmp_path: Path) -> None:
    carol = person(service, tmp_path, "carol")

    wrong = carol.run("--json", "login", "--email", carol.email, stdin="whatever-it-is-1\n")

    assert wrong.returncode == 3
    assert wrong.stdout == ""
    error = json.loads(wrong.stderr)
    assert error["code"] == "UNAUTHENTICATED"
    assert error["reason"] == "INVALID_CREDENTIALS"
    assert error["field_violations"] == []
    assert error["message"]


def test_after_three_wrong_passwords_the_account_is_throttled(
    service: Service, tmp_path: Path
) -> None:
    dave = person(service, tmp_path, "dave")
    assert dave.sign_up().returncode == 0

    wrong = [dave.login("not-the-right-password").returncode for _ in range(3)]
    throttled = dave.login()  # even the right password, until the window passes

    assert wrong == [3, 3, 3]
    assert throttled.returncode == 6
    assert "too many attempts; try again in " in throttled.stderr
    assert not dave.token_file.exists()


def test_logout_revokes_the_session_and_deletes_the_token_file(
    service: Service, tmp_path: Path
) -> None:
    grace = logged_in(service, tmp_path, "grace")
    saved = grace.token_file.read_text()

    logout = grace.run("logout")
    afterwards = grace.run("whoami")

    assert logout.returncode == 0, logout.stderr
    assert not grace.token_file.exists()
    assert afterwards.returncode == 3
    assert "not logged in; run `userservice-client login`" in afterwards.stderr

    grace.token_file.write_text(saved)  # the old tokens, had they been kept, no longer work
    replayed = grace.run("whoami")
    assert replayed.returncode == 3
    assert "your session has ended" in replayed.stderr


def test_the_saved_tokens_are_not_sent_to_another_address(service: Service, tmp_path: Path) -> None:
    heidi = logged_in(service, tmp_path, "heidi")
    elsewhere = f"127.0.0.1:{free_port()}"

    refused = heidi.run("whoami", "--address", elsewhere)

    assert refused.returncode == 3
    assert f"the saved login is for {service.address}" in refused.stderr


def test_a_password_is_never_a_flag(tmp_path: Path) -> None:
    done = run_client("login", "--email", "a@example.com", "--password", PASSWORD, cwd=tmp_path)

    assert done.returncode == 2
    assert "--password" in done.stderr
