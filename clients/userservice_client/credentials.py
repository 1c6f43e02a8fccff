"""How a client authenticates its calls.

A `Credentials` object is asked for the `authorization` header before each call that needs one,
and told when the server answered that the token has expired. Three kinds exist:

- `StaticToken`: a token obtained elsewhere (forwarded from the caller's caller, for instance).
- `LoginSession`: the token pair of a login; it refreshes the access token shortly before it
  expires, once for any number of concurrent calls, and again if the server finds it expired.
- `ServiceCredentials`: a service account's client id and secret; it obtains an access token
  from IssueServiceToken and obtains a new one shortly before it expires (there is no refresh
  token), or when the server finds it expired.
"""

from __future__ import annotations

import abc
import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Protocol

from userservice.v1 import auth_pb2

Clock = Callable[[], dt.datetime]
DEFAULT_REFRESH_MARGIN = dt.timedelta(seconds=30)


def utc_now() -> dt.datetime:
    """The current time, timezone-aware (the default clock of `LoginSession`)."""
    return dt.datetime.now(dt.UTC)


def bearer(token: str) -> str:
    """The `authorization` header value for an access token."""
    return f"Bearer {token}"


class TokenClient(Protocol):
    """What credentials may ask of the client they serve (calls that need no credentials)."""

    async def refresh_token(self, refresh_token: str) -> auth_pb2.TokenPair:
        """Rotates a refresh token (AuthService.RefreshToken)."""
        ...

    async def issue_service_token(
        self, client_id: str, client_secret: str, scopes: Sequence[str] = ()
    ) -> auth_pb2.TokenPair:
        """A service account's access token (AuthService.IssueServiceToken)."""
        ...


class Credentials(abc.ABC):
    """The source of the `authorization` header of a client's calls."""

    @abc.abstractmethod
    async def authorization(self, client: TokenClient) -> str | None:
        """The header value to send ("Bearer <token>"), or None to send none."""

    async def on_expired(self, client: TokenClient, rejected: str | None = None) -> bool:
        """The server refused `rejected` (the header a call carried) as expired.

        Returns True when fresh credentials are now available and the call is worth repeating
        once; the default cannot renew anything and returns False.
        """
        return False


class StaticToken(Credentials):
    """A fixed access token; it is sent as is and never renewed."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def authorization(self, client: TokenClient) -> str | None:
        """`Bearer <token>`."""
        return bearer(self._token)

    def __repr__(self) -> str:
        return "StaticToken(<redacted>)"


class LoginSession(Credentials):
    """The tokens of one login, kept fresh with RefreshToken.

    Before a call, an access token that expires within `refresh_margin` is exchanged for a new
    pair. The exchange runs under a lock: concurrent calls wait for one refresh instead of each
    presenting the same refresh token (which the server would treat as reuse and answer by
    revoking the session). If the server still reports TOKEN_EXPIRED (clocks disagree), the
    session refreshes once and the client repeats the call once.
    """

    def __init__(
        self,
        tokens: auth_pb2.TokenPair,
        *,
        refresh_margin: dt.timedelta = DEFAULT_REFRESH_MARGIN,
        clock: Clock = utc_now,
    ) -> None:
        self._tokens = tokens
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._lock = asyncio.Lock()

    @property
    def tokens(self) -> auth_pb2.TokenPair:
        """The current token pair (it changes after every refresh)."""
        return self._tokens

    @property
    def access_token(self) -> str:
        """The current access token."""
        return self._tokens.access_token

    @property
    def refresh_token(self) -> str:
        """The current refresh token; earlier ones are dead once rotated."""
        return self._tokens.refresh_token

    @property
    def session_id(self) -> str:
        """The id of the server-side session these tokens belong to."""
        return self._tokens.session_id

    def adopt(self, tokens: auth_pb2.TokenPair) -> None:
        """Takes over a pair obtained by rotating this session's refresh token elsewhere."""
        self._tokens = tokens

    def _expiring(self) -> bool:
        if not self._tokens.HasField("access_token_expire_time"):
            return False  # unknown lifetime: rely on the server saying TOKEN_EXPIRED
        expires_at = self._tokens.access_token_expire_time.ToDatetime(dt.UTC)
        return expires_at - self._clock() <= self._refresh_margin

    async def _refresh(self, client: TokenClient, stale_access_token: str) -> bool:
        async with self._lock:
            if self._tokens.access_token != stale_access_token:
                return True  # another call refreshed while this one waited
            if not self._tokens.refresh_token:
                return False
            self._tokens = await client.refresh_token(self._tokens.refresh_token)
            return True

    async def authorization(self, client: TokenClient) -> str | None:
        """`Bearer <access token>`, refreshing first when it is about to expire."""
        if self._expiring():
            await self._refresh(client, self._tokens.access_token)
        return bearer(self._tokens.access_token)

    async def on_expired(self, client: TokenClient, rejected: str | None = None) -> bool:
        """Refreshes (once, whatever the number of calls that saw the token expire)."""
        current = bearer(self._tokens.access_token)
        if rejected is not None and rejected != current:
            return True  # already replaced since that call started
        return await self._refresh(client, self._tokens.access_token)

    def __repr__(self) -> str:
        return f"LoginSession(session_id={self.session_id!r})"


class ServiceCredentials(Credentials):
    """A service account's client credentials (client-credentials mode).

    The first call obtains an access token with IssueServiceToken; a token that expires within
    `refresh_margin` is replaced before the call, and one the server reports expired is replaced
    once and the call repeated. Concurrent calls share one issuance. `scopes` asks for a subset
    of the account's scopes (empty: all of them). The secret never appears in `repr`.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] = (),
        *,
        refresh_margin: dt.timedelta = DEFAULT_REFRESH_MARGIN,
        clock: Clock = utc_now,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = tuple(scopes)
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._lock = asyncio.Lock()
        self._tokens: auth_pb2.TokenPair | None = None

    @property
    def client_id(self) -> str:
        """The service account's client id."""
        return self._client_id

    @property
    def access_token(self) -> str | None:
        """The current access token, None before the first call."""
        return None if self._tokens is None else self._tokens.access_token

    def adopt(self, tokens: auth_pb2.TokenPair) -> None:
        """Takes over a token obtained elsewhere for this account (it is renewed when stale)."""
        self._tokens = tokens

    def _expiring(self) -> bool:
        if self._tokens is None:
            return True
        if not self._tokens.HasField("access_token_expire_time"):
            return False
        expires_at = self._tokens.access_token_expire_time.ToDatetime(dt.UTC)
        return expires_at - self._clock() <= self._refresh_margin

    async def _issue(self, client: TokenClient, stale: str | None) -> bool:
        async with self._lock:
            if self.access_token != stale:
                return True  # another call obtained a new token while this one waited
            self._tokens = await client.issue_service_token(
                self._client_id, self._client_secret, self._scopes
            )
            return True

    async def authorization(self, client: TokenClient) -> str | None:
        """`Bearer <access token>`, obtaining a new token first when needed."""
        if self._expiring():
            await self._issue(client, self.access_token)
        assert self._tokens is not None
        return bearer(self._tokens.access_token)

    async def on_expired(self, client: TokenClient, rejected: str | None = None) -> bool:
        """Obtains a new token (once, whatever the number of calls that saw it expire)."""
        if self._tokens is None:
            return False
        if rejected is not None and rejected != bearer(self._tokens.access_token):
            return True
        return await self._issue(client, self._tokens.access_token)

    def __repr__(self) -> str:
        return f"ServiceCredentials(client_id={self._client_id!r})"


__all__ = [
    "Credentials",
    "LoginSession",
    "ServiceCredentials",
    "StaticToken",
    "TokenClient",
    "bearer",
]
