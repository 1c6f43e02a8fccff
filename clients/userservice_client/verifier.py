"""Local verification of userservice access tokens, for services that accept them.

`TokenVerifier.verify` checks what userservice itself checks (RFC 9068 / RFC 8725): header
`typ: at+jwt`; the algorithm from a pinned list; `kid` known from the JWKS; the signature; `iss`,
`aud`, `exp` and `nbf` (with leeway); every required claim; and the claim set of either a user
(`sid`, `role`) or a service (`scope`). It does not know about revocation: a logged-out session's
tokens verify until they expire (15 minutes by default). A caller that needs revocation at once
passes `confirm_with=client`, which adds a ValidateToken round trip per call.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

import jwt

from userservice_client.calls import AUTHORIZATION_HEADER, Metadata
from userservice_client.credentials import bearer
from userservice_client.errors import UnauthenticatedError
from userservice_client.jwks import JwksSource, KeyCache

if TYPE_CHECKING:
    from userservice_client.client import AsyncUserServiceClient

RejectReason = Literal["TOKEN_INVALID", "TOKEN_EXPIRED", "TOKEN_REVOKED"]
TOKEN_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "exp", "iat", "nbf", "jti")
MAX_TOKEN_LENGTH: Final = 4096


class TokenRejected(Exception):
    """The token must not be honoured; `reason` is TOKEN_INVALID, TOKEN_EXPIRED or TOKEN_REVOKED."""

    def __init__(self, reason: RejectReason, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason: RejectReason = reason
        self.message = message or reason


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a verified access token says.

    Attributes:
        subject: `sub`: the user id, or a service account's id.
        session_id: `sid` for a user's token; None for a service's.
        role: `role` ("user", "admin") for a user's token; None for a service's.
        scopes: the granted scopes of a service's token; empty for a user's.
        expires_at: `exp`, in UTC.
        claims: every claim, as decoded.
    """

    subject: str
    session_id: str | None
    role: str | None
    scopes: tuple[str, ...]
    expires_at: dt.datetime
    claims: Mapping[str, Any] = field(repr=False)

    @property
    def is_service(self) -> bool:
        """True for a service account's token (client credentials)."""
        return self.session_id is None


Validate = Callable[[VerifiedToken], Awaitable[None] | None]


def _invalid(message: str = "the access token is not valid") -> TokenRejected:
    return TokenRejected("TOKEN_INVALID", message)


def _verified(claims: dict[str, Any]) -> VerifiedToken:
    subject, expires = claims["sub"], claims["exp"]
    sid, role, scope = claims.get("sid"), claims.get("role"), claims.get("scope")
    if not isinstance(subject, str) or not isinstance(claims["jti"], str):
        raise _invalid()
    expires_at = dt.datetime.fromtimestamp(expires, dt.UTC)
    frozen = MappingProxyType(claims)
    if isinstance(sid, str) and isinstance(role, str) and scope is None:
        return VerifiedToken(subject, sid, role, (), expires_at, frozen)
    if isinstance(scope, str) and sid is None and role is None:
        return VerifiedToken(subject, None, None, tuple(scope.split()), expires_at, frozen)
    raise _invalid("the access token is neither a user's nor a service's")


class TokenVerifier:
    """Verifies userservice access tokens locally against its published keys.

    Args:
        jwks: where the keys come from, e.g. `ClientJwksSource(client)`.
        issuer: the expected `iss` (userservice's USERSERVICE_JWT_ISSUER).
        audience: the expected `aud` (USERSERVICE_JWT_AUDIENCE).
        algorithms: the accepted algorithms; pin the one family the service signs with.
        refetch_interval: least time between two fetches caused by unknown kids.
        leeway: tolerated clock difference for `exp` and `nbf`.
        max_key_age: keys older than this are refetched (a withdrawn key stops being trusted).
        validate: an extra check run on every verified token; it raises `TokenRejected`.
        confirm_with: a client to also ask ValidateToken, so that revoked sessions are refused
            at once. With credentials of its own (a service with `tokens:validate`, or an admin)
            it uses them; without, it presents the token itself, as its holder may.
    """

    def __init__(
        self,
        jwks: JwksSource,
        *,
        issuer: str,
        audience: str,
        algorithms: Iterable[str] = ("EdDSA",),
        refetch_interval: dt.timedelta = dt.timedelta(seconds=30),
        leeway: dt.timedelta = dt.timedelta(seconds=30),
        max_key_age: dt.timedelta = dt.timedelta(minutes=10),
        validate: Validate | None = None,
        confirm_with: AsyncUserServiceClient | None = None,
    ) -> None:
        self._algorithms = tuple(algorithms)
        if not self._algorithms or "none" in {a.lower() for a in self._algorithms}:
            raise ValueError("algorithms: name at least one real signing algorithm")
        self._keys = KeyCache(
            jwks,
            algorithms=self._algorithms,
            refetch_interval=refetch_interval,
            max_age=max_key_age,
        )
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._validate = validate
        self._confirm_with = confirm_with

    async def verify(self, token: str) -> VerifiedToken:
        """The token's claims; `TokenRejected` when it must not be honoured.

        Raises `UserServiceError` (not `TokenRejected`) when the keys or the confirmation
        cannot be had: that is not the token's fault.
        """
        if len(token) > MAX_TOKEN_LENGTH:
            raise _invalid("the access token is too large")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid() from None
        typ, alg, kid = header.get("typ"), header.get("alg"), header.get("kid")
        if not isinstance(typ, str) or typ.lower() not in TOKEN_TYPES:
            raise _invalid("not an access token")
        if alg not in self._algorithms or not isinstance(kid, str):
            raise _invalid()
        key = await self._keys.key(kid)
        if key is None or key.algorithm_name != alg:
            raise _invalid("the access token was signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("TOKEN_EXPIRED", "the access token has expired") from None
        except jwt.PyJWTError:
            raise _invalid() from None
        verified = _verified(claims)
        if self._confirm_with is not None:
            await self._confirm(self._confirm_with, token)
        if self._validate is not None:
            outcome = self._validate(verified)
            if inspect.isawaitable(outcome):
                await outcome
        return verified

    async def _confirm(self, client: AsyncUserServiceClient, token: str) -> None:
        as_holder = client.credentials is None
        metadata: Metadata = ((AUTHORIZATION_HEADER, bearer(token)),) if as_holder else ()
        try:
            response = await client.validate_token(token, metadata=metadata)
        except UnauthenticatedError as error:
            if not as_holder:
                raise  # the client's own credentials failed, not the token
            if error.reason == "TOKEN_EXPIRED":
                raise TokenRejected("TOKEN_EXPIRED", error.message) from None
            if error.reason == "TOKEN_REVOKED":
                raise TokenRejected("TOKEN_REVOKED", error.message) from None
            raise _invalid(error.message) from None
        if not response.active:
            raise TokenRejected("TOKEN_REVOKED", "userservice no longer honours this token")


__all__ = ["RejectReason", "TokenRejected", "TokenVerifier", "Validate", "VerifiedToken"]
