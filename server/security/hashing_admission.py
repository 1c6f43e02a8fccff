"""Admission to the password-hashing pool: a bounded queue, refused at once, never waited on.

argon2 is ~20-30 ms of CPU per hash and the pool has one thread per core, so a burst of logins
larger than the pool only queues: each queued call holds its connection, its rate-limit slot and
the event loop's attention while it waits, and a caller whose deadline passes in the queue has
cost the hash for nothing. Here every call that will hash asks first, on the event loop:

- at most `threads + queue` calls are admitted at once (hashing, waiting for a thread, or doing
  the lookups just before their hash); the next is refused (`QUEUE_FULL`);
- a call whose deadline would pass before its own hashes finish, given the hashes already
  admitted ahead of it and a moving average of how long one hash takes, is refused too
  (`DEADLINE`): better an immediate RESOURCE_EXHAUSTED than a DEADLINE_EXCEEDED after the work.

A refusal says when to retry: the time the work already admitted needs to drain. Everything here
runs on the event loop (no locks); the hash time is measured in the hashing thread and reported
back by the awaiting coroutine.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Weight of the latest hash in the moving average: reacts within ~10 hashes to a slower machine
# (a noisy neighbour, a lower CPU limit) without jumping at one outlier.
SMOOTHING = 0.2


class RefusalCause(enum.StrEnum):
    QUEUE_FULL = "queue_full"
    DEADLINE = "deadline"


@dataclass(frozen=True, slots=True)
class Refusal:
    cause: RefusalCause
    retry_after_seconds: float


class HashingAdmission:
    """Counts the calls admitted to the hashing pool and the hashes they may still run."""

    def __init__(self, *, threads: int, queue: int, initial_hash_seconds: float) -> None:
        if threads < 1 or queue < 0 or initial_hash_seconds <= 0:
            raise ValueError("threads ≥ 1, queue ≥ 0 and a positive hash time are required")
        self.threads = threads
        self.capacity = threads + queue
        self.hash_seconds = initial_hash_seconds
        self.in_flight = 0  # calls admitted and not yet finished
        self.pending_hashes = 0  # hashes those calls may still run
        self.hashes = 0  # hashes computed since start
        self.refusals: dict[RefusalCause, int] = dict.fromkeys(RefusalCause, 0)

    def wait_seconds(self, hashes: int) -> float:
        """When a call running `hashes` hashes, admitted now, would expect them done."""
        rounds_ahead = self.pending_hashes // self.threads
        return (rounds_ahead + hashes) * self.hash_seconds

    def try_admit(self, hashes: int, seconds_left: float | None) -> Refusal | None:
        """Admits a call that will run up to `hashes` hashes, or says why not. `seconds_left`:
        the call's remaining deadline (None: no deadline)."""
        cause = None
        if self.in_flight >= self.capacity:
            cause = RefusalCause.QUEUE_FULL
        elif seconds_left is not None and self.wait_seconds(hashes) > seconds_left:
            cause = RefusalCause.DEADLINE
        if cause is not None:
            self.refusals[cause] += 1
            drain = self.pending_hashes / self.threads * self.hash_seconds
            return Refusal(cause, max(drain, self.hash_seconds))
        self.in_flight += 1
        self.pending_hashes += hashes
        return None

    def hashed(self, seconds: float, *, reserved: bool = True) -> None:
        """One hash of an admitted call finished, after `seconds` of its thread's time;
        `reserved`: one the call asked for at admission (not an extra, such as a rehash)."""
        self.hashes += 1
        if reserved:
            self.pending_hashes -= 1
        self.hash_seconds += SMOOTHING * (seconds - self.hash_seconds)

    def finished(self, unused_hashes: int) -> None:
        """An admitted call is done; it ran `unused_hashes` fewer hashes than it asked for."""
        self.in_flight -= 1
        self.pending_hashes -= unused_hashes
