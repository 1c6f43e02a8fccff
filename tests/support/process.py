"""The real `userservice` process, started as an operator would start it, for end-to-end tests.

A server is started with `running_service(env, args)`; it is ready once it logs the JSON line
whose event is "listening", and it is killed (with any workers) when the block ends. One-shot
commands (`health`, `migrate`, a `serve` that must fail) go through `run_userservice`.
Every wait is bounded: it ends when a log line or exit is seen, or fails at its deadline.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

START_TIMEOUT_SECONDS = 30.0
COMMAND_TIMEOUT_SECONDS = 30.0


def userservice_command() -> list[str]:
    """The console script of the interpreter running the tests, else `python -m server.cli`."""
    script = Path(sys.executable).parent / "userservice"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "server.cli"]


def grpcurl_command() -> list[str]:
    return [str(Path(sys.executable).parent / "grpcurl")]


def embedded_env(workdir: Path, **overrides: str) -> dict[str, str]:
    """USERSERVICE_* for a development process on SQLite and memory://, with JSON logs.

    Keyword names are setting names without the prefix: `embedded_env(p, port="0")`.
    """
    values = {
        "USERSERVICE_LOG_FORMAT": "json",
        "USERSERVICE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'userservice.db'}",
        "USERSERVICE_REDIS_URL": "memory://",
        "USERSERVICE_METRICS_PORT": "0",
        "USERSERVICE_KEYS_DIR": str(workdir / "keys"),
    }
    values.update({f"USERSERVICE_{name.upper()}": value for name, value in overrides.items()})
    return values


def process_env(env: Mapping[str, str]) -> dict[str, str]:
    """The test runner's environment without its USERSERVICE_* settings, plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("USERSERVICE_")}
    base["PYTHONUNBUFFERED"] = "1"
    base.update(env)
    return base


def parse_log_line(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class ServiceProcess:
    """A started `userservice` process whose stderr is collected line by line."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        self.args = [*userservice_command(), *args]
        # Its own session, so teardown can kill the workers a `--workers N` parent spawned.
        self.process = subprocess.Popen(
            self.args,
            env=process_env(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.stderr_lines: list[str] = []
        self.stdout_lines: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stderr, self.stderr_lines),
                (self.process.stdout, self.stdout_lines),
            )
        ]
        for reader in self._readers:
            reader.start()
        self.port: int | None = None

    def _read(self, stream: IO[str] | None, lines: list[str]) -> None:
        assert stream is not None
        for line in stream:
            with self._changed:
                lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def stderr(self) -> str:
        with self._changed:
            return "\n".join(self.stderr_lines)

    @property
    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (non-JSON lines, e.g. from grpc core, are left out)."""
        with self._changed:
            lines = list(self.stderr_lines)
        return [entry for line in lines if (entry := parse_log_line(line)) is not None]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [entry for entry in self.logs if entry.get("event") == event]

    def wait_for_events(
        self, event: str, count: int = 1, timeout: float = START_TIMEOUT_SECONDS
    ) -> list[dict[str, Any]]:
        """The first `count` log lines with this event; fails if the process exits first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self.events(event)
                if len(found) >= count:
                    return found[:count]
                if self.process.poll() is not None and not any(r.is_alive() for r in self._readers):
                    raise AssertionError(
                        f"userservice exited with {self.process.returncode} before logging "
                        f"{count} x {event!r}; stderr:\n{self.stderr}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no {count} x {event!r} within {timeout}s; stderr:\n{self.stderr}"
                    )
                self._changed.wait(remaining)

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """The exit code, once the process has exited and its output has been read."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"userservice still running after {timeout}s; stderr:\n{self.stderr}"
            ) from None
        for reader in self._readers:
            reader.join(timeout)
        return code

    def kill(self) -> None:
        """Kills the process and everything in its session (workers included)."""
        with suppress(ProcessLookupError):  # already gone, workers and all
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        for reader in self._readers:
            reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def running_service(
    env: Mapping[str, str],
    args: Sequence[str] = ("serve", "--host", "127.0.0.1", "--port", "0"),
    *,
    cwd: Path,
    listening: int = 1,
    timeout: float = START_TIMEOUT_SECONDS,
) -> Iterator[ServiceProcess]:
    """A `userservice` process that has logged `listening` x "listening"; killed afterwards.

    `cwd` should be a temporary directory: settings read `.env` and default paths from it.
    """
    service = ServiceProcess(args, env, cwd)
    try:
        first = service.wait_for_events("listening", listening, timeout)[0]
        service.port = int(first["port"])
        yield service
    finally:
        service.kill()


def run_userservice(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: Path,
    timeout: float = COMMAND_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """Runs a command to completion (`health`, `migrate`, a `serve` expected to fail)."""
    return subprocess.run(
        [*userservice_command(), *args],
        env=process_env(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_health(address: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`userservice health` against `address`, as an operator or a probe runs it."""
    return run_userservice(["health", "--address", address, "--timeout", "3", *extra], {}, cwd=cwd)


def run_at_terminal(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: Path,
    prompt: str,
    keys: bytes,
    timeout: float = COMMAND_TIMEOUT_SECONDS,
) -> tuple[int, str]:
    """Runs `command` with a pseudo-terminal as its controlling terminal, stdin and stdout,
    types `keys` once `prompt` has appeared on it, and returns (exit status, stderr), stderr
    being a pipe of its own so that what the command reports can be told from its prompt."""
    controller, terminal = os.openpty()

    def take_the_terminal() -> None:  # runs in the child, after setsid (start_new_session)
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        list(command),
        env=process_env(env),
        cwd=cwd,
        stdin=terminal,
        stdout=terminal,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=take_the_terminal,  # only an ioctl: safe even with the runner's threads
    )
    os.close(terminal)
    try:
        shown, deadline = b"", time.monotonic() + timeout
        while prompt.encode() not in shown:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                raise AssertionError(f"no prompt {prompt!r} on the terminal; it showed {shown!r}")
            ready, _, _ = select.select([controller], [], [], remaining)
            if ready:
                shown += os.read(controller, 4096)
        os.write(controller, keys)
        _, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    return process.returncode, stderr.decode()
