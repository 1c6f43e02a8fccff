"""The EventService methods of the client: follow the event log, and query it."""

# ruff: noqa: ASYNC109 - `timeout` is the gRPC deadline of the call, as in grpc's own API

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Final

import grpc
import grpc.aio

from userservice.v1 import events_pb2
from userservice_client.base import ClientBase
from userservice_client.calls import AUTHORIZATION_HEADER, TOKEN_EXPIRED, Metadata, new_request_id
from userservice_client.errors import REQUEST_ID_HEADER, UserServiceError, error_from_rpc

# Worth calling again after a pause: the server went away, restarted, shed load or refused a
# token that has since expired (the credentials renew it first).
RESUMABLE: Final = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.INTERNAL,
    }
)
FIRST_RETRY_SECONDS: Final = 0.1
MAX_RETRY_SECONDS: Final = 5.0


class EventServiceMethods(ClientBase):
    """userservice.v1.EventService (administrators and `events:read` service accounts)."""

    async def watch_events(
        self,
        after: str | int = "",
        types: Sequence[str] = (),
        *,
        max_retry_seconds: float = MAX_RETRY_SECONDS,
        metadata: Metadata = (),
    ) -> AsyncGenerator[events_pb2.Event, None]:
        """Every event after the cursor `after` (of `types`, when given), then each new one.

        Never ends by itself: when the stream breaks (the server restarted, a replica shut
        down, the network failed) it calls again from the cursor of the last event it yielded,
        after a pause that doubles up to `max_retry_seconds`, so nothing is missed and nothing
        repeated. `after=""` starts at the oldest event kept; `after="now"` at the next one
        committed (until the first event arrives, a resume starts from "now" again). Errors
        that a retry cannot cure (PermissionDeniedError, InvalidArgumentError, ...) are raised.
        Save `event.cursor` to resume in a later process.
        """
        cursor = str(after)
        pause = FIRST_RETRY_SECONDS
        while True:
            stream, authorization = await self._open_watch(cursor, types, metadata)
            try:
                async for event in stream:
                    pause = FIRST_RETRY_SECONDS
                    cursor = event.cursor
                    yield event
            except grpc.aio.AioRpcError as failed:
                error = error_from_rpc(failed)
                if not await self._worth_resuming(error, authorization):
                    raise error from failed
                if error.retry_delay is not None:
                    pause = max(pause, error.retry_delay.total_seconds())
            finally:
                stream.cancel()
            await asyncio.sleep(pause)
            pause = min(pause * 2, max_retry_seconds)

    async def _open_watch(
        self, cursor: str, types: Sequence[str], metadata: Metadata
    ) -> tuple[
        grpc.aio.UnaryStreamCall[events_pb2.WatchEventsRequest, events_pb2.Event], str | None
    ]:
        """The stream, and the authorization it was opened with (None: the caller's own)."""
        authorization = None
        call_metadata = [(key.lower(), value) for key, value in metadata]
        keys = {key for key, _ in call_metadata}
        if REQUEST_ID_HEADER not in keys:
            call_metadata.append((REQUEST_ID_HEADER, new_request_id()))
        if AUTHORIZATION_HEADER not in keys and self.credentials is not None:
            authorization = await self.credentials.authorization(self)
            if authorization:
                call_metadata.append((AUTHORIZATION_HEADER, authorization))
        request = events_pb2.WatchEventsRequest(after_cursor=cursor, types=list(types))
        # No deadline: the stream lives until it is cancelled or breaks.
        return self._open().events.WatchEvents(request, metadata=call_metadata), authorization

    async def _worth_resuming(self, error: UserServiceError, authorization: str | None) -> bool:
        if error.code in RESUMABLE:
            return True
        if error.reason != TOKEN_EXPIRED or self.credentials is None or authorization is None:
            return False
        return await self.credentials.on_expired(self, authorization)

    async def list_events(
        self,
        filter: str = "",
        page_size: int = 0,
        page_token: str = "",
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> events_pb2.ListEventsResponse:
        """One page of the audit log, oldest first. `filter`: e.g.
        `type = "login.failed" AND create_time >= "2026-12-01T00:00:00Z"`, or on `actor`,
        `target` (ids)."""
        request = events_pb2.ListEventsRequest(
            filter=filter, page_size=page_size, page_token=page_token
        )
        return await self._call(self._open().events.ListEvents, request, timeout, metadata)

    async def iter_events(
        self,
        filter: str = "",
        page_size: int = 200,
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> AsyncIterator[events_pb2.Event]:
        """Every event matching `filter`, fetching pages of `page_size` as it goes."""
        page_token = ""
        while True:
            page = await self.list_events(
                filter, page_size, page_token, timeout=timeout, metadata=metadata
            )
            for event in page.events:
                yield event
            page_token = page.next_page_token
            if not page_token:
                return


__all__ = ["EventServiceMethods"]
