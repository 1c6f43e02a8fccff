"""Verified-token cache: a token's signature is checked once per process, not once per call.

Maps the token to its verified claims until the token's `exp` — never longer — bounded in size.
Only successes are kept: garbage and forgeries are re-verified (and refused) every time, so they
cannot fill the cache. Revocation is not cached here; it is checked on every call.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TLRUCache

from server.security.tokens import AccessClaims, AccessTokenCodec


def _until_expiry(_token: str, claims: AccessClaims, _now: float) -> float:
    return claims.expires_at.timestamp()


class CachingTokenVerifier:
    def __init__(
        self,
        codec: AccessTokenCodec,
        *,
        max_entries: int,
        timer: Callable[[], float] = time.time,
    ) -> None:
        self._codec = codec
        self._timer = timer
        self._cache: TLRUCache[str, AccessClaims] = TLRUCache(
            maxsize=max_entries, ttu=_until_expiry, timer=timer
        )

    def verify(self, token: str) -> AccessClaims:
        claims = self._cache.get(token)
        if claims is not None:
            return claims
        claims = self._codec.verify(token)  # raises Unauthenticated for anything not valid
        if self._cache.maxsize and claims.expires_at.timestamp() > self._timer():
            self._cache[token] = claims
        return claims

    def __len__(self) -> int:
        return len(self._cache)
