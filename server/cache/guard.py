"""Every Redis call bounded by the RPC's deadline; after a failure, Redis is skipped briefly.

Redis holds only what can be rebuilt, so callers degrade on `RedisUnavailable` (read the
database, count locally). The cool-down keeps a dead or black-holed Redis from costing a
timeout on every call; after it, the next call tries Redis again, so recovery needs no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from server.cache.client import REDIS_ERRORS
from server.deadlines import budget
from server.observability.spans import SpanOpener

T = TypeVar("T")


class RedisUnavailable(Exception):
    """Redis did not answer (or is cooling down after a failure); degrade."""


_NO_SPAN = contextlib.nullcontext()
_SPAN_ATTRIBUTES = {"db.system": "redis"}


class RedisGuard:
    def __init__(
        self,
        *,
        timeout_seconds: float,
        cooldown_seconds: float = 1.0,
        spans: SpanOpener | None = None,
    ) -> None:
        self._timeout = timeout_seconds
        self._spans = spans
        self._cooldown = cooldown_seconds
        self._retry_at = 0.0
        self._log = structlog.get_logger("userservice.redis")
        # Exported as metrics: the outcome of the latest call that reached for Redis, and how
        # many calls failed.
        self.reachable = True
        self.failures = 0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._retry_at

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        if not self.available:
            raise RedisUnavailable
        # A child span of the call's, when tracing is on (one per round trip through the guard).
        span = _NO_SPAN if self._spans is None else self._spans("redis", _SPAN_ATTRIBUTES)
        try:
            with span:
                async with asyncio.timeout(budget(self._timeout)):
                    result = await operation()
        except REDIS_ERRORS as exc:
            self.reachable = False
            self.failures += 1
            if self._retry_at == 0.0 or self.available:
                self._log.warning("redis unavailable; degrading", error=type(exc).__name__)
            self._retry_at = time.monotonic() + self._cooldown
            raise RedisUnavailable from exc
        self.reachable = True
        if self._retry_at:
            self._retry_at = 0.0
            self._log.info("redis available again")
        return result
