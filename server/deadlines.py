"""The current call's deadline, so every database and Redis call can be bounded by it."""

from __future__ import annotations

import time
from contextvars import ContextVar

from server.errors import DeadlineExceeded

# Monotonic time by which the current RPC must answer; None when the caller set no deadline.
deadline_var: ContextVar[float | None] = ContextVar("deadline", default=None)


def set_deadline(seconds_remaining: float | None) -> None:
    deadline_var.set(None if seconds_remaining is None else time.monotonic() + seconds_remaining)


def budget(upper_bound: float) -> float:
    """Seconds one dependency call may take: its own bound, or less if the RPC ends sooner."""
    deadline = deadline_var.get()
    if deadline is None:
        return upper_bound
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("the call's deadline has passed")
    return min(upper_bound, left)


def seconds_left() -> float | None:
    """The current call's remaining time (negative once passed); None without a deadline."""
    deadline = deadline_var.get()
    return None if deadline is None else deadline - time.monotonic()


def deadline_passed() -> bool:
    deadline = deadline_var.get()
    return deadline is not None and time.monotonic() >= deadline
