"""`userservice-client` refreshing an expired access token, alone and in concurrent runs."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli_client import TIMEOUT_SECONDS, Service, client_command, logged_in, start
from tests.support.process import process_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def short_lived_tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Access tokens of 30 s: within the client's refresh margin, so every run refreshes."""
    yield from start(tmp_path_factory, access_token_ttl_seconds="30")


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
