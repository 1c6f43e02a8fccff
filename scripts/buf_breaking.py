"""`buf breaking`: protos/ as they are now against protos/ at the previous commit (`make lint`).

The previous commit is HEAD~1, the first parent (for a merge: the branch merged into); `--against
REF` names another (a release tag, origin/main). The old protos come from `git archive` into a
scratch directory, so buf clones nothing. A shallow clone that lacks the commit is deepened by one
(`git fetch --deepen=1`; CI clones are full, this is for depth-1 checkouts). Only when no previous
commit can be had (the first commit; a shallow clone whose remote is out of reach; no git
repository) is the check skipped, and it says so; an `--against` that names nothing is an error.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = "protos"
DEFAULT_AGAINST = "HEAD~1"


def git(*args: str) -> subprocess.CompletedProcess[bytes]:
    command = ["git", "-C", str(ROOT), *args]
    return subprocess.run(command, capture_output=True, check=False)  # noqa: S603 - fixed arguments


def commit_of(ref: str) -> str | None:
    found = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return found.stdout.decode().strip() if found.returncode == 0 else None


def shallow() -> bool:
    return git("rev-parse", "--is-shallow-repository").stdout.strip() == b"true"


def previous_commit(ref: str) -> str | None:
    commit = commit_of(ref)
    if commit is None and shallow():
        print(f"buf breaking: {ref} is not in this shallow clone; fetching one more commit")
        git("fetch", "--quiet", "--deepen=1")
        commit = commit_of(ref)
    return commit


def extract_protos(commit: str, into: Path) -> bool:
    """protos/ at `commit` under `into`; False when that commit has no protos/."""
    archive = git("archive", "--format=tar", commit, PROTOS)
    if archive.returncode != 0:
        return False
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--buf", type=Path, default=ROOT / ".tools/node_modules/.bin/buf")
    parser.add_argument("--against", default=DEFAULT_AGAINST, help="a git ref (default HEAD~1)")
    args = parser.parse_args()
    if git("rev-parse", "--git-dir").returncode != 0:
        print("buf breaking: skipped, not a git repository (no previous commit to compare with)")
        return 0
    commit = previous_commit(args.against)
    if commit is None:
        if args.against != DEFAULT_AGAINST:
            print(f"buf breaking: {args.against} names no commit", file=sys.stderr)
            return 2
        if shallow():  # the fetch failed: no remote, or it cannot be reached
            print(
                f"buf breaking: SKIPPED, {args.against} is not in this shallow clone and could not"
                " be fetched; clone with history (or --unshallow) to check compatibility",
                file=sys.stderr,
            )
            return 0
        print("buf breaking: skipped, HEAD has no parent (the first commit): nothing to compare")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        if not extract_protos(commit, Path(scratch)):
            print(f"buf breaking: skipped, {args.against} has no {PROTOS}/")
            return 0
        print(f"buf breaking: {PROTOS}/ against {args.against} ({commit[:12]})")
        command = [str(args.buf.resolve()), "breaking", ".", "--against", f"{scratch}/{PROTOS}"]
        return subprocess.run(command, cwd=ROOT / PROTOS, check=False).returncode  # noqa: S603


if __name__ == "__main__":
    raise SystemExit(main())
