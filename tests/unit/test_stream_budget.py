"""The streaming-call budget on its own: what a streaming servicer sees (its lifetime), how its
responses reach the client, and how it ends (at its lifetime, at shutdown, by its own error).

The context stands in for grpc's servicer context (a peer, metadata, `write`); the behaviours are
plain async generators and coroutines, as a servicer's would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from server.errors import RateLimited
from server.rpc.caller_address import ClientResolver
from server.rpc.streams import StreamBudget, StreamLifetime, current_stream_lifetime


class Context:
    def __init__(self, peer: str = "ipv4:10.0.0.1:4000") -> None:
        self._peer = peer
        self.written: list[Any] = []

    def peer(self) -> str:
        return self._peer

    def invocation_metadata(self) -> tuple[()]:
        return ()

    async def write(self, message: Any) -> None:
        self.written.append(message)


def budget(*, lifetime: float = 60.0, total: int = 10, per_peer: int = 10) -> StreamBudget:
    return StreamBudget(
        total=total,
        per_peer=per_peer,
        lifetime_seconds=lifetime,
        clients=ClientResolver(()),
        jitter=lambda: 1.0,  # the shortest lifetime: 90% of the setting
    )


async def test_a_generator_servicer_is_written_and_sees_its_lifetime() -> None:
    seen: list[StreamLifetime | None] = []

    async def behavior(request: Any, context: Any) -> AsyncIterator[int]:
        seen.append(current_stream_lifetime())
        yield 1
        yield 2

    streams = budget(lifetime=10.0)
    context = Context()
    await streams.guard(behavior)(None, context)

    assert context.written == [1, 2]
    [lifetime] = seen
    assert lifetime is not None
    assert 8.9 < lifetime.remaining() <= 9.0
    assert current_stream_lifetime() is None
    assert streams.active == 0


async def test_past_its_lifetime_a_stream_is_cancelled_and_ends_without_error() -> None:
    cleaned_up = asyncio.Event()

    async def forever(request: Any, context: Any) -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.Event().wait()
        finally:
            cleaned_up.set()

    streams = budget(lifetime=0.05)
    context = Context()
    await streams.guard(forever)(None, context)  # returns: a normal end

    assert context.written == [1]
    assert cleaned_up.is_set()
    assert streams.ended_at_lifetime == 1


async def test_end_all_ends_open_streams_now_and_later_ones_at_once() -> None:
    async def waits(request: Any, context: Any) -> None:
        await context.write("status")
        await asyncio.Event().wait()

    streams = budget()
    guarded = streams.guard(waits)
    running = [asyncio.create_task(guarded(None, Context())) for _ in range(3)]
    await asyncio.sleep(0)  # each task runs up to its first wait: admitted, written
    assert streams.active == 3

    streams.end_all()
    await asyncio.wait_for(asyncio.gather(*running), timeout=5)
    await asyncio.wait_for(guarded(None, Context()), timeout=5)

    assert streams.ended_at_lifetime == 4
    assert streams.active == 0


async def test_a_handlers_own_timeout_is_not_taken_for_the_lifetime() -> None:
    async def fails(request: Any, context: Any) -> None:
        raise TimeoutError("the handler's own")

    streams = budget()
    with pytest.raises(TimeoutError, match="the handler's own"):
        await streams.guard(fails)(None, Context())
    assert streams.ended_at_lifetime == 0
    assert streams.active == 0


async def test_limits_per_client_address_and_in_total() -> None:
    async def waits(request: Any, context: Any) -> None:
        await asyncio.Event().wait()

    streams = budget(total=3, per_peer=2)
    guarded = streams.guard(waits)
    tasks = [
        asyncio.create_task(guarded(None, Context("ipv4:10.0.0.1:1"))),
        asyncio.create_task(guarded(None, Context("ipv4:10.0.0.1:2"))),
    ]
    await asyncio.sleep(0)
    with pytest.raises(RateLimited) as per_peer:
        await guarded(None, Context("ipv4:10.0.0.1:3"))
    # An IPv6 client counts by its /64: a neighbour address is the same client.
    tasks.append(asyncio.create_task(guarded(None, Context("ipv6:[2001:db8::1]:1"))))
    await asyncio.sleep(0)
    with pytest.raises(RateLimited) as total:
        await guarded(None, Context("ipv6:[2001:db8::2]:1"))

    assert per_peer.value.reason == total.value.reason == "TOO_MANY_STREAMS"
    assert (streams.refused_per_peer, streams.refused_total, streams.active) == (1, 1, 3)
    streams.end_all()
    await asyncio.gather(*tasks)
    assert streams.active == 0
