"""`userservice-client`, run as people and scripts run it, against the real userservice process.

Passwords go in on stdin, as they would from a pipe; each account saves its login in a token
file of its own under the test's temporary directory.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.ports import free_port
from tests.support.process import embedded_env, process_env, run_userservice, running_service

pytestmark = pytest.mark.e2e

PASSWORD = "quiet-harbour-lantern-47"
ADMIN_PASSWORD = "saffron-tundra-beacon-71"
TIMEOUT_SECONDS = 60


def client_command() -> list[str]:
    """The console script next to the interpreter running the tests, else `python -m`."""
    script = Path(sys.executable).parent / "userservice-client"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "userservice_client.cli"]


def run_client(*args: str, stdin: str = "", cwd: Path) -> subprocess.CompletedProcess[str]:
    # process_env drops the runner's USERSERVICE_* (a stray USERSERVICE_PASSWORD included).
    return subprocess.run(
        [*client_command(), *args],
        input=stdin,
        env=process_env({"HOME": str(cwd)}),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


@dataclass(frozen=True, slots=True)
class Service:
    """A running userservice: its address, and the settings an operator command needs."""

    address: str
    env: dict[str, str]
    workdir: Path


@dataclass(frozen=True, slots=True)
class Person:
    """Someone using the CLI against one server, with a token file of their own."""

    email: str
    address: str
    token_file: Path
    workdir: Path

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        common = ("--address", self.address, "--token-file", str(self.token_file))
        return run_client(*common, *args, stdin=stdin, cwd=self.workdir)

    def sign_up(self, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
        return self.run("users", "create", "--email", self.email, stdin=password + "\n")

    def login(self, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
        return self.run("login", "--email", self.email, stdin=password + "\n")

    def json(self, *args: str) -> Any:
        done = self.run(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def person(service: Service, tmp_path: Path, label: str) -> Person:
    email = f"{label}-{uuid.uuid4().hex[:10]}@example.com"
    return Person(email, service.address, tmp_path / label / "token.json", tmp_path)


def logged_in(service: Service, tmp_path: Path, label: str) -> Person:
    someone = person(service, tmp_path, label)
    signed_up = someone.sign_up()
    assert signed_up.returncode == 0, signed_up.stderr
    login = someone.login()
    assert login.returncode == 0, login.stderr
    return someone


def admin(service: Service, tmp_path: Path) -> Person:
    """An administrator made as an operator makes one (`userservice create-admin`), logged in."""
    someone = person(service, tmp_path, "admin")
    made = run_userservice(
        ["create-admin", "--email", someone.email],
        {**service.env, "USERSERVICE_ADMIN_PASSWORD": ADMIN_PASSWORD},
        cwd=service.workdir,
    )
    assert made.returncode == 0, made.stderr
    login = someone.login(ADMIN_PASSWORD)
    assert login.returncode == 0, login.stderr
    return someone


def start(tmp_path_factory: pytest.TempPathFactory, **settings: str) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("userservice")
    # More sign-ups from 127.0.0.1 than the default 20 an hour: every test signs someone up.
    env = embedded_env(workdir, signups_per_ip="1000", **settings)
    with running_service(env, cwd=workdir) as process:
        yield Service(f"127.0.0.1:{process.port}", env, workdir)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from start(tmp_path_factory, login_failures_per_account="3")


@pytest.fixture(scope="module")
def short_lived_tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Access tokens of 30 s: within the client's refresh margin, so every run refreshes."""
    yield from start(tmp_path_factory, access_token_ttl_seconds="30")


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


def test_listing_users_needs_an_administrator(service: Service, tmp_path: Path) -> None:
    erin = logged_in(service, tmp_path, "erin")

    listing = erin.run("users", "list")

    assert listing.returncode == 4
    assert "permission denied" in listing.stderr
    assert "administrator" in listing.stderr


def test_an_administrator_lists_users_and_disables_one_whose_session_then_ends(
    service: Service, tmp_path: Path
) -> None:
    frank = logged_in(service, tmp_path, "frank")
    root = admin(service, tmp_path)

    users = root.json("users", "list", "--all")["users"]
    [frank_id] = [user["id"] for user in users if user["email"] == frank.email]
    disabled = root.run("users", "update", frank_id, "--state", "disabled")
    refused = frank.run("whoami")

    assert disabled.returncode == 0, disabled.stderr
    assert "disabled" in disabled.stdout
    assert refused.returncode == 3
    assert "your session has ended" in refused.stderr
    assert "userservice-client login" in refused.stderr


def test_keys_lists_the_signing_key(service: Service, tmp_path: Path) -> None:
    anyone = person(service, tmp_path, "anyone")  # no login needed
    [key_file] = (service.workdir / "keys").glob("*.pem")

    table = anyone.run("keys")
    keys = anyone.json("keys")["keys"]

    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["KID", "KTY", "ALG", "CRV"]
    assert key_file.stem in table.stdout
    assert [key["kid"] for key in keys] == [key_file.stem]


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


def test_the_saved_tokens_are_not_sent_to_another_address(service: Service, tmp_path: Path) -> None:
    heidi = logged_in(service, tmp_path, "heidi")
    elsewhere = f"127.0.0.1:{free_port()}"

    refused = heidi.run("whoami", "--address", elsewhere)

    assert refused.returncode == 3
    assert f"the saved login is for {service.address}" in refused.stderr


def test_an_unreachable_server_exits_7_naming_the_address(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"

    done = run_client("--address", address, "--timeout", "3", "keys", cwd=tmp_path)

    assert done.returncode == 7
    assert done.stderr.strip() == f"userservice-client: cannot reach userservice at {address}"


def test_a_password_is_never_a_flag(tmp_path: Path) -> None:
    done = run_client("login", "--email", "a@example.com", "--password", PASSWORD, cwd=tmp_path)

    assert done.returncode == 2
    assert "--password" in done.stderr


def test_an_expired_access_token_is_refreshed_and_the_new_pair_saved(
    short_lived_tokens: Service, tmp_path: Path
) -> None:
    ivan = logged_in(short_lived_tokens, tmp_path, "ivan")
    first = json.loads(ivan.token_file.read_text())["refresh_token"]

    whoami = ivan.run("whoami")
    second = json.loads(ivan.token_file.read_text())["refresh_token"]
    again = ivan.run("whoami")  # works only if the saved pair is the live one

    assert whoami.returncode == 0, whoami.stderr
    assert again.returncode == 0, again.stderr
    assert first != second
    assert stat.S_IMODE(ivan.token_file.stat().st_mode) == 0o600


def test_concurrent_runs_take_turns_refreshing_so_the_session_survives(
    short_lived_tokens: Service, tmp_path: Path
) -> None:
    # Two runs presenting one refresh token would look like token theft: the server would
    # revoke the session. The lock next to the token file makes them take turns.
    judy = logged_in(short_lived_tokens, tmp_path, "judy")
    common = ("--address", judy.address, "--token-file", str(judy.token_file), "whoami")
    runs = [
        subprocess.Popen(
            [*client_command(), *common],
            env=process_env({"HOME": str(tmp_path)}),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [run.communicate(timeout=TIMEOUT_SECONDS) for run in runs]

    assert [run.returncode for run in runs] == [0] * 4, results
    sessions = judy.json("sessions", "list")["sessions"]
    assert len(sessions) == 1


def test_an_admin_lists_and_watches_the_event_log(service: Service, tmp_path: Path) -> None:
    root = admin(service, tmp_path)
    erin = logged_in(service, tmp_path, "erin")
    listed = root.json("events", "list", "--filter", 'type = "user.created"', "--all")
    created = [e for e in listed["events"] if e["target"]["id"] == erin.json("whoami")["id"]]
    assert [e["type"] for e in created] == ["user.created"]
    cursor = created[0]["cursor"]

    watched = root.run("events", "watch", "--after", cursor, "--count", "1", "--json")
    assert watched.returncode == 0, watched.stderr
    [line] = watched.stdout.splitlines()
    first = json.loads(line)
    assert first["type"] == "session.created"  # erin's login came next
    assert int(first["cursor"]) > int(cursor)

    table = root.run("events", "list", "--filter", f'target = "{first["target"]["id"]}"')
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == [
        "CURSOR",
        "TIME",
        "TYPE",
        "ACTOR",
        "TARGET",
        "DATA",
    ]
    refused = erin.run("events", "list")
    assert refused.returncode == 4, refused.stderr
