"""The SDK's types reach its consumers: mypy --strict accepts correct use and flags misuse.

tests/typing/consumer_ok.py must type-check cleanly; tests/typing/consumer_bad.py must fail on
exactly the lines marked `# expected: error` (the files are type-checked, never run, and are
not collected by pytest: their names do not start with `test_`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TYPING = ROOT / "tests" / "typing"
EXPECTED_MARK = "# expected: error"


def mypy(file: Path, cache_dir: Path) -> tuple[int, str]:
    """Exit status and output of mypy --strict on one consumer file, with the project config."""
    env = {
        **os.environ,
        "MYPYPATH": os.pathsep.join([str(ROOT / "clients" / "generated"), str(ROOT / "clients")]),
    }
    # A cache of its own: another mypy run in the tree must not race this one on .mypy_cache.
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--config-file",
        "pyproject.toml",
        "--cache-dir",
        str(cache_dir),
        "--no-color-output",
        "--no-error-summary",
        str(file.relative_to(ROOT)),
    ]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    return done.returncode, done.stdout + done.stderr


def error_lines(output: str, file: Path) -> set[int]:
    pattern = re.compile(rf"^{re.escape(file.name)}:(\d+): error:", re.MULTILINE)
    relative = str(file.relative_to(ROOT))
    return {int(n) for n in pattern.findall(output.replace(relative, file.name))}


def marked_lines(file: Path) -> set[int]:
    lines = file.read_text().splitlines()
    return {number for number, line in enumerate(lines, start=1) if line.endswith(EXPECTED_MARK)}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


def test_correct_use_of_the_sdk_type_checks_cleanly(cache_dir: Path) -> None:
    status, output = mypy(TYPING / "consumer_ok.py", cache_dir)
    assert status == 0, output


def test_misuse_of_the_sdk_is_reported_on_each_marked_line(cache_dir: Path) -> None:
    file = TYPING / "consumer_bad.py"
    status, output = mypy(file, cache_dir)
    assert status == 1, output
    expected = marked_lines(file)
    assert len(expected) >= 10
    assert error_lines(output, file) == expected, output
