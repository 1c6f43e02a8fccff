"""`make lint`'s `buf breaking` (scripts/buf_breaking.py) fails a commit that breaks the protos of
the one before it, passes a compatible one, and copes with a first commit and a shallow clone.

Each test builds a throwaway git repository holding a copy of protos/ and the script. buf comes
from `make buf-lint` (npm, into .tools/); without it these tests skip, except under CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / ".tools" / "node_modules" / ".bin" / "buf"
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


@pytest.fixture(autouse=True)
def buf_installed() -> None:
    if not BUF.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{BUF} is missing: CI runs `make lint` (which installs buf) first")
        pytest.skip("buf is not installed here: `make buf-lint` installs it with npm")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], env=GIT_ENV, check=True, capture_output=True)


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "--no-gpg-sign", "-m", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose one commit holds today's protos/ and the script."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "protos", repo / "protos")
    (repo / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "buf_breaking.py", repo / "scripts")
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit_all(repo, "base")
    return repo


def edit_user_proto(repo: Path, old: str, new: str) -> None:
    proto = repo / "protos" / "userservice" / "v1" / "user.proto"
    text = proto.read_text()
    assert old in text
    proto.write_text(text.replace(old, new, 1))


def buf_breaking(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / "buf_breaking.py"), "--buf", str(BUF)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def remove_display_name(repo: Path) -> None:
    edit_user_proto(
        repo, "  string display_name = 3 [(google.api.field_behavior) = OPTIONAL];\n", ""
    )
    commit_all(repo, "drop User.display_name")


def test_a_commit_that_deletes_a_field_fails(repo: Path) -> None:
    remove_display_name(repo)

    result = buf_breaking(repo)

    assert result.returncode != 0, result.stdout
    assert "display_name" in result.stdout + result.stderr


def test_a_commit_that_adds_a_field_passes(repo: Path) -> None:
    edit_user_proto(repo, "  string etag = 9", "  string nickname = 10;\n  string etag = 9")
    commit_all(repo, "add User.nickname")

    result = buf_breaking(repo)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "against HEAD~1" in result.stdout


def test_the_first_commit_has_nothing_to_compare_with(repo: Path) -> None:
    result = buf_breaking(repo)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped, HEAD has no parent" in result.stdout


def test_a_shallow_clone_fetches_the_previous_commit_and_still_fails(
    repo: Path, tmp_path: Path
) -> None:
    remove_display_name(repo)
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth=1", f"file://{repo}", str(clone)],
        check=True,
        capture_output=True,
    )

    result = buf_breaking(clone)

    assert "fetching one more commit" in result.stdout
    assert result.returncode != 0, result.stdout
    assert "display_name" in result.stdout + result.stderr
