"""The AuthService methods of the blocking `UserServiceClient` (see `sync.py`)."""

from __future__ import annotations

from collections.abc import Sequence

from userservice.v1 import auth_pb2
from userservice_client.calls import Metadata
from userservice_client.sync_calls import SyncCalls


class SyncAuthMethods(SyncCalls):
    """Each method blocks on the `AsyncUserServiceClient` method of its name."""

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

    def request_password_reset(
        self,
        email: str = "",
        *,
        user_id: str = "",
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> None:
        """See `AsyncUserServiceClient.request_password_reset`."""
        self._run(
            self._client.request_password_reset(
                email, user_id=user_id, timeout=timeout, metadata=metadata
            )
        )

    def reset_password(
        self, code: str, new_password: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """See `AsyncUserServiceClient.reset_password`."""
        self._run(
            self._client.reset_password(code, new_password, timeout=timeout, metadata=metadata)
        )
