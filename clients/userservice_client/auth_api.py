"""The AuthService methods of the client: login, tokens, sessions, keys."""

# ruff: noqa: ASYNC109 - `timeout` is the gRPC deadline of the call, as in grpc's own API

from __future__ import annotations

from collections.abc import Sequence

from userservice.v1 import auth_pb2
from userservice_client.base import ClientBase
from userservice_client.calls import Metadata
from userservice_client.credentials import LoginSession


class AuthServiceMethods(ClientBase):
    """userservice.v1.AuthService, one method per RPC."""

    async def login(
        self, email: str, password: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> auth_pb2.TokenPair:
        """Logs in; from now on this client calls as that user, refreshing tokens as needed.

        UnauthenticatedError (INVALID_CREDENTIALS) for a wrong email or password,
        RateLimitedError (see `retry_delay`) after too many failures, or with reason
        PASSWORD_HASHING_BUSY when the server has too many password checks in progress.
        """
        request = auth_pb2.LoginRequest(email=email, password=password)
        pair = await self._call(self._auth.Login, request, timeout, metadata, authenticated=False)
        self.credentials = LoginSession(pair)
        return pair

    async def refresh_token(
        self, refresh_token: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> auth_pb2.TokenPair:
        """Rotates a refresh token: the new pair replaces it, and it must not be used again."""
        request = auth_pb2.RefreshTokenRequest(refresh_token=refresh_token)
        pair = await self._call(
            self._auth.RefreshToken, request, timeout, metadata, authenticated=False
        )
        session = self.credentials
        if isinstance(session, LoginSession) and session.refresh_token == refresh_token:
            session.adopt(pair)  # the old refresh token just died; keep the session usable
        return pair

    async def issue_service_token(
        self,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] = (),
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> auth_pb2.TokenPair:
        """A service account's access token (no refresh token); to have a client call as the
        account and renew the token by itself, give it `ServiceCredentials` instead.

        UnauthenticatedError (INVALID_CREDENTIALS) for a wrong client id or secret,
        PermissionDeniedError (SCOPE_NOT_GRANTED) for a scope the account lacks,
        RateLimitedError after too many failures.
        """
        request = auth_pb2.IssueServiceTokenRequest(
            client_id=client_id, client_secret=client_secret, scopes=list(scopes)
        )
        return await self._call(
            self._auth.IssueServiceToken, request, timeout, metadata, authenticated=False
        )

    async def logout(
        self, refresh_token: str = "", *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """Revokes the caller's session; a `LoginSession` of this client is dropped."""
        request = auth_pb2.LogoutRequest(refresh_token=refresh_token)
        await self._call(self._auth.Logout, request, timeout, metadata)
        if isinstance(self.credentials, LoginSession):
            self.credentials = None

    async def validate_token(
        self, access_token: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> auth_pb2.ValidateTokenResponse:
        """Introspects a token: `active` is False (not an error) for any token not valid now."""
        request = auth_pb2.ValidateTokenRequest(access_token=access_token)
        return await self._call(self._auth.ValidateToken, request, timeout, metadata)

    async def get_jwks(
        self, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> auth_pb2.GetJwksResponse:
        """The public keys that verify access tokens (no credentials needed)."""
        request = auth_pb2.GetJwksRequest()
        return await self._call(self._auth.GetJwks, request, timeout, metadata, authenticated=False)

    async def list_sessions(
        self,
        user_id: str = "me",
        page_size: int = 0,
        page_token: str = "",
        *,
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> auth_pb2.ListSessionsResponse:
        """One page of a user's live sessions (self or admin)."""
        request = auth_pb2.ListSessionsRequest(
            user_id=user_id, page_size=page_size, page_token=page_token
        )
        return await self._call(self._auth.ListSessions, request, timeout, metadata)

    async def revoke_session(
        self, session_id: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """Revokes one session at once, on every replica (its owner or an admin)."""
        request = auth_pb2.RevokeSessionRequest(session_id=session_id)
        await self._call(self._auth.RevokeSession, request, timeout, metadata)

    async def revoke_all_sessions(
        self, user_id: str = "me", *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """Revokes every session of a user (self or admin)."""
        request = auth_pb2.RevokeAllSessionsRequest(user_id=user_id)
        await self._call(self._auth.RevokeAllSessions, request, timeout, metadata)

    async def request_password_reset(
        self,
        email: str = "",
        *,
        user_id: str = "",
        timeout: float | None = None,
        metadata: Metadata = (),
    ) -> None:
        """Asks for a password-reset code, sent through the event stream to the deployment's
        notification service. By `email` anyone may ask, and the answer is the same whether or
        not the address has an account; by `user_id` only an administrator (this client's
        credentials are sent). RateLimitedError when asked too often for one address or from
        one client address."""
        request = auth_pb2.RequestPasswordResetRequest(email=email, user_id=user_id)
        await self._call(
            self._auth.RequestPasswordReset,
            request,
            timeout,
            metadata,
            authenticated=bool(user_id),
        )

    async def reset_password(
        self, code: str, new_password: str, *, timeout: float | None = None, metadata: Metadata = ()
    ) -> None:
        """Sets a new password with a reset code (once); every session of the user ends.
        InvalidArgumentError (CODE_INVALID) for an unknown, used or expired code, or a
        password the policy refuses (PASSWORD_TOO_SHORT, ...)."""
        request = auth_pb2.ResetPasswordRequest(code=code, new_password=new_password)
        await self._call(self._auth.ResetPassword, request, timeout, metadata, authenticated=False)


__all__ = ["AuthServiceMethods"]
