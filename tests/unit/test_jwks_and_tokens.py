"""Signing keys in use: the JWKS they publish, and the tokens of each algorithm family."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import jwt
import pytest

from server.config import SigningAlgorithm
from server.errors import Unauthenticated
from server.security.keys import KeySet, generate_key, load_key_set
from server.security.tokens import AccessTokenCodec

ACCESS_TTL = dt.timedelta(minutes=15)
ISSUER = AUDIENCE = "userservice-test"
ALGORITHMS = list(SigningAlgorithm)
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def load(directory: Path, algorithm: SigningAlgorithm, now: dt.datetime) -> KeySet:
    return load_key_set(directory, algorithm, access_token_ttl=ACCESS_TTL, now=now)


@pytest.fixture(scope="module")
def key_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[SigningAlgorithm, KeySet]:
    """One key set per algorithm family, generated once (an RSA-3072 key takes a while)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sets = {}
    for algorithm in ALGORITHMS:
        directory = tmp_path_factory.mktemp(f"keys-{algorithm.value}")
        generate_key(directory, algorithm, now=now)
        sets[algorithm] = load(directory, algorithm, now)
    return sets


def codec_for(keys: KeySet) -> AccessTokenCodec:
    return AccessTokenCodec(keys, issuer=ISSUER, audience=AUDIENCE)


def user_token(codec: AccessTokenCodec, subject: str) -> str:
    return codec.issue(
        subject,
        now=dt.datetime.now(dt.UTC),
        ttl=ACCESS_TTL,
        session_id=str(uuid.uuid4()),
        role="user",
    ).token


# -- the JWKS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        (SigningAlgorithm.EDDSA, {"kty": "OKP", "crv": "Ed25519"}),
        (SigningAlgorithm.RS256, {"kty": "RSA", "e": "AQAB"}),
        (SigningAlgorithm.ES256, {"kty": "EC", "crv": "P-256"}),
    ],
)
def test_the_jwks_publishes_only_public_members(
    key_sets: dict[SigningAlgorithm, KeySet],
    algorithm: SigningAlgorithm,
    expected: dict[str, str],
) -> None:
    keys = key_sets[algorithm]

    [jwk] = keys.jwks()

    public_members = {
        SigningAlgorithm.EDDSA: {"kty", "crv", "x"},
        SigningAlgorithm.RS256: {"kty", "n", "e"},
        SigningAlgorithm.ES256: {"kty", "crv", "x", "y"},
    }[algorithm]
    assert set(jwk) == public_members | {"kid", "alg", "use"}
    assert not PRIVATE_JWK_MEMBERS & set(jwk)
    assert expected.items() <= jwk.items()
    assert jwk["kid"] == keys.signer_at(dt.datetime.now(dt.UTC)).kid
    assert jwk["alg"] == algorithm.value
    assert jwk["use"] == "sig"
    assert all(jwk[member] for member in public_members)


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=[a.value for a in ALGORITHMS])
def test_a_service_can_verify_a_token_with_the_published_jwk_alone(
    key_sets: dict[SigningAlgorithm, KeySet], algorithm: SigningAlgorithm
) -> None:
    keys = key_sets[algorithm]
    [jwk] = keys.jwks()
    token = user_token(codec_for(keys), "someone")

    public_key = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, public_key, algorithms=[algorithm.value], audience=AUDIENCE)

    assert claims["sub"] == "someone"
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]


# -- tokens --------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=[a.value for a in ALGORITHMS])
def test_a_token_verifies_with_the_codec_that_issued_it(
    key_sets: dict[SigningAlgorithm, KeySet], algorithm: SigningAlgorithm
) -> None:
    codec = codec_for(key_sets[algorithm])
    subject = str(uuid.uuid4())

    claims = codec.verify(user_token(codec, subject))

    assert claims.subject == subject
    assert claims.role == "user"


@pytest.mark.parametrize(
    ("issuer", "verifier"),
    [(a, b) for a in ALGORITHMS for b in ALGORITHMS if a is not b],
    ids=[f"{a.value}-to-{b.value}" for a in ALGORITHMS for b in ALGORITHMS if a is not b],
)
def test_a_token_of_another_algorithm_family_is_rejected(
    key_sets: dict[SigningAlgorithm, KeySet],
    issuer: SigningAlgorithm,
    verifier: SigningAlgorithm,
) -> None:
    token = user_token(codec_for(key_sets[issuer]), str(uuid.uuid4()))

    with pytest.raises(Unauthenticated) as rejected:
        codec_for(key_sets[verifier]).verify(token)

    assert rejected.value.reason == "TOKEN_INVALID"
