"""A redis-server of the test's own, which the test may kill and bring back.

The shared Redis must never be stopped or flushed, so outage tests start their own server on a
free port. `kill()` is an outage (SIGKILL: no goodbye to clients); `start()` after it brings up a
new, empty server on the same port, as a restarted Redis without persistence would be;
`pause()` hangs it (SIGSTOP) with its data kept until `resume()`. Every wait
is bounded: the server answers PING within START_TIMEOUT_SECONDS or the test fails with its log.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import redis.asyncio as redis_asyncio

from tests.support.backends import unavailable
from tests.support.ports import free_port

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
_PING_INTERVAL_SECONDS = 0.02
_PORT_ATTEMPTS = 5


def redis_server_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


class PrivateRedis:
    """One redis-server process at a time on a port fixed at the first start."""

    def __init__(self, binary: str, workdir: Path, host: str = "127.0.0.1") -> None:
        self.binary = binary
        self.workdir = workdir
        self.host = host
        self.port = 0
        self.starts = 0
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def client(self) -> redis_asyncio.Redis:
        """A client of the test's own (not the application's), with short timeouts."""
        return redis_asyncio.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)

    async def start(self) -> None:
        """A new, empty server; on the first start a free port is chosen, later the same one."""
        assert not self.running, "redis-server is already running"
        first = self.starts == 0
        # A free port can be taken between the probe and the bind: then try another, at first.
        for _ in range(_PORT_ATTEMPTS if first else 1):
            if first:
                self.port = free_port(self.host)
            if await self._launch():
                self.starts += 1
                return
        raise AssertionError(f"redis-server did not start on port {self.port}:\n{self.log}")

    async def kill(self) -> None:
        """An outage: SIGKILL, then wait until the process is gone (its data with it)."""
        await self._signal_and_wait(signal.SIGKILL)

    async def stop(self) -> None:
        await self._signal_and_wait(signal.SIGTERM)

    def pause(self) -> None:
        """A hung Redis (SIGSTOP): connections open, nothing answers, and the data is kept."""
        self._running_process().send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: the same server, with the same data, answers again."""
        self._running_process().send_signal(signal.SIGCONT)

    async def restart(self) -> None:
        """Kill, and a new empty server on the same port."""
        await self.kill()
        await self.start()

    def _running_process(self) -> asyncio.subprocess.Process:
        process = self._process
        assert process is not None, "redis-server is not running"
        assert process.returncode is None, "redis-server has exited"
        return process

    @property
    def log(self) -> str:
        path = self._log_path()
        return path.read_text(errors="replace") if path.exists() else ""

    def _log_path(self) -> Path:
        return self.workdir / f"redis-{self.port}.log"

    async def _launch(self) -> bool:
        """True once the new server answers PING; False if it exited (port taken)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self._log_path().open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        probe = redis_asyncio.Redis(
            host=self.host, port=self.port, socket_timeout=1, socket_connect_timeout=1
        )
        try:
            while time.monotonic() < deadline:
                if self._process.returncode is not None:
                    self._process = None
                    return False
                with suppress(OSError, redis_asyncio.RedisError):
                    if await probe.ping():
                        return True
                await asyncio.sleep(_PING_INTERVAL_SECONDS)
        finally:
            await probe.aclose()
        await self.kill()
        raise AssertionError(
            f"redis-server on port {self.port} did not answer PING within "
            f"{START_TIMEOUT_SECONDS}s:\n{self.log}"
        )

    async def _signal_and_wait(self, signum: int) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with suppress(ProcessLookupError):
            process.send_signal(signum)
            if signum != signal.SIGKILL:
                process.send_signal(signal.SIGCONT)  # a paused server must wake to obey
        try:
            async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                await process.wait()
        except TimeoutError:
            with suppress(ProcessLookupError):
                process.kill()
            await process.wait()


@asynccontextmanager
async def private_redis(workdir: Path) -> AsyncIterator[PrivateRedis]:
    """A started private redis-server; killed when the block ends, whatever happened in it."""
    binary = redis_server_binary()
    if binary is None:
        unavailable("redis-server", FileNotFoundError("no redis-server binary on PATH"))
        raise AssertionError("unreachable")  # pragma: no cover - unavailable() skips or fails
    server = PrivateRedis(binary, workdir)
    try:
        await server.start()
        yield server
    finally:
        await server.kill()
