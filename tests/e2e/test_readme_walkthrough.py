"""The README, used the way a reader uses it: every `sh`/`bash` block, in document order, pasted
into one fresh shell, against `make run` started from a fresh copy of the checkout.

Conventions the README follows (its "Walkthrough" section states them for readers):

- `<!-- walkthrough: skip -->` on the line before a block leaves it out (deployment, PostgreSQL,
  Docker, Kubernetes: what needs more than this machine);
- `<!-- walkthrough: background -->` runs the block in the background, as in a second terminal
  (`make run`); the blocks after it start once the service answers its health check;
- a comment `# → A, B` on a command's last line promises that A and B appear in what the command
  prints; `# → fails, …` promises that it exits non-zero. Every other command must exit 0.

The test substitutes free ports for the default ones (50051, and the metrics port through the
environment) and nothing else. The copy shares this checkout's `.venv` (a symlink) rather than
installing again; the README's own instruction (`source .venv/bin/activate`) puts the tools on
the PATH, which is stripped of the virtual environment first. A new block is covered as soon
as it is written; one that needs another default port substituted belongs in PORTS.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.ports import free_port
from tests.support.process import process_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
GRPC_PORT = "50051"
START_TIMEOUT_SECONDS = 120.0
SCRIPT_TIMEOUT_SECONDS = 300.0

FENCE = re.compile(
    r"^(?:<!-- walkthrough: (?P<mark>skip|background) -->\n)?```(?:sh|bash)\n(?P<body>.*?)^```",
    re.S | re.M,
)
PROMISE = re.compile(r"#\s*→\s*(?P<promise>[^\n]*)$")


@dataclass(frozen=True, slots=True)
class Command:
    text: str
    block: int
    expected: tuple[str, ...] = ()
    fails: bool = False


@dataclass(slots=True)
class Walkthrough:
    background: list[str] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)


def complete(text: str) -> bool:
    """True when bash parses `text` as whole commands (no open quote or `$(`) and its last line
    does not go on to the next: bash -n accepts a trailing backslash at the end of its input."""
    if text.rstrip().endswith("\\"):
        return False
    parsed = subprocess.run(["bash", "-n", "-c", text], capture_output=True, check=False)
    return parsed.returncode == 0


def split_commands(body: str, block: int) -> Iterator[Command]:
    pending: list[str] = []
    for line in body.splitlines():
        pending.append(line)
        text = "\n".join(pending)
        if not complete(text):
            continue
        pending = []
        if all(not s.strip() or s.strip().startswith("#") for s in text.splitlines()):
            continue  # blank lines and comments
        found = PROMISE.search(text.splitlines()[-1])
        items = [i.strip() for i in found["promise"].split(", ")] if found else []
        fails = bool(items) and items[0] == "fails"
        yield Command(text, block, tuple(items[1:] if fails else items), fails)
    assert not pending, f"block {block} ends inside a command: {pending}"


def walkthrough(readme: str) -> Walkthrough:
    found = Walkthrough()
    for number, match in enumerate(FENCE.finditer(readme), start=1):
        if match["mark"] == "skip":
            continue
        if match["mark"] == "background":
            found.background.append(match["body"])
        else:
            found.commands.extend(split_commands(match["body"], number))
    return found


def fresh_copy(destination: Path) -> Path:
    """The checkout's files (tracked, and new ones not ignored), modification times kept so that
    make sees the shared .venv as up to date; .venv itself is a symlink to this checkout's."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the walkthrough copies the checkout's files")
    copy = destination / "checkout"
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    stale = subprocess.run(["make", "-q", ".venv/.installed"], cwd=copy, check=False)
    if stale.returncode != 0:
        pytest.skip(
            "this checkout's .venv is older than pyproject.toml: run `make .venv/.installed`"
        )
    return copy


def reader_env(home: Path) -> dict[str, str]:
    """A new shell's environment: no USERSERVICE_* settings and no virtual environment."""
    venv_bin = str(ROOT / ".venv" / "bin")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    env = process_env({"HOME": str(home), "PATH": os.pathsep.join(path)})
    env.pop("VIRTUAL_ENV", None)
    return env


def healthy(port: str) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2
            )
        except grpc.RpcError:
            return False
    return answer.status == health_pb2.HealthCheckResponse.SERVING


def script(commands: list[Command], port: str) -> str:
    lines = ["exec 2>&1"]
    for index, command in enumerate(commands):
        # The newline before the status: an output need not end with one (grpcurl's errors).
        status = f"printf '\\n@@status {index} %d\\n' \"$?\""
        lines += [f"echo '@@begin {index}'", command.text.replace(GRPC_PORT, port), status]
    return "\n".join(lines) + "\n"


def outcomes(output: str) -> dict[int, tuple[int, str]]:
    """Command index → (exit status, what it printed)."""
    found = {}
    for match in re.finditer(r"^@@begin (\d+)\n(.*?)^@@status \1 (\d+)$", output, re.S | re.M):
        found[int(match[1])] = (int(match[3]), match[2])
    return found


def stop(service: subprocess.Popen[bytes]) -> None:
    """SIGTERM to `make run`'s process group; SIGKILL if it has not exited within 30 s."""
    with suppress(ProcessLookupError):
        os.killpg(service.pid, signal.SIGTERM)
    try:
        service.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(service.pid, signal.SIGKILL)
        service.wait(10)


def test_every_readme_shell_block_works_pasted_in_order(tmp_path: Path) -> None:
    steps = walkthrough(README.read_text())
    assert steps.background == ["make run\n"], "the README starts the service with `make run`"
    assert steps.commands[0].text.startswith("source .venv/bin/activate")
    assert sum(c.fails for c in steps.commands) >= 3  # the promised failures are checked too
    copy = fresh_copy(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    port, metrics_port = str(free_port()), str(free_port())
    log = (tmp_path / "make-run.log").open("w")
    service = subprocess.Popen(
        ["bash", "-c", steps.background[0]],
        cwd=copy,
        env={
            **reader_env(home),
            "USERSERVICE_PORT": port,
            "USERSERVICE_METRICS_PORT": metrics_port,
        },
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not healthy(port):
            assert service.poll() is None, (tmp_path / "make-run.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "make-run.log").read_text()
            time.sleep(0.2)
        (tmp_path / "walkthrough.sh").write_text(script(steps.commands, port))
        ran = subprocess.run(
            ["bash", str(tmp_path / "walkthrough.sh")],
            cwd=copy,
            env=reader_env(home),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_SECONDS,
            check=False,
        )
    finally:
        stop(service)
        log.close()

    (tmp_path / "walkthrough.out").write_text(ran.stdout)
    results = outcomes(ran.stdout)
    for index, command in enumerate(steps.commands):
        assert index in results, (
            f"block {command.block}: never finished\n{command.text}\n"
            f"(see {tmp_path}/walkthrough.out)"
        )
        status, printed = results[index]
        where = (
            f"block {command.block}, command:\n{command.text}\nexit {status}, printed:\n{printed}"
        )
        assert (status != 0) == command.fails, where
        for promised in command.expected:
            assert promised in printed, f"{promised!r} not printed; {where}"
    assert "Traceback" not in (tmp_path / "make-run.log").read_text()
