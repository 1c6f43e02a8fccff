"""Access tokens an attacker can forge, replay or bend are refused (RFC 8725 practices).

Each attack is a token presented as the bearer of GetUser("me"). The forger
(tests/support/token_forgery.py) mints its tokens with PyJWT; a control test shows that a token
it mints with the server's own key and unchanged claims is accepted, so each attack fails for the
one thing it changes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from server.config import Settings
from tests.support.flows import auth, bearer, get_me, signed_in_user
from tests.support.token_forgery import (
    ACCESS_TOKEN_TYPE,
    Forger,
    b64,
    load_private_key,
    refused,
    unb64,
)
from userservice.v1 import auth_pb2

ATTACKER_URL = "http://127.0.0.1:9/"  # the discard port: nothing to fetch, and nothing may try


def attacker_jwk(key: ed25519.Ed25519PrivateKey, kid: str) -> dict[str, str]:
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}


def with_role_admin(token: str) -> str:
    """The server's own token with its payload edited and its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    claims["role"] = "admin"
    return ".".join((header, b64(json.dumps(claims).encode()), signature))


def with_header_key(forger: Forger, header: str, *, server_kid: bool) -> str:
    """Signed by an attacker's key that a header points at (`jku`, `x5u`) or carries (`jwk`)."""
    key = ed25519.Ed25519PrivateKey.generate()
    kid = forger.kid if server_kid else f"attacker-{uuid.uuid4().hex[:8]}"
    value: Any = attacker_jwk(key, kid) if header == "jwk" else ATTACKER_URL
    return forger.sign(key=key, kid=kid, **{header: value})


def missing(claim: str) -> Callable[[Forger], str]:
    return lambda f: f.sign(f.claims(**{claim: None}))


def expired(forger: Forger) -> str:
    now = int(time.time())
    return forger.sign(forger.claims(iat=now - 900, nbf=now - 900, exp=now - 120))


def not_yet_valid(forger: Forger) -> str:
    return forger.sign(forger.claims(nbf=int(time.time()) + 120))


def alg_none(forger: Forger) -> str:
    headers = {"kid": forger.kid, "typ": ACCESS_TOKEN_TYPE}
    return jwt.encode(forger.claims(), "", algorithm="none", headers=headers)


Attack = Callable[[Forger], str]

ATTACKS: list[Any] = [
    pytest.param(alg_none, "TOKEN_INVALID", id="alg-none"),
    pytest.param(
        lambda f: f.hs256(f.public_bytes(serialization.Encoding.PEM)),
        "TOKEN_INVALID",
        id="hs256-with-public-key-pem",
    ),
    pytest.param(
        lambda f: f.hs256(f.public_bytes(serialization.Encoding.Raw)),
        "TOKEN_INVALID",
        id="hs256-with-public-key-raw",
    ),
    pytest.param(
        lambda f: f.sign(key=ed25519.Ed25519PrivateKey.generate(), kid=uuid.uuid4().hex),
        "TOKEN_INVALID",
        id="unknown-kid",
    ),
    *(
        pytest.param(
            lambda f, h=header, s=server_kid: with_header_key(f, h, server_kid=s),
            "TOKEN_INVALID",
            id=f"{header}-header-{'server' if server_kid else 'attacker'}-kid",
        )
        for header in ("jku", "x5u", "jwk")
        for server_kid in (False, True)
    ),
    pytest.param(expired, "TOKEN_EXPIRED", id="expired-beyond-leeway"),
    pytest.param(not_yet_valid, "TOKEN_INVALID", id="not-yet-valid-beyond-leeway"),
    pytest.param(lambda f: f.sign(f.claims(iss="someone-else")), "TOKEN_INVALID", id="wrong-iss"),
    pytest.param(
        lambda f: f.sign(f.claims(aud="another-service")), "TOKEN_INVALID", id="wrong-aud"
    ),
    *(
        pytest.param(missing(claim), "TOKEN_INVALID", id=f"missing-{claim}")
        for claim in ("exp", "iss", "aud", "sub", "iat", "nbf", "jti", "sid", "role")
    ),
    pytest.param(lambda f: with_role_admin(f.issued_token), "TOKEN_INVALID", id="tampered-role"),
    # Validly signed, malformed claims: once answered INTERNAL (a TypeError in verification).
    pytest.param(
        lambda f: f.sign(f.claims(exp=str(int(time.time()) + 300))),
        "TOKEN_INVALID",
        id="exp-as-string",
    ),
    pytest.param(
        lambda f: f.sign(f.claims(iat=str(int(time.time())))), "TOKEN_INVALID", id="iat-as-string"
    ),
    pytest.param(
        lambda f: f.sign(f.claims(exp=10**20)), "TOKEN_INVALID", id="exp-beyond-year-9999"
    ),
    pytest.param(lambda f: f.sign(f.claims(nbf=True)), "TOKEN_INVALID", id="nbf-as-boolean"),
    pytest.param(lambda f: f.sign(f.claims(sid=7)), "TOKEN_INVALID", id="sid-as-number"),
    pytest.param(lambda f: f.sign(f.claims(sub=["x"])), "TOKEN_INVALID", id="sub-as-list"),
    pytest.param(lambda f: "abc", "TOKEN_INVALID", id="garbage"),
    pytest.param(lambda f: "a.b.c", "TOKEN_INVALID", id="garbage-three-parts"),
    pytest.param(lambda f: f.sign(f.claims(padding="x" * 4096)), "TOKEN_INVALID", id="oversized"),
    pytest.param(lambda f: f.sign(typ=None), "TOKEN_INVALID", id="missing-typ"),
    pytest.param(lambda f: f.sign(typ="JWT"), "TOKEN_INVALID", id="typ-jwt"),
]


@pytest.fixture
async def forger(channel: grpc.aio.Channel, settings: Settings) -> Forger:
    """A logged-in victim, and the server's signing key as the server wrote it to keys_dir."""
    pair = (await signed_in_user(channel, "victim")).tokens
    [key_file] = settings.keys_dir.glob("*.pem")
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    return Forger(
        settings,
        key_file.stem,
        load_private_key(key_file),
        claims["sub"],
        pair.session_id,
        pair.access_token,
    )


async def test_a_token_minted_like_the_servers_own_is_accepted(
    channel: grpc.aio.Channel, forger: Forger
) -> None:
    # The control for every attack below: the forger's defaults are a valid token.
    me = await get_me(channel, forger.sign())

    assert me.id == forger.user_id


@pytest.mark.parametrize(("attack", "reason"), ATTACKS)
async def test_a_forged_or_malformed_token_is_refused(
    channel: grpc.aio.Channel, forger: Forger, attack: Attack, reason: str
) -> None:
    token = attack(forger)

    error = await refused(channel, token)

    assert error.error_info.reason == reason


async def test_tokens_of_a_logged_out_session_are_refused_even_when_freshly_signed(
    channel: grpc.aio.Channel, forger: Forger
) -> None:
    await auth(channel).Logout(auth_pb2.LogoutRequest(), metadata=bearer(forger.issued_token))

    for token in (forger.issued_token, forger.sign()):
        error = await refused(channel, token)
        assert error.error_info.reason == "TOKEN_REVOKED"


@pytest.mark.parametrize("seconds_ago", [1, 20])
async def test_the_issuer_honours_its_own_token_not_one_second_past_its_exp(
    channel: grpc.aio.Channel, forger: Forger, seconds_ago: int
) -> None:
    now = int(time.time())
    token = forger.sign(forger.claims(iat=now - 300, nbf=now - 300, exp=now - seconds_ago))

    assert (await refused(channel, token)).error_info.reason == "TOKEN_EXPIRED"
    # Another user asking about it learns nothing: the same answer as for someone else's live
    # token (an expired token is never reported active to anyone).
    other = (await signed_in_user(channel, "other")).metadata
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await auth(channel).ValidateToken(
            auth_pb2.ValidateTokenRequest(access_token=token), metadata=other
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
