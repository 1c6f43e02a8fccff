"""A validly signed token whose claims are malformed is TOKEN_INVALID, never a crash.

Tokens are signed with a real key set over claims serialised by hand, so any JSON value can
stand in any claim (PyJWT's encoder would refuse some of them).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.config import SigningAlgorithm
from server.errors import Unauthenticated
from server.security.keys import generate_key, load_key_set
from server.security.token_cache import CachingTokenVerifier
from server.security.tokens import AccessClaims, AccessTokenCodec

ISSUER, AUDIENCE = "https://issuer.example", "userservice"
ABSENT = object()


@pytest.fixture(scope="module")
def codec(tmp_path_factory: pytest.TempPathFactory) -> AccessTokenCodec:
    keys_dir: Path = tmp_path_factory.mktemp("keys")
    now = dt.datetime.now(dt.UTC)
    generate_key(keys_dir, SigningAlgorithm.EDDSA, now=now)
    keys = load_key_set(
        keys_dir, SigningAlgorithm.EDDSA, access_token_ttl=dt.timedelta(minutes=15), now=now
    )
    return AccessTokenCodec(keys, issuer=ISSUER, audience=AUDIENCE)


def user_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "0190c0de-0000-7000-8000-000000000001",
        "sid": "0190c0de-0000-7000-8000-000000000002",
        "role": "user",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "3f2a",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not ABSENT}


def service_claims(**changes: Any) -> dict[str, Any]:
    return user_claims(**{"sid": ABSENT, "role": ABSENT, "scope": "users:read", **changes})


def signed(codec: AccessTokenCodec, claims: dict[str, Any]) -> str:
    signer = codec.keys.signer_at(dt.datetime.now(dt.UTC))
    payload = json.dumps(claims).encode()
    headers = {"kid": signer.kid, "typ": "at+jwt"}
    return jwt.PyJWS().encode(payload, signer.private_key, signer.algorithm.value, headers)


def test_the_control_tokens_are_valid(codec: AccessTokenCodec) -> None:
    user = codec.verify(signed(codec, user_claims()))
    service = codec.verify(signed(codec, service_claims()))

    assert (user.role, service.scopes) == ("user", ("users:read",))


def now() -> int:
    return int(time.time())


# Built when each test runs, not at collection: a long suite must not let the valid claims
# around the malformed one expire before the test reads them.
MALFORMED: dict[str, Callable[[], dict[str, Any]]] = {
    "exp-as-string": lambda: user_claims(exp=str(now() + 3600)),
    "iat-as-string": lambda: user_claims(iat=str(now())),
    "nbf-as-string": lambda: user_claims(nbf=str(now())),
    "exp-as-boolean": lambda: user_claims(exp=True),
    "nbf-as-boolean": lambda: user_claims(nbf=False),
    "exp-as-null": lambda: user_claims(exp=None),
    "exp-as-list": lambda: user_claims(exp=[now() + 3600]),
    "exp-as-object": lambda: user_claims(exp={"at": now() + 3600}),
    "exp-beyond-year-9999": lambda: user_claims(exp=10**20),
    "exp-beyond-a-float": lambda: user_claims(exp=10**400),
    "iat-negative-huge": lambda: user_claims(iat=-(10**20)),
    "exp-infinite": lambda: user_claims(exp=float("inf")),
    "exp-nan": lambda: user_claims(exp=float("nan")),
    "sub-as-number": lambda: user_claims(sub=42),
    "sub-as-list": lambda: user_claims(sub=["someone"]),
    "sub-empty": lambda: user_claims(sub=""),
    "jti-as-number": lambda: user_claims(jti=7),
    "iss-as-number": lambda: user_claims(iss=7),
    "iss-as-list": lambda: user_claims(iss=[ISSUER]),
    "aud-as-number": lambda: user_claims(aud=7),
    "aud-as-object": lambda: user_claims(aud={AUDIENCE: True}),
    "sid-as-number": lambda: user_claims(sid=7),
    "role-as-list": lambda: user_claims(role=["admin"]),
    "scope-as-list": lambda: service_claims(scope=["users:read"]),
    "scope-as-number": lambda: service_claims(scope=1),
    "scope-and-sid": lambda: user_claims(scope="users:read"),
}


@pytest.mark.parametrize("claims", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_claims_are_token_invalid(
    codec: AccessTokenCodec, claims: Callable[[], dict[str, Any]]
) -> None:
    token = signed(codec, claims())
    verifier = CachingTokenVerifier(codec, max_entries=10)

    for verify in (codec.verify, verifier.verify):
        with pytest.raises(Unauthenticated) as refused:
            verify(token)
        assert refused.value.reason == "TOKEN_INVALID"
    assert len(verifier) == 0


def test_a_fractional_numeric_date_is_a_date(codec: AccessTokenCodec) -> None:
    """RFC 7519 allows non-integer NumericDates."""
    expires = now() + 3600.5
    claims = codec.verify(signed(codec, user_claims(exp=expires)))

    assert claims.expires_at == dt.datetime.fromtimestamp(expires, dt.UTC)


def test_an_expired_token_is_still_told_apart(codec: AccessTokenCodec) -> None:
    issued = now() - 900
    with pytest.raises(Unauthenticated) as refused:
        codec.verify(signed(codec, user_claims(iat=issued, nbf=issued, exp=issued + 780)))

    assert refused.value.reason == "TOKEN_EXPIRED"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
CLAIM_NAMES = ["iss", "aud", "sub", "sid", "role", "scope", "iat", "nbf", "exp", "jti"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(CLAIM_NAMES), json_values | st.just(ABSENT), min_size=1))
def test_any_json_in_any_claim_is_accepted_or_refused_never_a_crash(
    codec: AccessTokenCodec, changes: dict[str, Any]
) -> None:
    token = signed(codec, user_claims(**changes))

    outcome: AccessClaims | str
    try:
        outcome = codec.verify(token)
    except Unauthenticated as refused:
        outcome = refused.reason

    assert isinstance(outcome, AccessClaims) or outcome in {"TOKEN_INVALID", "TOKEN_EXPIRED"}
