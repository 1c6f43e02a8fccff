"""`UserServiceClient`: the blocking facade, for code that has no event loop.

It owns a private event loop running in a daemon thread and hands each call to it with
`asyncio.run_coroutine_threadsafe`, so it behaves exactly like `AsyncUserServiceClient` (same
channel reuse, deadlines, request ids, token refresh, errors). It may be shared by threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from userservice_client.channel import ChannelOption, TlsOptions
from userservice_client.client import AsyncUserServiceClient
from userservice_client.credentials import Credentials
from userservice_client.sync_auth import SyncAuthMethods
from userservice_client.sync_events import SyncEventMethods
from userservice_client.sync_users import SyncUserMethods

T = TypeVar("T")


class UserServiceClient(SyncUserMethods, SyncAuthMethods, SyncEventMethods):
    """The blocking client: `with UserServiceClient("host:50051") as client: ...`.

    Takes the arguments of `AsyncUserServiceClient` and offers the same methods, which block
    until the call completes. `close()` (or leaving the `with` block) closes the channel and
    stops the private loop.
    """

    def __init__(
        self,
        target: str,
        *,
        credentials: Credentials | None = None,
        tls: TlsOptions | None = None,
        timeout: float = 5.0,
        options: Sequence[ChannelOption] = (),
    ) -> None:
        self._client = AsyncUserServiceClient(
            target, credentials=credentials, tls=tls, timeout=timeout, options=options
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="userservice-client", daemon=True
        )
        self._thread.start()
        self._closed = False
        self._close_lock = threading.Lock()

    @property
    def credentials(self) -> Credentials | None:
        """How calls authenticate; `login()` replaces them with a `LoginSession`."""
        return self._client.credentials

    @credentials.setter
    def credentials(self, credentials: Credentials | None) -> None:
        self._client.credentials = credentials

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            call.close()
            raise RuntimeError("this UserServiceClient is closed")
        if threading.current_thread() is self._thread:
            call.close()
            raise RuntimeError("UserServiceClient called from its own loop; use the async client")
        future = asyncio.run_coroutine_threadsafe(call, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt while waiting: do not leave the call running
            raise

    def __enter__(self) -> Self:
        self._run(self._client.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Closes the channel and stops the private loop. Safe to call twice."""
        with self._close_lock:
            if self._closed:
                return
            try:
                self._run(self._client.close())
            finally:
                self._closed = True
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join()
                self._loop.close()


__all__ = ["UserServiceClient"]
