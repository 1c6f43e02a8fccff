"""argon2id hashing, in a thread pool so the event loop never waits on it."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import threading
from concurrent.futures import Executor

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHING_NICENESS = 10


def lower_thread_priority() -> None:
    """ThreadPoolExecutor initializer: hashing yields the CPU to the event loop.

    argon2 is ~20-30 ms of CPU per call; at normal priority a burst of logins starves the loop
    that answers every other call. Niced threads still use every idle cycle. Linux applies
    `setpriority` to a single thread when given its id; elsewhere this does nothing.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class PasswordHasher:
    """Hashes and verifies passwords off the event loop (argon2-cffi releases the GIL)."""

    def __init__(
        self, *, memory_kib: int, time_cost: int, parallelism: int, executor: Executor
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._executor = executor
        # Verified against when the email is unknown, so that both failures cost the same.
        self._dummy_hash = self._hasher.hash("dummy password for unknown accounts")
        # argon2 computations finished, by operation (exported as a metric).
        self.computed: collections.Counter[str] = collections.Counter()

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        hashed = await loop.run_in_executor(self._executor, self._hasher.hash, password)
        self.computed["hash"] += 1
        return hashed

    async def verify(self, password_hash: str, password: str) -> bool:
        loop = asyncio.get_running_loop()
        matches = await loop.run_in_executor(self._executor, self._verify, password_hash, password)
        self.computed["verify"] += 1
        return matches

    async def verify_dummy(self, password: str) -> None:
        """Spends the time a real verification would, for an account that does not exist."""
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
