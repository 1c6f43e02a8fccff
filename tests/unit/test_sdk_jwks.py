"""KeyCache: when the SDK's token verifier goes back for keys, on a clock the test controls."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import OKPAlgorithm

from userservice_client import UnavailableError
from userservice_client.jwks import KeyCache

INTERVAL = dt.timedelta(seconds=30)
MAX_AGE = dt.timedelta(minutes=10)


def jwk(kid: str) -> dict[str, Any]:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return {**OKPAlgorithm.to_jwk(public, as_dict=True), "kid": kid, "alg": "EdDSA", "use": "sig"}


class KeyServer:
    """An in-memory JWKS endpoint that can be taken down."""

    def __init__(self, *kids: str) -> None:
        self.keys = [jwk(kid) for kid in kids]
        self.down = False
        self.fetches = 0

    async def fetch(self) -> list[dict[str, Any]]:
        self.fetches += 1
        if self.down:
            raise UnavailableError(grpc.StatusCode.UNAVAILABLE, "down")
        return list(self.keys)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache_of(server: KeyServer, clock: Clock) -> KeyCache:
    return KeyCache(
        server, algorithms=("EdDSA",), refetch_interval=INTERVAL, max_age=MAX_AGE, clock=clock
    )


async def test_the_first_lookup_of_an_unknown_kid_fetches_once() -> None:
    server = KeyServer("a")
    cache = cache_of(server, Clock())
    assert await cache.key("b") is None
    assert server.fetches == 1


async def test_unknown_kids_refetch_once_per_interval() -> None:
    server, clock = KeyServer("a"), Clock()
    cache = cache_of(server, clock)
    assert await cache.key("a") is not None
    server.keys.append(jwk("b"))
    assert await cache.key("b") is not None  # the first unknown kid after loading: refetched
    for kid in ("c", "d", "e"):
        assert await cache.key(kid) is None
    assert server.fetches == 2
    clock.now += INTERVAL.total_seconds()
    assert await cache.key("f") is None
    assert server.fetches == 3


async def test_keys_of_other_algorithms_or_uses_are_ignored() -> None:
    server = KeyServer("a", "b")
    server.keys[0]["alg"] = "RS256"
    server.keys[1]["use"] = "enc"
    cache = cache_of(server, Clock())
    assert await cache.key("a") is None
    assert await cache.key("b") is None


async def test_without_keys_a_failed_fetch_is_not_repeated_within_the_interval() -> None:
    server, clock = KeyServer("a"), Clock()
    server.down = True
    cache = cache_of(server, clock)
    for _ in range(3):
        with pytest.raises(UnavailableError):
            await cache.key("a")
    assert server.fetches == 1
    server.down = False
    clock.now += INTERVAL.total_seconds()
    assert await cache.key("a") is not None


async def test_old_keys_are_refetched_and_kept_while_the_source_is_down() -> None:
    server, clock = KeyServer("a"), Clock()
    cache = cache_of(server, clock)
    await cache.key("a")
    clock.now += MAX_AGE.total_seconds() + 1
    server.down = True
    assert await cache.key("a") is not None
    assert await cache.key("a") is not None
    assert server.fetches == 2

    server.down = False
    server.keys = [jwk("b")]  # "a" withdrawn
    clock.now += INTERVAL.total_seconds()
    assert await cache.key("a") is None
