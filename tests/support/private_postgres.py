"""A PostgreSQL cluster of the test's own, which the test may stop, kill and start again.

The shared PostgreSQL must never be stopped, so the tests of its shutdown and start-up initdb a
cluster into a temporary directory and run it on a free port (listening on 127.0.0.1 only, its
unix socket in the same directory, trust authentication, no fsync: nothing in it must survive a
crash). PostgreSQL refuses to run as root, so as root every command runs as the `postgres` OS
user, which then owns the directory. Every wait is bounded; a failure shows the server's log.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Literal

import asyncpg

from tests.support.backends import unavailable
from tests.support.ports import free_port
from tests.support.waiting import eventually

START_TIMEOUT_SECONDS = 30
COMMAND_TIMEOUT_SECONDS = 60.0
_OS_USER = "postgres"

StopMode = Literal["smart", "fast", "immediate"]


def postgres_bin_dir() -> Path | None:
    """The newest installed server's bin directory (Debian's layout), else wherever initdb is."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """One cluster in `directory`, always on the port chosen at the first start."""

    def __init__(self, bin_dir: Path, directory: Path, settings: Mapping[str, str]) -> None:
        self.bin_dir = bin_dir
        self.directory = directory
        self.data = directory / "data"
        self.log_path = directory / "postgres.log"
        self.settings = dict(settings)
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def dsn(self) -> str:
        """asyncpg's DSN of the `postgres` database as the `postgres` superuser."""
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy's URL of a database in the cluster."""
        return f"postgresql+asyncpg://postgres@{self.host}:{self.port}/{database}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def init(self) -> None:
        await self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-N")
        self.port = free_port(self.host)
        settings = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.directory}'",
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
            **self.settings,
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    async def start(self) -> None:
        """Starts the cluster and waits until it accepts connections."""
        await self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-t",
            str(START_TIMEOUT_SECONDS),
            "-w",
            "start",
        )

    async def stop(self, mode: StopMode = "fast", *, wait: bool = True) -> None:
        """`pg_ctl stop -m mode`; with wait=False it returns at once (a smart shutdown then waits
        for the open sessions to end, refusing new ones as "shutting down")."""
        await self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w" if wait else "-W", "stop")

    async def wait_stopped(self) -> None:
        """Until the postmaster has exited (after a stop without waiting)."""

        async def exited() -> bool:
            return not self.running

        await eventually(exited, within=COMMAND_TIMEOUT_SECONDS, what="the postmaster's exit")

    @property
    def running(self) -> bool:
        pid = self._postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        """A crash: SIGKILL to the postmaster (its backends exit when they notice)."""
        pid = self._postmaster_pid()
        if pid is not None:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def connect(self, **kwargs: object) -> asyncpg.Connection:
        """A plain connection of the test's own (not pooled, not the application's)."""
        connection: asyncpg.Connection = await asyncpg.connect(self.dsn, timeout=5, **kwargs)
        return connection

    def _postmaster_pid(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        with suppress(FileNotFoundError, ValueError, IndexError):
            return int(pid_file.read_text().splitlines()[0])
        return None

    async def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _OS_USER, "--", *command]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_SECONDS):
                output, _ = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"{program} {' '.join(args)} hung:\n{self.log}") from None
        if process.returncode != 0:
            raise AssertionError(
                f"{program} {' '.join(args)} failed ({process.returncode}):\n"
                f"{output.decode(errors='replace')}\n{self.log}"
            )


def _major_version(bin_dir: Path) -> int:
    match = re.search(r"/(\d+)/bin$", str(bin_dir))
    return int(match.group(1)) if match else 0


def _new_cluster(
    max_connections: int | None, settings: Mapping[str, str] | None
) -> PrivatePostgres:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        unavailable("PostgreSQL server binaries", FileNotFoundError("no initdb installed"))
        raise AssertionError("unreachable")  # pragma: no cover - unavailable() skips or fails
    extra = dict(settings or {})
    if max_connections is not None:
        # No slot reserved for superusers (the tests connect as one): the test can take them all.
        extra["max_connections"] = str(max_connections)
        extra["superuser_reserved_connections"] = "0"
        if _major_version(bin_dir) >= 16:
            extra["reserved_connections"] = "0"
    directory = Path(tempfile.mkdtemp(prefix="userservice-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, _OS_USER, _OS_USER)
    return PrivatePostgres(bin_dir, directory, extra)


async def _started(cluster: PrivatePostgres) -> None:
    await cluster.init()
    await cluster.start()


async def _disposed(cluster: PrivatePostgres) -> None:
    try:
        if cluster.running:
            try:
                await cluster.stop("immediate")
            except AssertionError:
                cluster.kill()
    finally:
        shutil.rmtree(cluster.directory, ignore_errors=True)


@asynccontextmanager
async def private_postgres(
    *, max_connections: int | None = None, settings: Mapping[str, str] | None = None
) -> AsyncIterator[PrivatePostgres]:
    """A started private cluster; stopped and deleted when the block ends, whatever happened."""
    cluster = _new_cluster(max_connections, settings)
    try:
        await _started(cluster)
        yield cluster
    finally:
        await _disposed(cluster)


@contextmanager
def private_postgres_outside_loop(
    *, max_connections: int | None = None, settings: Mapping[str, str] | None = None
) -> Iterator[PrivatePostgres]:
    """The same, for a fixture shared by a module's tests (each test runs its own event loop;
    the cluster keeps no loop-bound state, so it outlives them)."""
    cluster = _new_cluster(max_connections, settings)
    try:
        asyncio.run(_started(cluster))
        yield cluster
    finally:
        asyncio.run(_disposed(cluster))
