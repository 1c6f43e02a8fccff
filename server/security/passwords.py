"""argon2id hashing, in a thread pool so the event loop never waits on it, behind admission.

Services hash inside `async with hasher.admitted(hashes=n) as hashing:`, which admits the call at
once or raises `HashingBusy` (server/security/hashing_admission.py). The bare `hash` and `verify`
bypass admission: for callers with nothing to bound (tests).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, Future
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from server.deadlines import seconds_left
from server.errors import HashingBusy
from server.security.hashing_admission import HashingAdmission

HASHING_NICENESS = 10
T = TypeVar("T")


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
        self,
        *,
        memory_kib: int,
        time_cost: int,
        parallelism: int,
        executor: Executor,
        admission: HashingAdmission | None = None,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._executor = executor
        self.admission = admission
        # Verified against when the email is unknown, so that both failures cost the same.
        started = time.perf_counter()
        self._dummy_hash = self._hasher.hash("dummy password for unknown accounts")
        # Admission's first estimate of one hash, until the calls' own hashes are measured.
        self.first_hash_seconds = time.perf_counter() - started
        # argon2 computations finished, by operation (exported as a metric).
        self.computed: collections.Counter[str] = collections.Counter()

    @contextlib.asynccontextmanager
    async def admitted(self, hashes: int = 1) -> AsyncIterator[HashingSlot]:
        """Admits a call that will run up to `hashes` hashes, or raises `HashingBusy` at once.

        Enter it before counting the attempt or looking anything up, so that a refusal has no
        other effect. The call's place is given back when its last hash has left the thread, not
        when it is cancelled: a client cancelling queued logins cannot grow the pool's queue."""
        admission = self.admission
        if admission is not None:
            refusal = admission.try_admit(hashes, seconds_left())
            if refusal is not None:
                raise HashingBusy(
                    "too many password checks in progress; retry shortly",
                    retry_after_seconds=refusal.retry_after_seconds,
                )
        slot = HashingSlot(self, admission, hashes)
        try:
            yield slot
        finally:
            slot.release_when_idle()

    async def hash(self, password: str) -> str:
        hashed = (await asyncio.wrap_future(self._submit(self._hasher.hash, password)))[0]
        self.computed["hash"] += 1
        return hashed

    async def verify(self, password_hash: str, password: str) -> bool:
        verifying = self._submit(self._verify, password_hash, password)
        matches = (await asyncio.wrap_future(verifying))[0]
        self.computed["verify"] += 1
        return matches

    async def verify_dummy(self, password: str) -> None:
        """Spends the time a real verification would, for an account that does not exist."""
        await self.verify(self._dummy_hash, password)

    @property
    def executor(self) -> Executor:
        return self._executor

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _submit(self, work: Callable[..., T], *args: str) -> Future[tuple[T, float]]:
        """Runs `work` on the pool; its result and the seconds its thread spent (not queueing)."""

        def measured() -> tuple[T, float]:
            started = time.perf_counter()
            result = work(*args)
            return result, time.perf_counter() - started

        return self._executor.submit(measured)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


class HashingSlot:
    """The hashes of one admitted call; each reports its thread time to the admission."""

    def __init__(
        self, hasher: PasswordHasher, admission: HashingAdmission | None, hashes: int
    ) -> None:
        self._hasher = hasher
        self._admission = admission
        self._hashes = hashes
        self._done = 0
        self._running: Future[object] | None = None

    async def hash(self, password: str) -> str:
        hashed = await self._run(self._hasher._hasher.hash, password)
        self._hasher.computed["hash"] += 1
        return hashed

    async def verify(self, password_hash: str, password: str) -> bool:
        matches = await self._run(self._hasher._verify, password_hash, password)
        self._hasher.computed["verify"] += 1
        return matches

    async def verify_dummy(self, password: str) -> None:
        """Spends the time a real verification would, for an account that does not exist."""
        await self.verify(self._hasher._dummy_hash, password)

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        future = self._hasher._submit(work, *args)
        self._running = future  # type: ignore[assignment]
        result, seconds = await asyncio.wrap_future(future)
        self._done += 1
        if self._admission is not None:
            self._admission.hashed(seconds, reserved=self._done <= self._hashes)
        return result

    def release_when_idle(self) -> None:
        """Gives the call's place back now, or once a hash its cancelled caller left running in
        a thread is done (cancelling a hash still queued takes it out of the queue)."""
        admission = self._admission
        if admission is None:
            return

        def release() -> None:
            admission.finished(max(0, self._hashes - self._done))

        running = self._running
        if running is None or running.done():
            release()
            return
        loop = asyncio.get_running_loop()

        def from_thread(_: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (shutdown)
                loop.call_soon_threadsafe(release)

        running.add_done_callback(from_thread)
