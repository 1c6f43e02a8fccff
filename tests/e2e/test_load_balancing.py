"""Load balancing as a scale-out needs it: one SDK client spreads its calls over every replica
behind one target, and a server recycles its connections after `max_connection_age`, so a
client pinned to one replica moves (and re-resolves) without failing a call.

Two real `userservice` processes play two pods; the target names both, as DNS would for a
headless Service. Which server answered, and over which client connection, is read from each
server's access lines (`peer` is the client's address and port: a new port, a new connection).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.process import ServiceProcess, embedded_env, running_service
from userservice_client import UserServiceClient

pytestmark = pytest.mark.e2e

GET_JWKS = "/userservice.v1.AuthService/GetJwks"
WITHIN_SECONDS = 20.0


def peers(service: ServiceProcess) -> Counter[str]:
    """The client connections (address:port) whose GetJwks calls this server answered OK."""
    return Counter(
        line["peer"]
        for line in service.events("rpc")
        if line.get("method") == GET_JWKS and line.get("code") == "OK"
    )


@pytest.fixture
def two_replicas(tmp_path: Path) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    with ExitStack() as stack:
        replicas = []
        for name in ("a", "b"):
            workdir = tmp_path / name
            workdir.mkdir()
            env = embedded_env(
                workdir,
                max_connection_age_seconds="1",
                max_connection_age_grace_seconds="1",
                streaming_call_lifetime_seconds="1",
            )
            replicas.append(stack.enter_context(running_service(env, cwd=workdir)))
        yield replicas[0], replicas[1]


def test_one_client_reaches_both_replicas_and_moves_when_a_connection_ages(
    two_replicas: tuple[ServiceProcess, ServiceProcess],
) -> None:
    a, b = two_replicas
    target = f"ipv4:127.0.0.1:{a.port},127.0.0.1:{b.port}"
    deadline = time.monotonic() + WITHIN_SECONDS
    calls = 0
    with UserServiceClient(target, timeout=5.0) as client:
        # Every call must succeed, across GOAWAYs; stop once both replicas answered over two
        # connections each (the first one aged out and was replaced).
        while not (len(peers(a)) >= 2 and len(peers(b)) >= 2):
            assert time.monotonic() < deadline, (
                f"after {calls} calls: replica a saw {dict(peers(a))}, b saw {dict(peers(b))}"
            )
            assert client.get_jwks().keys
            calls += 1
            time.sleep(0.02)  # pacing, not waiting: the loop's condition is what is awaited
