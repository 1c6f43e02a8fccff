"""The verified-token cache checks a signature once and never outlives the token's exp."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from server.config import SigningAlgorithm
from server.errors import Unauthenticated
from server.security.keys import generate_key, load_key_set
from server.security.token_cache import CachingTokenVerifier
from server.security.tokens import AccessTokenCodec


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now.timestamp()


class CountingCodec(AccessTokenCodec):
    verified = 0

    def verify(self, token: str):  # type: ignore[no-untyped-def]
        self.verified += 1
        return super().verify(token)


@pytest.fixture
def codec(tmp_path: Path) -> CountingCodec:
    now = dt.datetime.now(dt.UTC)
    generate_key(tmp_path, SigningAlgorithm.EDDSA, now=now)
    keys = load_key_set(
        tmp_path, SigningAlgorithm.EDDSA, access_token_ttl=dt.timedelta(minutes=15), now=now
    )
    return CountingCodec(keys, issuer="iss", audience="aud")


def issue(codec: AccessTokenCodec, now: dt.datetime, ttl: dt.timedelta) -> str:
    return codec.issue(
        "00000000-0000-7000-8000-000000000001",
        now=now,
        ttl=ttl,
        session_id="00000000-0000-7000-8000-000000000002",
        role="user",
    ).token


def test_a_valid_token_is_verified_once_then_served_from_the_cache(codec: CountingCodec) -> None:
    now = dt.datetime.now(dt.UTC)
    verifier = CachingTokenVerifier(codec, max_entries=10, timer=Clock(now))
    token = issue(codec, now, dt.timedelta(minutes=5))

    first, second = verifier.verify(token), verifier.verify(token)

    assert first == second
    assert codec.verified == 1


def test_a_cached_token_is_not_served_from_the_cache_past_its_exp(codec: CountingCodec) -> None:
    now = dt.datetime.now(dt.UTC)
    clock = Clock(now)
    verifier = CachingTokenVerifier(codec, max_entries=10, timer=clock)
    token = issue(codec, now, dt.timedelta(minutes=2))
    claims = verifier.verify(token)
    verifier.verify(token)
    assert codec.verified == 1

    clock.now = claims.expires_at + dt.timedelta(seconds=1)  # the cache's clock passes exp
    verifier.verify(token)  # the codec (on the real clock) decides again

    assert codec.verified == 2


def test_refused_tokens_are_not_cached(codec: CountingCodec) -> None:
    verifier = CachingTokenVerifier(codec, max_entries=10)
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            verifier.verify("not.a.token")

    assert codec.verified == 3
    assert len(verifier) == 0


def test_the_cache_is_bounded(codec: CountingCodec) -> None:
    now = dt.datetime.now(dt.UTC)
    verifier = CachingTokenVerifier(codec, max_entries=5, timer=Clock(now))
    for _ in range(20):
        verifier.verify(issue(codec, now, dt.timedelta(minutes=5)))

    assert len(verifier) == 5


def test_a_zero_size_cache_verifies_every_time(codec: CountingCodec) -> None:
    now = dt.datetime.now(dt.UTC)
    verifier = CachingTokenVerifier(codec, max_entries=0, timer=Clock(now))
    token = issue(codec, now, dt.timedelta(minutes=5))
    verifier.verify(token)
    verifier.verify(token)

    assert codec.verified == 2
