"""What the benchmark runs against: the real server process, production-like when it can be.

PostgreSQL and Redis when they answer (a fresh database and key prefix, removed afterwards), in
production mode with a generated signing key; otherwise the embedded default.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

POSTGRES_DSN = os.environ.get(
    "USERSERVICE_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("USERSERVICE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True, slots=True)
class Backends:
    description: str
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _postgres_ok() -> bool:
    import asyncpg

    try:
        connection = await asyncpg.connect(POSTGRES_DSN, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


async def _redis_ok() -> bool:
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        return bool(await client.ping())
    except (OSError, redis_asyncio.RedisError):
        return False
    finally:
        await client.aclose()


async def _create_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def _drop(name: str, prefix: str) -> None:
    import asyncpg
    import redis.asyncio as redis_asyncio

    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    client = redis_asyncio.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@contextmanager
def backends(workdir: Path, *, embedded: bool) -> Iterator[Backends]:
    if not embedded and asyncio.run(_postgres_ok()) and asyncio.run(_redis_ok()):
        name = f"userservice_bench_{uuid.uuid4().hex[:12]}"
        prefix = f"usbench:{uuid.uuid4().hex[:8]}:"
        asyncio.run(_create_database(name))
        base = POSTGRES_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        env = {
            "USERSERVICE_ENVIRONMENT": "production",
            "USERSERVICE_DATABASE_URL": f"{base}/{name}",
            "USERSERVICE_REDIS_URL": REDIS_URL,
            "USERSERVICE_REDIS_KEY_PREFIX": prefix,
            "USERSERVICE_PAGE_TOKEN_SECRET": secrets.token_urlsafe(48),
            "USERSERVICE_MIGRATE_ON_START": "true",
        }
        try:
            yield Backends("PostgreSQL + Redis (production mode)", env)
        finally:
            asyncio.run(_drop(name, prefix))
        return
    env = {"USERSERVICE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}"}
    yield Backends("SQLite + memory:// (embedded; PostgreSQL or Redis unreachable)", env)


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    port: int

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        with suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


def _wait_port(port: int, popen: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"the process exited with {popen.returncode} before listening")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {port} in time")


@contextmanager
def userservice(
    workdir: Path, env: dict[str, str], *, metrics_port: int, workers: int = 1
) -> Iterator[Process]:
    port = free_port()
    import datetime as dt

    from server.config import SigningAlgorithm
    from server.security.keys import generate_key

    keys = workdir / "keys"
    if not any(keys.glob("*.pem")):
        generate_key(keys, SigningAlgorithm.EDDSA, now=dt.datetime.now(dt.UTC))
    full = {k: v for k, v in os.environ.items() if not k.startswith("USERSERVICE_")}
    full.update(
        {
            "USERSERVICE_KEYS_DIR": str(keys),
            "USERSERVICE_METRICS_PORT": str(metrics_port),
            "USERSERVICE_METRICS_HOST": "127.0.0.1",
            "USERSERVICE_LOG_FORMAT": "json",
            # Throttling would turn a benchmark's repeated logins into RATE_LIMITED answers.
            "USERSERVICE_LOGIN_FAILURES_PER_ACCOUNT": "1000000",
            "USERSERVICE_LOGIN_FAILURES_PER_ACCOUNT_AND_IP": "1000000",
            "USERSERVICE_LOGIN_FAILURES_PER_IP": "1000000",
            "USERSERVICE_SIGNUPS_PER_IP": "1000000",
            **env,
        }
    )
    log = (workdir / "server.log").open("wb")
    command = [
        str(Path(sys.executable).parent / "userservice"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    popen = subprocess.Popen(
        command, env=full, cwd=workdir, stdout=log, stderr=log, start_new_session=True
    )
    process = Process(popen, port)
    try:
        _wait_port(port, popen, time.monotonic() + 60)
        yield process
    finally:
        process.stop()
        log.close()


@contextmanager
def ceiling_server() -> Iterator[Process]:
    popen = subprocess.Popen(
        [sys.executable, "-m", "bench.ceiling", "--port", "0"],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert popen.stdout is not None
    port = int(popen.stdout.readline())
    process = Process(popen, port)
    try:
        yield process
    finally:
        process.stop()


def scratch() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="userservice-bench-")


__all__ = [
    "Backends",
    "Process",
    "backends",
    "ceiling_server",
    "free_port",
    "json",
    "scratch",
    "userservice",
]
