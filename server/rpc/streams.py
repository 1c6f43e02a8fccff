"""Long-lived calls (every method whose responses stream): a budget of their own, and a lifetime.

A server-streaming call such as `grpc.health.v1.Health/Watch` lives until its client lets go, and
grpc's `maximum_concurrent_rpcs` counts it like any call: 2,600 anonymous Watch streams once
filled that limit, and every Login, GetJwks and probe then got RESOURCE_EXHAUSTED. So:

- a streaming call is admitted against its own budget, per client address (the address rate
  limits count: x-forwarded-for only from trusted proxies, an IPv6 client by its /64) and in
  total; one past either is refused RESOURCE_EXHAUSTED `TOO_MANY_STREAMS` (with RetryInfo)
  before its handler runs;
- grpc's own limit is raised by this budget (server/transport.py), so streams never take the
  slots of unary calls and health checks;
- a stream ends cleanly (status OK) after 90-100% of its lifetime (the jitter spreads the
  re-opens), and every stream ends at once when the server stops.

`CallPipeline` applies `StreamBudget.guard` to every handler whose `response_streaming` is set,
so a streaming RPC added later is covered without being listed anywhere. A streaming servicer
that wants to end on its own terms before the cap (say, after sending a resume cursor) reads
`current_stream_lifetime()`; past `ends_at` the pipeline cancels it (its `finally` blocks run)
and answers OK.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final

from server.cache.rate_limit import ip_subject
from server.errors import RateLimited, Reason
from server.rpc.call_context import ServicerContext
from server.rpc.caller_address import ClientResolver
from server.rpc.handlers import Behavior

# Streams end within their lifetime, so a refused client may well find room after this.
RETRY_AFTER_SECONDS: Final = 5.0
LIFETIME_JITTER: Final = 0.1


@dataclass(eq=False, slots=True)
class StreamLifetime:
    """When the pipeline ends the current streaming call (cleanly, with status OK)."""

    ends_at: float
    """Event-loop time (`asyncio.get_running_loop().time()`) of the end."""
    _scope: asyncio.Timeout | None = field(default=None, repr=False)

    def remaining(self) -> float:
        """Seconds left before the pipeline ends this call (0 once it is ending)."""
        return max(0.0, self.ends_at - asyncio.get_running_loop().time())


_lifetime_var: ContextVar[StreamLifetime | None] = ContextVar("stream_lifetime", default=None)


def current_stream_lifetime() -> StreamLifetime | None:
    """Inside a streaming handler: its lifetime; None in a unary call."""
    return _lifetime_var.get()


class StreamBudget:
    """Counts the open streaming calls per client address and in total; ends them on time."""

    def __init__(
        self,
        *,
        total: int,
        per_peer: int,
        lifetime_seconds: float,
        clients: ClientResolver,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._total = total
        self._per_peer = per_peer
        self._lifetime = lifetime_seconds
        self._clients = clients
        self._jitter = jitter
        self._by_peer: dict[str, int] = {}
        self._open: set[StreamLifetime] = set()
        self._closing = False
        self.refused_per_peer = 0
        self.refused_total = 0
        self.ended_at_lifetime = 0

    @property
    def active(self) -> int:
        return len(self._open)

    def guard(self, behavior: Behavior) -> Behavior:
        """`behavior` (an async generator, or a coroutine that writes) admitted and timed.

        The result always has the coroutine shape: it writes the generator's responses itself,
        so the lifetime also covers a write blocked on a client that does not read.
        """

        async def guarded(request: Any, context: ServicerContext) -> None:
            peer = ip_subject(self._clients.resolve(context).ip)
            lifetime = self._admit(peer)
            token = _lifetime_var.set(lifetime)
            try:
                await self._run(lifetime, behavior(request, context), context)
            finally:
                _lifetime_var.reset(token)
                self._release(peer, lifetime)

        return guarded

    def end_all(self) -> None:
        """Ends every open stream now (cleanly) and any admitted later at once: the server stops."""
        self._closing = True
        now = asyncio.get_running_loop().time()
        for lifetime in self._open:
            lifetime.ends_at = now
            if lifetime._scope is not None:
                lifetime._scope.reschedule(now)

    def _admit(self, peer: str) -> StreamLifetime:
        if len(self._open) >= self._total:
            self.refused_total += 1
            raise _refused("the server has too many open streams")
        held = self._by_peer.get(peer, 0)
        if held >= self._per_peer:
            self.refused_per_peer += 1
            raise _refused(f"too many open streams from this client (limit {self._per_peer})")
        self._by_peer[peer] = held + 1
        now = asyncio.get_running_loop().time()
        seconds = 0.0 if self._closing else self._lifetime * (1 - LIFETIME_JITTER * self._jitter())
        lifetime = StreamLifetime(now + seconds)
        self._open.add(lifetime)
        return lifetime

    def _release(self, peer: str, lifetime: StreamLifetime) -> None:
        self._open.discard(lifetime)
        held = self._by_peer[peer] - 1
        if held:
            self._by_peer[peer] = held
        else:
            del self._by_peer[peer]

    async def _run(self, lifetime: StreamLifetime, result: Any, context: ServicerContext) -> None:
        scope = asyncio.timeout_at(lifetime.ends_at)
        lifetime._scope = scope
        try:
            async with scope:
                if inspect.isasyncgen(result):
                    async with contextlib.aclosing(result):
                        async for response in result:
                            await context.write(response)
                else:
                    await result
        except TimeoutError:
            if not scope.expired():
                raise  # the handler's own, not the lifetime's
            self.ended_at_lifetime += 1  # a normal end: the client re-opens the stream
        finally:
            lifetime._scope = None  # an exited scope cannot be rescheduled


def _refused(message: str) -> RateLimited:
    return RateLimited(
        message, retry_after_seconds=RETRY_AFTER_SECONDS, reason=Reason.TOO_MANY_STREAMS
    )
