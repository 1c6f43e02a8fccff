"""The two distributions: `userservice-client` (stubs, SDK, CLI) stands alone in a fresh
environment; `userservice` (the server, what the image installs) carries the server and its
migrations and takes the stubs from the client. CI builds both wheels here (`make test`)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.support.wheels import build_wheel, fresh_venv_with, wheel_metadata

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
CLIENT_DEPENDENCIES = {"grpcio", "protobuf", "googleapis-common-protos", "pyjwt"}
SERVER_ONLY = ("server", "sqlalchemy", "asyncpg", "redis", "argon2", "alembic", "pydantic")


def version_of(pyproject: Path) -> str:
    version: str = tomllib.loads(pyproject.read_text())["project"]["version"]
    return version


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    return {"client": build_wheel(ROOT / "clients", out), "server": build_wheel(ROOT, out)}


def names_in(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def entry_points_of(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith("entry_points.txt")]
        return archive.read(name).decode()


def test_the_client_wheel_holds_the_stubs_the_sdk_and_its_console_script(
    wheels: dict[str, Path],
) -> None:
    names = names_in(wheels["client"])
    assert {"userservice/v1/user_pb2.py", "userservice/v1/auth_pb2_grpc.pyi"} <= names
    assert {"userservice/py.typed", "userservice_client/py.typed"} <= names
    assert "userservice_client/cli/__main__.py" in names
    assert not any(name.startswith(("server/", "generated/", "google/")) for name in names)
    assert "userservice-client = userservice_client.cli:main" in entry_points_of(wheels["client"])
    requires = wheel_metadata(wheels["client"]).get_all("Requires-Dist") or []
    assert {Requirement(r).name.lower() for r in requires} == CLIENT_DEPENDENCIES
    assert (
        "crypto" in next(Requirement(r) for r in requires if r.lower().startswith("pyjwt")).extras
    )


def test_the_server_wheel_holds_the_server_and_takes_the_stubs_from_the_client(
    wheels: dict[str, Path],
) -> None:
    names = names_in(wheels["server"])
    assert "server/migrations/env.py" in names
    assert "server/migrations/script.py.mako" in names
    assert "server/migrations/versions/0001_initial.py" in names
    assert "server/py.typed" in names
    assert not any(
        name.startswith(("tests/", "generated/", "clients/", "userservice/", "userservice_client/"))
        for name in names
    )
    entry_points = entry_points_of(wheels["server"])
    assert "userservice = server.cli:main" in entry_points
    assert "userservice-client" not in entry_points  # the client's own wheel installs it
    requires = [Requirement(r) for r in wheel_metadata(wheels["server"]).get_all("Requires-Dist")]
    [client] = [r for r in requires if r.name == "userservice-client"]
    assert str(client.specifier) == f"=={version_of(ROOT / 'clients' / 'pyproject.toml')}"


def test_the_client_wheel_alone_works_in_a_fresh_environment_without_the_server(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    python = fresh_venv_with(wheels["client"], tmp_path / "venv")
    # -I: no cwd, PYTHONPATH or user site on sys.path; cwd is elsewhere anyway.
    probe = (
        "import importlib.util, userservice_client, userservice.v1.auth_pb2_grpc\n"
        "print(userservice_client.__file__)\n"
        f"print(sorted(m for m in {SERVER_ONLY!r} if importlib.util.find_spec(m)))\n"
    )
    ran = subprocess.run(
        [str(python), "-I", "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    location, importable = ran.stdout.splitlines()
    assert Path(location).is_relative_to(tmp_path / "venv")
    assert importable == "[]"

    version = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "userservice-client"), "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert version.returncode == 0, version.stderr
    assert (
        version.stdout.strip()
        == f"userservice-client {version_of(ROOT / 'clients' / 'pyproject.toml')}"
    )

    check = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    ("command", "distribution", "pyproject"),
    [
        ("userservice", "userservice", ROOT / "pyproject.toml"),
        ("userservice-client", "userservice-client", ROOT / "clients" / "pyproject.toml"),
    ],
)
def test_each_command_prints_its_distribution_version(
    command: str, distribution: str, pyproject: Path
) -> None:
    ran = subprocess.run(
        [str(Path(sys.executable).parent / command), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == f"{command} {version_of(pyproject)}"
    assert metadata.version(distribution) == version_of(pyproject)
