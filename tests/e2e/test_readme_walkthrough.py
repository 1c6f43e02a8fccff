"""The README's grpcurl walk-through works, as written, against the real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.process import embedded_env, process_env, running_service

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough_script() -> str:
    text = README.read_text()
    section = text[text.index("A whole session") :]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the walk-through block is missing from README.md"
    return match.group(1)


def test_the_readme_walkthrough_signs_up_logs_in_refreshes_and_sees_the_old_token_fail(
    tmp_path: Path,
) -> None:
    script = walkthrough_script().replace("US=localhost:50051", "US=127.0.0.1:$US_PORT")
    assert "US=127.0.0.1:$US_PORT" in script

    with running_service(embedded_env(tmp_path), cwd=tmp_path) as service:
        env = process_env(
            {
                "US_PORT": str(service.port),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            }
        )
        result = subprocess.run(
            ["bash", "-c", script],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    output = result.stdout + result.stderr
    assert '"email": "ada@example.com"' in result.stdout  # CreateUser and GetUser("me")
    assert result.stdout.count('"email": "ada@example.com"') == 2
    # The last two calls fail: the logged-out access token and the rotated refresh token.
    assert output.count('"reason":"TOKEN_REVOKED"') == 2, output
