"""The UserService methods of the blocking `UserServiceClient` (see `sync.py`)."""

from __future__ import annotations

from collections.abc import Iterator

from userservice.v1 import user_pb2
from userservice_client.calls import Metadata
from userservice_client.client import Role, State
from userservice_client.sync_calls import SyncCalls


class SyncUserMethods(SyncCalls):
    """Each method blocks on the `AsyncUserServiceClient` method of its name."""

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

    def request_email_verification(
        self, user_id: str = "me", *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """See `AsyncUserServiceClient.request_email_verification`."""
        self._run(
            self._client.request_email_verification(user_id, timeout=timeout, metadata=metadata)
        )

    def verify_email(
        self, code: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """See `AsyncUserServiceClient.verify_email`."""
        self._run(self._client.verify_email(code, timeout=timeout, metadata=metadata))
