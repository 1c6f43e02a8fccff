"""Two real `userservice` processes (A and B) on one PostgreSQL database and a private
redis-server the test may pause (SIGSTOP), resume and restart; what each says about Redis is read
where an operator reads it, its metrics."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
import pytest

from tests.support.backends import postgres_database
from tests.support.ports import free_port
from tests.support.private_redis import PrivateRedis, private_redis
from tests.support.process import ServiceProcess, running_service

# Replicas go live within milliseconds of starting; a stalled Redis shows after the 2 s
# heartbeat window; reconnects back off up to 5 s apart.
STATE_SECONDS = 15.0


@dataclass
class Replica:
    name: str
    process: ServiceProcess
    channel: grpc.aio.Channel
    metrics_port: int

    def metrics(self) -> dict[str, float]:
        """The process's own exposition, as Prometheus would scrape it (unlabelled samples)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        samples = {}
        for line in text.splitlines():
            if line.startswith("userservice_") and "{" not in line:
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples

    async def metric(self, name: str) -> float:
        return (await asyncio.to_thread(self.metrics))[name]


@asynccontextmanager
async def two_processes(workdir: Path) -> AsyncIterator[tuple[PrivateRedis, Replica, Replica]]:
    async with (
        private_redis(workdir / "redis") as redis_server,
        postgres_database() as database_url,
        AsyncExitStack() as stack,
    ):
        env = {
            "USERSERVICE_LOG_FORMAT": "json",
            "USERSERVICE_DATABASE_URL": database_url,
            "USERSERVICE_REDIS_URL": redis_server.url,
            "USERSERVICE_REDIS_KEY_PREFIX": "faults:",
            "USERSERVICE_METRICS_HOST": "127.0.0.1",
            "USERSERVICE_KEYS_DIR": str(workdir / "keys"),  # one signing key for both
        }
        replicas = []
        for name in ("a", "b"):  # one after the other: A migrates and makes the key first
            metrics_port = free_port()
            cwd = workdir / name
            cwd.mkdir(parents=True, exist_ok=True)
            process = stack.enter_context(
                running_service({**env, "USERSERVICE_METRICS_PORT": str(metrics_port)}, cwd=cwd)
            )
            channel = await stack.enter_async_context(
                grpc.aio.insecure_channel(f"127.0.0.1:{process.port}")
            )
            replicas.append(Replica(name, process, channel, metrics_port))
        a, b = replicas
        yield redis_server, a, b


async def until(replica: Replica, name: str, value: float) -> None:
    deadline = time.monotonic() + STATE_SECONDS
    while await replica.metric(name) != value:
        if time.monotonic() >= deadline:
            pytest.fail(f"{replica.name}: {name} not {value} within {STATE_SECONDS}s")
        await asyncio.sleep(0.05)
