"""Build the project's wheels and install one into a fresh virtual environment, offline.

`fresh_venv_with(wheel, into)` makes a venv (no pip, no system site-packages), puts the wheel's
dependency closure in it by copying those distributions, as installed, from the environment
running the tests (its `.dist-info` included, so they are installed distributions as far as pip
and importlib.metadata can tell), then has pip install the wheel with `--no-index`: pip must
find every requirement the wheel declares already met, or it fails. Nothing is fetched: the
test's own environment is the one place where the right versions are sure to be.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

TIMEOUT_SECONDS = 300


def build_wheel(project: Path, out: Path) -> Path:
    """`pip wheel --no-deps` of one project directory; the path of the wheel it wrote."""
    before = set(out.glob("*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(out),
            str(project),
        ],
        check=True,
        capture_output=True,
        timeout=TIMEOUT_SECONDS,
    )
    [wheel] = set(out.glob("*.whl")) - before
    return wheel


def wheel_metadata(wheel: Path) -> metadata.PackageMetadata:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(name).decode()
    parsed: metadata.PackageMetadata = Parser().parsestr(text)  # type: ignore[assignment]
    return parsed


def _needed(requirements: Iterable[str], extras: set[str]) -> list[Requirement]:
    wanted = []
    for text in requirements:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": e}) for e in extras | {""}):
            wanted.append(requirement)
    return wanted


def dependency_closure(requirements: Iterable[str]) -> set[str]:
    """The installed distributions (names) that `requirements` need, transitively, with extras."""
    seen: set[str] = set()
    pending = _needed(requirements, set())
    while pending:
        requirement = pending.pop()
        distribution = metadata.distribution(requirement.name)
        key = f"{distribution.metadata['Name']}{sorted(requirement.extras)}"
        if key in seen:
            continue
        seen.add(key)
        pending.extend(_needed(distribution.requires or [], set(requirement.extras)))
    return {key.split("[")[0] for key in seen}


def _copy_installed(name: str, site_packages: Path) -> None:
    distribution = metadata.distribution(name)
    for file in distribution.files or []:
        if file.parts[0] == ".." or "__pycache__" in file.parts:
            continue  # console scripts and caches; the tests use neither of a dependency
        source = Path(str(distribution.locate_file(file)))
        target = site_packages / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def fresh_venv_with(wheel: Path, into: Path) -> Path:
    """A new venv at `into` holding `wheel` and its dependencies only; its python."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(into)],
        check=True,
        timeout=TIMEOUT_SECONDS,
    )
    python = into / "bin" / "python"
    [site_packages] = (into / "lib").glob("python*/site-packages")
    for name in dependency_closure(wheel_metadata(wheel).get_all("Requires-Dist") or []):
        _copy_installed(name, site_packages)
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run(
        [*pip, "install", "--quiet", "--no-index", "--no-cache-dir", str(wheel)],
        check=True,
        capture_output=True,
        timeout=TIMEOUT_SECONDS,
    )
    return python
