"""Public keys for local token verification: where they come from, and how they are cached.

The cache follows RFC 8725: a token's `kid` is only ever looked up in keys fetched from the
configured source, never taken from the token. An unknown `kid` (a key rotation) triggers one
refetch, at most once per `refetch_interval` and single-flight under a lock, so a flood of
tokens with made-up kids costs at most one fetch per interval. Keys are also refetched once
they are older than `max_age`, so a key withdrawn from the JWKS stops being trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

import grpc
import jwt

from userservice_client.errors import UnavailableError, UserServiceError

if TYPE_CHECKING:
    from userservice_client.client import AsyncUserServiceClient

JWK_MEMBERS: Final = ("kid", "kty", "alg", "use", "crv", "x", "y", "n", "e")


class JwksSource(Protocol):
    """Where a verifier gets the public keys: a list of JWKs (RFC 7517) as dictionaries."""

    async def fetch(self) -> list[dict[str, Any]]:
        """The current key set; raise (e.g. `UserServiceError`) when it cannot be had."""
        ...


class ClientJwksSource:
    """Keys from userservice's AuthService.GetJwks, through an `AsyncUserServiceClient`."""

    def __init__(self, client: AsyncUserServiceClient) -> None:
        self._client = client

    async def fetch(self) -> list[dict[str, Any]]:
        """The published keys, without the members a key type does not use."""
        response = await self._client.get_jwks()
        keys: list[dict[str, Any]] = []
        for jwk in response.keys:
            members = {name: str(getattr(jwk, name)) for name in JWK_MEMBERS}
            keys.append({name: value for name, value in members.items() if value})
        return keys


def parse_keys(
    jwks: Iterable[Mapping[str, Any]], algorithms: Iterable[str]
) -> dict[str, jwt.PyJWK]:
    """kid → key, for the signing keys of a pinned algorithm; anything else is ignored."""
    allowed = frozenset(algorithms)
    keys: dict[str, jwt.PyJWK] = {}
    for jwk in jwks:
        kid, alg, use = jwk.get("kid"), jwk.get("alg"), jwk.get("use", "sig")
        if not isinstance(kid, str) or alg not in allowed or use != "sig":
            continue
        try:
            keys[kid] = jwt.PyJWK(dict(jwk), algorithm=alg)
        except jwt.PyJWTError:
            continue  # a key this library cannot use cannot have signed a token we accept
    return keys


class KeyCache:
    """The verification keys of a `JwksSource`, refetched on rotation and by age.

    Three things cause a fetch, all single-flight under one lock: no keys yet; keys older than
    `max_age`; a kid not among the keys, at most once per `refetch_interval` (the initial load
    does not count, so a rotation right after start-up is seen at once). Failed fetches are
    not repeated within `refetch_interval` either; until keys exist, calls then fail with
    UnavailableError, and afterwards the last keys stay in use.
    """

    def __init__(
        self,
        source: JwksSource,
        *,
        algorithms: Iterable[str],
        refetch_interval: dt.timedelta,
        max_age: dt.timedelta,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._algorithms = tuple(algorithms)
        self._interval = refetch_interval.total_seconds()
        self._max_age = max_age.total_seconds()
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at: float | None = None
        self._attempted_at: float | None = None  # any fetch, failed or not
        self._refetched_at: float | None = None  # fetches caused by an unknown kid
        self._lock = asyncio.Lock()

    def _recent(self, at: float | None, now: float) -> bool:
        return at is not None and now - at < self._interval

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key named `kid`, or None when the source does not publish it."""
        key = self._keys.get(kid)
        loaded_at = self._loaded_at
        if key is not None and loaded_at is not None and self._clock() - loaded_at <= self._max_age:
            return key  # the hot path: no lock, no await
        async with self._lock:
            now = self._clock()
            fetched = False
            if self._loaded_at is None:
                if self._recent(self._attempted_at, now):
                    raise UnavailableError(
                        grpc.StatusCode.UNAVAILABLE,
                        "no token verification keys: the last fetch failed",
                        reason="JWKS_UNAVAILABLE",
                    )
                fetched = await self._fetch(now)
            elif now - self._loaded_at > self._max_age and not self._recent(
                self._attempted_at, now
            ):
                # The source being down is no reason to distrust the keys it published last.
                with contextlib.suppress(UserServiceError):
                    fetched = await self._fetch(now)
            if kid not in self._keys and not fetched and not self._recent(self._refetched_at, now):
                self._refetched_at = now
                await self._fetch(now)
            return self._keys.get(kid)

    async def _fetch(self, now: float) -> bool:
        self._attempted_at = now
        jwks = await self._source.fetch()
        self._keys = parse_keys(jwks, self._algorithms)
        self._loaded_at = now
        return True


__all__ = ["ClientJwksSource", "JwksSource", "KeyCache", "parse_keys"]
