"""Counting stream messages for `grpc_server_msg_received_total` / `grpc_server_msg_sent_total`
where the pipeline does not see them one by one: requests read from a request stream, and
responses a handler writes with `context.write` (the health servicer's Watch)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, cast

from prometheus_client import Counter

from server.rpc.call_context import ServicerContext


async def counted_requests(requests: AsyncIterable[Any], received: Counter) -> AsyncIterator[Any]:
    async for request in requests:
        received.inc()
        yield request


class _CountingWrites:
    """The call's context, with each `write` counted; everything else is the context's own."""

    __slots__ = ("_context", "_sent")

    def __init__(self, context: ServicerContext, sent: Counter) -> None:
        self._context = context
        self._sent = sent

    async def write(self, message: Any) -> None:
        await self._context.write(message)
        self._sent.inc()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def counting_writes(context: ServicerContext, sent: Counter) -> ServicerContext:
    return cast(ServicerContext, _CountingWrites(context, sent))
