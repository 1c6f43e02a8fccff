"""Background tasks: stopping them reliably."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancels `task` until it has ended.

    On Python 3.11 a cancel() that races an `asyncio.timeout` expiring inside the task (redis-py
    reads and our own deadline bounds use one) can be swallowed, leaving the task running; a
    single cancel-and-gather would then wait forever.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    await asyncio.gather(task, return_exceptions=True)
