"""Waiting for a condition another task or process makes true, with a deadline, never a guess.

A test that reads what the server records after answering (metrics, logs, Redis copies) must
poll for it: the answer reaching the client does not mean the recording has happened yet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

POLL_SECONDS = 0.02


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float, what: str) -> None:
    """Polls `check` until it holds; fails after `within` seconds naming `what`."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not within {within}s")
        await asyncio.sleep(POLL_SECONDS)
