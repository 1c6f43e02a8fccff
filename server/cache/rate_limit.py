"""Fixed-window rate limits in Redis (atomic, every key with a TTL), per process when Redis is down.

`reserve` is the primitive a brute-force throttle needs: in one Redis round trip (a Lua script,
atomic) it decides and counts the attempt — against every limit when all have room, else only
against the limits that refuse it (PEXPIRE when a key has no TTL, so a window starts with its
first attempt and no key ever outlives it). The caller verifies nothing when it answers a wait.
Since the count and the decision are one step, N concurrent attempts against a limit of M admit
exactly M of them, whatever their interleaving; and an attempt refused by a tight limit (one
address guessing at an account) spends nothing of a wider one (the account's budget, which its
owner shares), so no one can cheaply lock an owner out from elsewhere.

Every attempt is also counted in a bounded in-process counter, which decides when Redis is
unavailable (from the start, or partway through a burst): the limit then holds per process with
the same increment-then-compare semantics (per replica, so looser across replicas, but the
attempts Redis had counted are not forgotten). A Redis that restarts empty starts new windows.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cachetools import TTLCache

from server.cache.client import Redis
from server.cache.guard import RedisGuard, RedisUnavailable
from server.cache.keys import RedisKeys

_LOCAL_CAPACITY = 100_000
# An IPv6 client usually holds a whole /64 (SLAAC, privacy addresses): counting per address
# would give one attacker 2^64 budgets.
IPV6_SUBJECT_PREFIX: Final = 64

# KEYS: one counter per limit; ARGV: each window in milliseconds, then each limit's maximum, in
# the same order. An attempt every limit has room for counts against all of them; one that a limit
# refuses counts only against the limits that refuse it, so an attempt refused by a tight limit
# (one address guessing at an account) spends nothing of a wider one (the account's own budget,
# shared with its owner). A key gets its window as TTL when it has none. Returns count1, pttl1,
# count2, pttl2, ...
_RESERVE_SCRIPT: Final = """
local n = #KEYS
local counts = {}
local refused = false
for i, key in ipairs(KEYS) do
  counts[i] = tonumber(redis.call('GET', key) or '0')
  if counts[i] >= tonumber(ARGV[n + i]) then refused = true end
end
local replies = {}
for i, key in ipairs(KEYS) do
  if (not refused) or counts[i] >= tonumber(ARGV[n + i]) then
    counts[i] = redis.call('INCR', key)
  end
  local ttl = redis.call('PTTL', key)
  if ttl == -1 then
    ttl = tonumber(ARGV[i])
    redis.call('PEXPIRE', key, ttl)
  end
  replies[2 * i - 1] = counts[i]
  replies[2 * i] = ttl
end
return replies
"""


# KEYS: one counter; gives back one attempt (never below zero, never a key without a TTL).
_RELEASE_SCRIPT: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('DECR', KEYS[1]) <= 0 then
  redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    max_count: int
    window_seconds: int


def subject_digest(value: str) -> str:
    """Keys name a digest, not the email itself: Redis holds no personal data for this."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def ip_subject(ip: str) -> str:
    """The subject a per-IP limit counts: an IPv4 address itself (IPv4-mapped IPv6 included), the
    /64 of an IPv6 address, anything that is not an address (a unix socket peer) as given."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        # int() drops a zone id ("%eth0"), which names our interface, not the client.
        network = ipaddress.IPv6Network((int(address), IPV6_SUBJECT_PREFIX), strict=False)
        return str(network)
    return str(address)


@dataclass(frozen=True, slots=True)
class Admission:
    """`wait`: None when the attempt is admitted, else the seconds until it could be."""

    wait: float | None
    first_refusal: bool


class _LocalCounters:
    def __init__(self, limit: Limit) -> None:
        self._entries: TTLCache[str, tuple[int, float]] = TTLCache(
            maxsize=_LOCAL_CAPACITY, ttl=limit.window_seconds
        )
        self._window = limit.window_seconds

    def add(self, subject: str, amount: int) -> tuple[int, float]:
        now = time.monotonic()
        count, started = self._entries.get(subject, (0, now))
        if now >= started + self._window:  # a fixed window: the next attempt starts a new one
            count, started = 0, now
        if amount:
            self._entries[subject] = (count + amount, started)
        return count + amount, max(0.0, started + self._window - now)

    def reset(self, subject: str) -> None:
        self._entries.pop(subject, None)

    def release(self, subject: str) -> None:
        count, started = self._entries.get(subject, (0, 0.0))
        if count > 1:
            self._entries[subject] = (count - 1, started)
        else:
            self._entries.pop(subject, None)


class RateLimiter:
    def __init__(self, redis: Redis, keys: RedisKeys, guard: RedisGuard) -> None:
        self._redis = redis
        self._keys = keys
        self._guard = guard
        self._local: dict[str, _LocalCounters] = {}
        # Registering computes the SHA only; the script is loaded on first use (and again after a
        # Redis restart, on NOSCRIPT).
        self._reserve_script = redis.register_script(_RESERVE_SCRIPT)
        self._release_script = redis.register_script(_RELEASE_SCRIPT)
        # Decisions the in-process counters made because Redis could not, and attempts refused,
        # by the limit that refused them (exported as metrics).
        self.local_decisions = 0
        self.throttled: collections.Counter[str] = collections.Counter()

    def _local_for(self, limit: Limit) -> _LocalCounters:
        counters = self._local.get(limit.name)
        if counters is None:
            counters = self._local[limit.name] = _LocalCounters(limit)
        return counters

    async def reserve(self, checks: Sequence[tuple[Limit, str]]) -> float | None:
        """Counts one attempt against every limit, atomically; None when the attempt is admitted,
        else the seconds until the longest-exhausted limit frees up. An attempt that got a wait
        must not be carried out (no password verified); failures are never refunded."""
        return (await self.admit(checks)).wait

    async def admit(self, checks: Sequence[tuple[Limit, str]]) -> Admission:
        """`reserve`, also saying whether this attempt is the first one a limit refused in its
        window (what is worth recording once, rather than every refused attempt)."""
        if not checks:
            return Admission(None, first_refusal=False)
        counts = await self._add_one(checks)
        wait = self._refusal(checks, counts, over=0)
        first = any(
            count == limit.max_count + 1
            for (limit, _), (count, _left) in zip(checks, counts, strict=True)
        )
        return Admission(wait, first_refusal=first)

    async def retry_after(self, checks: Sequence[tuple[Limit, str]]) -> float | None:
        """Seconds until the first exhausted limit frees up; None when every limit has room.

        A read, not a reservation: check-then-act callers race (see `reserve`)."""
        counts = await self._peek(checks)
        return self._refusal(checks, counts, over=-1)

    def _refusal(
        self, checks: Sequence[tuple[Limit, str]], counts: list[tuple[int, float]], *, over: int
    ) -> float | None:
        """The longest wait among the limits whose count passed `max_count + over`, counted
        under that limit's name; None when every limit has room."""
        waits = [
            (left, limit.name)
            for (limit, _), (count, left) in zip(checks, counts, strict=True)
            if count > limit.max_count + over
        ]
        if not waits:
            return None
        wait, name = max(waits)
        self.throttled[name] += 1
        return wait

    async def hit(self, checks: Sequence[tuple[Limit, str]]) -> None:
        await self._add_one(checks)

    async def consume(self, limit: Limit, subject: str) -> float | None:
        """Counts one attempt; the wait in seconds when that attempt is over the limit."""
        return await self.reserve([(limit, subject)])

    async def reset(self, limit: Limit, subject: str) -> None:
        self._local_for(limit).reset(subject)
        with contextlib.suppress(RedisUnavailable):
            await self._guard.call(
                lambda: self._redis.delete(self._keys.rate_limit(limit.name, subject))
            )

    async def release(self, limit: Limit, subject: str) -> None:
        """Gives back one reserved attempt that turned out legitimate (a correct password), so
        that successes do not use up a shared address's budget; failures keep their slot."""
        self._local_for(limit).release(subject)
        key = self._keys.rate_limit(limit.name, subject)
        with contextlib.suppress(RedisUnavailable):
            await self._guard.call(lambda: self._release_script(keys=[key]))

    async def _add_one(self, checks: Sequence[tuple[Limit, str]]) -> list[tuple[int, float]]:
        keys = [self._keys.rate_limit(limit.name, subject) for limit, subject in checks]
        args = [limit.window_seconds * 1000 for limit, _ in checks]
        args += [limit.max_count for limit, _ in checks]

        async def in_redis() -> list[tuple[int, float]]:
            replies = await self._reserve_script(keys=keys, args=args)
            return [
                (int(replies[i]), max(0, int(replies[i + 1])) / 1000)
                for i in range(0, len(replies), 2)
            ]

        # Counted here too, always, before any await (the event loop makes this atomic per
        # process): when Redis fails partway through a burst, this process's attempts already
        # counted in Redis stay counted, so the fallback gives them no fresh budget.
        local = self._add_locally(checks)
        try:
            return await self._guard.call(in_redis)
        except RedisUnavailable:
            self.local_decisions += 1
            return local

    def _add_locally(self, checks: Sequence[tuple[Limit, str]]) -> list[tuple[int, float]]:
        """The script's rule on the in-process counters (no await: atomic per process)."""
        counters = [(self._local_for(limit), limit, subject) for limit, subject in checks]
        before = [counter.add(subject, 0) for counter, _, subject in counters]
        full = [
            count >= limit.max_count
            for (_, limit, _), (count, _) in zip(counters, before, strict=True)
        ]
        return [
            counter.add(subject, 1) if is_full or not any(full) else current
            for (counter, _, subject), current, is_full in zip(counters, before, full, strict=True)
        ]

    async def _peek(self, checks: Sequence[tuple[Limit, str]]) -> list[tuple[int, float]]:
        async def in_redis() -> list[tuple[int, float]]:
            async with self._redis.pipeline(transaction=True) as pipe:
                for limit, subject in checks:
                    key = self._keys.rate_limit(limit.name, subject)
                    pipe.get(key)
                    pipe.pttl(key)
                replies = await pipe.execute()
            return [
                (int(replies[i] or 0), max(0, int(replies[i + 1])) / 1000)
                for i in range(0, len(replies), 2)
            ]

        try:
            return await self._guard.call(in_redis)
        except RedisUnavailable:
            return [self._local_for(limit).add(subject, 0) for limit, subject in checks]
