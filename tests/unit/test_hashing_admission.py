"""Admission to the hashing pool: a bounded queue, and deadlines that cannot be met, refused at
once. The admission object is pure arithmetic; the hasher runs on an executor the test drives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import pytest

from server.deadlines import set_deadline
from server.errors import HashingBusy, Reason
from server.security.hashing_admission import SMOOTHING, HashingAdmission, RefusalCause
from server.security.passwords import PasswordHasher

HASH = 0.03


def admission(threads: int = 2, queue: int = 2) -> HashingAdmission:
    return HashingAdmission(threads=threads, queue=queue, initial_hash_seconds=HASH)


def test_calls_past_the_threads_and_the_queue_are_refused() -> None:
    gate = admission(threads=2, queue=2)

    answers = [gate.try_admit(1, None) for _ in range(6)]

    assert answers[:4] == [None] * 4
    assert [a.cause for a in answers[4:] if a] == [RefusalCause.QUEUE_FULL] * 2
    assert gate.in_flight == 4
    assert gate.refusals[RefusalCause.QUEUE_FULL] == 2


def test_a_finished_call_makes_room_for_the_next() -> None:
    gate = admission(threads=1, queue=0)
    assert gate.try_admit(1, None) is None
    assert gate.try_admit(1, None) is not None

    gate.hashed(HASH)
    gate.finished(0)

    assert gate.try_admit(1, None) is None


def test_a_call_whose_deadline_passes_in_the_queue_is_refused() -> None:
    gate = admission(threads=2, queue=100)
    for _ in range(6):  # three rounds of two threads ahead
        assert gate.try_admit(1, None) is None

    # (3 rounds ahead + its own hash) * 30 ms = 120 ms
    assert gate.wait_seconds(1) == pytest.approx(4 * HASH)
    refused = gate.try_admit(1, 0.1)
    admitted = gate.try_admit(1, 0.13)

    assert refused is not None
    assert refused.cause is RefusalCause.DEADLINE
    assert admitted is None
    assert gate.refusals[RefusalCause.DEADLINE] == 1


def test_a_call_with_two_hashes_needs_time_for_both() -> None:
    gate = admission(threads=1, queue=10)

    assert gate.try_admit(2, 1.5 * HASH) is not None
    assert gate.try_admit(1, 1.5 * HASH) is None


def test_the_retry_delay_is_the_time_the_admitted_work_needs_to_drain() -> None:
    gate = admission(threads=2, queue=2)
    for _ in range(4):
        gate.try_admit(2, None)  # 8 hashes over 2 threads

    refusal = gate.try_admit(1, None)

    assert refusal is not None
    assert refusal.retry_after_seconds == pytest.approx(4 * HASH)


def test_the_hash_time_is_a_moving_average_of_what_threads_measured() -> None:
    gate = admission()
    gate.try_admit(1, None)

    gate.hashed(0.13)

    assert gate.hash_seconds == pytest.approx(HASH + SMOOTHING * 0.1)
    assert gate.hashes == 1


def test_an_extra_hash_does_not_use_up_another_call_s_share() -> None:
    gate = admission(threads=1, queue=10)
    gate.try_admit(1, None)
    gate.try_admit(1, None)

    gate.hashed(HASH)
    gate.hashed(HASH, reserved=False)  # the first call's rehash
    gate.finished(0)

    assert gate.pending_hashes == 1


class HeldExecutor(Executor):
    """Runs nothing until the test says so: each submitted job waits in `jobs`."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Future[Any], Callable[[], Any]]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.jobs.append((future, lambda: fn(*args, **kwargs)))
        return future

    def run_next(self) -> None:
        future, job = self.jobs.pop(0)
        if future.set_running_or_notify_cancel():
            future.set_result(job())


def hasher_on(executor: Executor, gate: HashingAdmission) -> PasswordHasher:
    return PasswordHasher(
        memory_kib=8, time_cost=1, parallelism=1, executor=executor, admission=gate
    )


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


async def test_a_full_queue_raises_hashing_busy_with_a_retry_delay() -> None:
    gate = admission(threads=1, queue=0)
    hasher = hasher_on(HeldExecutor(), gate)

    async with hasher.admitted():
        with pytest.raises(HashingBusy) as busy:
            async with hasher.admitted():
                pytest.fail("admitted past the bound")

    assert busy.value.reason == Reason.PASSWORD_HASHING_BUSY
    assert busy.value.retry_after_seconds == pytest.approx(HASH)
    assert gate.in_flight == 0


async def test_the_call_s_deadline_decides_before_anything_is_hashed() -> None:
    executor = HeldExecutor()
    gate = admission(threads=1, queue=10)
    hasher = hasher_on(executor, gate)

    set_deadline(HASH / 2)
    with pytest.raises(HashingBusy):
        async with hasher.admitted():
            pytest.fail("admitted although its deadline cannot be met")

    assert executor.jobs == []
    assert gate.refusals[RefusalCause.DEADLINE] == 1


async def test_a_cancelled_call_keeps_its_place_until_its_thread_is_done() -> None:
    executor = HeldExecutor()
    gate = admission(threads=1, queue=0)
    hasher = hasher_on(executor, gate)

    async def verify() -> None:
        async with hasher.admitted() as hashing:
            await hashing.verify("not a hash", "password")

    caller = asyncio.create_task(verify())
    await until(lambda: len(executor.jobs) == 1)
    executor.jobs[0][0].set_running_or_notify_cancel()  # a thread picked it up
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller

    assert gate.in_flight == 1, "a cancelled client must not free a thread that is still busy"
    future, job = executor.jobs.pop()
    future.set_result(job())
    await until(lambda: gate.in_flight == 0)
    assert gate.pending_hashes == 0


async def test_hashes_done_report_their_time_and_free_the_call_s_share() -> None:
    executor = HeldExecutor()
    gate = admission(threads=1, queue=10)
    hasher = hasher_on(executor, gate)

    async def change_password() -> str:
        async with hasher.admitted(hashes=2) as hashing:
            return await hashing.hash("new password")  # the verification failed early, say

    caller = asyncio.create_task(change_password())
    await until(lambda: len(executor.jobs) == 1)
    assert gate.pending_hashes == 2
    executor.run_next()
    await caller

    assert gate.hashes == 1
    assert (gate.in_flight, gate.pending_hashes) == (0, 0)
