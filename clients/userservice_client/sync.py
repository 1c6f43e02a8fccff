"""`UserServiceClient`: the blocking facade, for code that has no event loop.

It owns a private event loop running in a daemon thread and hands each call to it with
`asyncio.run_coroutine_threadsafe`, so it behaves exactly like `AsyncUserServiceClient` (same
channel reuse, deadlines, request ids, token refresh, errors). It may be shared by threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from userservice.v1 import auth_pb2, user_pb2
from userservice_client.calls import Metadata
from userservice_client.channel import ChannelOption, TlsOptions
from userservice_client.client import AsyncUserServiceClient, Role, State
from userservice_client.credentials import Credentials
from userservice_client.sync_events import SyncEventMethods

T = TypeVar("T")


class UserServiceClient(SyncEventMethods):
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

    # UserService

    def create_user(
        self,
        email: str,
        password: str,
        display_name: str = "",
        *,
        request_id: str | None = None,
        role: Role | None = None,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> user_pb2.User:
        """See `AsyncUserServiceClient.create_user`."""
        return self._run(
            self._client.create_user(
                email,
                password,
                display_name,
                request_id=request_id,
                role=role,
                timeout=timeout,
                metadata=metadata,
            )
        )

    def get_user(
        self, user_id: str = "me", *, timeout: float | None = None, metadata: Metadata = ()
    ) -> user_pb2.User:
        """See `AsyncUserServiceClient.get_user`."""
        return self._run(self._client.get_user(user_id, timeout=timeout, metadata=metadata))

    def list_users(
        self,
        page_size: int = 0,
        page_token: str = "",
        filter: str = "",
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> user_pb2.ListUsersResponse:
        """See `AsyncUserServiceClient.list_users`."""
        return self._run(
            self._client.list_users(
                page_size, page_token, filter, timeout=timeout, metadata=metadata
            )
        )

    def iter_users(
        self,
        filter: str = "",
        page_size: int = 100,
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> Iterator[user_pb2.User]:
        """Every user matching `filter`, one page at a time (admin)."""
        page_token = ""
        while True:
            page = self.list_users(
                page_size, page_token, filter, timeout=timeout, metadata=metadata
            )
            yield from page.users
            page_token = page.next_page_token
            if not page_token:
                return

    def update_user(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        email: str | None = None,
        role: Role | None = None,
        state: State | None = None,
        etag: str = "",
        current_password: str = "",
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> user_pb2.User:
        """See `AsyncUserServiceClient.update_user`."""
        return self._run(
            self._client.update_user(
                user_id,
                display_name=display_name,
                email=email,
                role=role,
                state=state,
                etag=etag,
                current_password=current_password,
                timeout=timeout,
                metadata=metadata,
            )
        )

    def delete_user(
        self,
        user_id: str = "me",
        etag: str = "",
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> None:
        """See `AsyncUserServiceClient.delete_user`."""
        self._run(self._client.delete_user(user_id, etag, timeout=timeout, metadata=metadata))

    def change_password(
        self, current: str, new: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """See `AsyncUserServiceClient.change_password`."""
        self._run(self._client.change_password(current, new, timeout=timeout, metadata=metadata))

    # AuthService

    def login(
        self, email: str, password: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> auth_pb2.TokenPair:
        """See `AsyncUserServiceClient.login` (the client then calls as that user)."""
        return self._run(self._client.login(email, password, timeout=timeout, metadata=metadata))

    def refresh_token(
        self, refresh_token: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> auth_pb2.TokenPair:
        """See `AsyncUserServiceClient.refresh_token`."""
        return self._run(
            self._client.refresh_token(refresh_token, timeout=timeout, metadata=metadata)
        )

    def issue_service_token(
        self,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] = (),
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> auth_pb2.TokenPair:
        """See `AsyncUserServiceClient.issue_service_token`."""
        return self._run(
            self._client.issue_service_token(
                client_id, client_secret, scopes, timeout=timeout, metadata=metadata
            )
        )

    def logout(
        self, refresh_token: str = "", *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """See `AsyncUserServiceClient.logout`."""
        self._run(self._client.logout(refresh_token, timeout=timeout, metadata=metadata))

    def validate_token(
        self, access_token: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> auth_pb2.ValidateTokenResponse:
        """See `AsyncUserServiceClient.validate_token`."""
        return self._run(
            self._client.validate_token(access_token, timeout=timeout, metadata=metadata)
        )

    def get_jwks(
        self, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> auth_pb2.GetJwksResponse:
        """See `AsyncUserServiceClient.get_jwks`."""
        return self._run(self._client.get_jwks(timeout=timeout, metadata=metadata))

    def list_sessions(
        self,
        user_id: str = "me",
        page_size: int = 0,
        page_token: str = "",
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> auth_pb2.ListSessionsResponse:
        """See `AsyncUserServiceClient.list_sessions`."""
        return self._run(
            self._client.list_sessions(
                user_id, page_size, page_token, timeout=timeout, metadata=metadata
            )
        )

    def revoke_session(
        self, session_id: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """See `AsyncUserServiceClient.revoke_session`."""
        self._run(self._client.revoke_session(session_id, timeout=timeout, metadata=metadata))

    def revoke_all_sessions(
        self, user_id: str = "me", *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """See `AsyncUserServiceClient.revoke_all_sessions`."""
        self._run(self._client.revoke_all_sessions(user_id, timeout=timeout, metadata=metadata))


__all__ = ["UserServiceClient"]
