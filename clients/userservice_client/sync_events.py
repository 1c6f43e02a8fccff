"""The EventService methods of the blocking `UserServiceClient` (see `sync.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence

from userservice.v1 import events_pb2
from userservice_client.calls import Metadata
from userservice_client.events_api import MAX_RETRY_SECONDS
from userservice_client.sync_calls import SyncCalls


class SyncEventMethods(SyncCalls):
    """Each method blocks on the `AsyncUserServiceClient` method of its name."""

    def watch_events(
        self,
        after: str | int = "",
        types: Sequence[str] = (),
        *,
        max_retry_seconds: float = MAX_RETRY_SECONDS,
        metadata: Metadata = (),
    ) -> Iterator[events_pb2.Event]:
        """See `AsyncUserServiceClient.watch_events`: blocks for each next event, resumes by
        itself after a disconnect. Closing the iterator (or leaving a `for` loop) ends the call."""
        stream = self._client.watch_events(
            after, types, max_retry_seconds=max_retry_seconds, metadata=metadata
        )
        try:
            while True:
                try:
                    yield self._run(_next(stream))
                except StopAsyncIteration:
                    return
        finally:
            if not self._closed:  # closing the client cancelled the call already
                self._run(stream.aclose())

    def list_events(
        self,
        filter: str = "",
        page_size: int = 0,
        page_token: str = "",
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> events_pb2.ListEventsResponse:
        """See `AsyncUserServiceClient.list_events`."""
        return self._run(
            self._client.list_events(
                filter, page_size, page_token, timeout=timeout, metadata=metadata
            )
        )

    def iter_events(
        self,
        filter: str = "",
        page_size: int = 200,
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> Iterator[events_pb2.Event]:
        """Every event matching `filter`, one page at a time."""
        page_token = ""
        while True:
            page = self.list_events(
                filter, page_size, page_token, timeout=timeout, metadata=metadata
            )
            yield from page.events
            page_token = page.next_page_token
            if not page_token:
                return


async def _next(stream: AsyncIterator[events_pb2.Event]) -> events_pb2.Event:
    return await anext(stream)
