"""The wheel (what the image installs) carries everything the service needs at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_the_server_migrations_stubs_sdk_and_console_script(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("userservice-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    assert "server/migrations/env.py" in names
    assert "server/migrations/script.py.mako" in names
    assert "server/migrations/versions/0001_initial.py" in names
    assert {"userservice/v1/user_pb2.py", "userservice/v1/auth_pb2_grpc.pyi"} <= names
    assert {"userservice/py.typed", "userservice_client/py.typed", "server/py.typed"} <= names
    assert not any(name.startswith(("tests/", "generated/", "clients/")) for name in names)
    [entry_points] = [n for n in names if n.endswith("entry_points.txt")]
    assert "userservice = server.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
