"""`userservice-client` run as people and scripts run it, against the real userservice process.

Passwords go in on stdin, as they would from a pipe; each account saves its login in a token
file of its own under the test's temporary directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.process import embedded_env, process_env, run_userservice, running_service

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
