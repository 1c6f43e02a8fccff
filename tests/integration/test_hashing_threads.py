"""The hashing pool has the size it is given, or one thread per usable CPU."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from server.security.passwords import usable_cpus
from tests.support import servers
from tests.support.backends import Backend
from tests.support.flows import create_user

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity"), reason="CPU affinity is a Linux feature"
)


def hashing_threads() -> int:
    return sum(thread.name.startswith("argon2") for thread in threading.enumerate())


async def test_usable_cpus_follows_the_affinity_mask() -> None:
    everything = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(everything)})
        assert usable_cpus() == 1
    finally:
        os.sched_setaffinity(0, everything)
    assert usable_cpus() == len(everything)


@pytest.mark.parametrize("threads", [1, 3])
async def test_the_pool_never_grows_past_the_setting(
    backend: Backend, tmp_path: Path, threads: int
) -> None:
    assert hashing_threads() == 0, "a hashing pool of another application is still alive"
    settings = servers.settings_for_test(backend, tmp_path, hashing_threads=threads)
    async with servers.serving(settings) as (_app, channel):
        # More sign-ups at once than threads: the executor adds a thread per waiting hash,
        # up to its bound.
        await asyncio.gather(*(create_user(channel) for _ in range(threads + 3)))

        assert hashing_threads() == threads
    assert hashing_threads() == 0
