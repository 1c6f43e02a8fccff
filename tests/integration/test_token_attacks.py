"""Access tokens an attacker can forge, replay or bend are refused (RFC 8725 practices).

Each attack is a token presented as the bearer of GetUser("me"). The forger mints its tokens with
PyJWT; a control test shows that a token it mints with the server's own key and unchanged claims
is accepted, so each attack fails for the one thing it changes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from server.config import Settings, SigningAlgorithm
from server.security.keys import generate_key
from tests.support.backends import Backend
from tests.support.flows import auth, bearer, get_me, refresh, rpc_failure, signed_in_user
from tests.support.rich_errors import RichError
from tests.support.servers import serving, settings_for_test
from userservice.v1 import auth_pb2

ACCESS_TOKEN_TYPE = "at+jwt"
ATTACKER_URL = "http://127.0.0.1:9/"  # the discard port: nothing to fetch, and nothing may try


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_private_key(path: Path) -> ed25519.Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


@dataclass(frozen=True, slots=True)
class Forger:
    """Mints access tokens for one victim's session, by default exactly as the server would."""

    settings: Settings
    kid: str  # the server's signing key
    server_key: ed25519.Ed25519PrivateKey
    user_id: str
    session_id: str
    issued_token: str  # what the server itself issued at login

    def claims(self, **changes: Any) -> dict[str, Any]:
        """Valid claims for the victim's session; a change to None removes the claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "sub": self.user_id,
            "sid": self.session_id,
            "role": "user",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def sign(
        self,
        claims: dict[str, Any] | None = None,
        *,
        key: ed25519.Ed25519PrivateKey | None = None,
        **headers: Any,
    ) -> str:
        """EdDSA with the server's key and kid unless told otherwise; a None header is left out."""
        header = {"kid": self.kid, "typ": ACCESS_TOKEN_TYPE, **headers}
        # PyJWT itself leaves out a falsy `typ`.
        header = {
            name: value for name, value in header.items() if value is not None or name == "typ"
        }
        claims = self.claims() if claims is None else claims
        return jwt.encode(claims, key or self.server_key, algorithm="EdDSA", headers=header)

    def hs256(self, secret: bytes) -> str:
        """HMAC with the server's public key as the secret: the classic algorithm confusion.

        By hand, because PyJWT (rightly) refuses a PEM key as an HMAC secret.
        """
        header = {"alg": "HS256", "kid": self.kid, "typ": ACCESS_TOKEN_TYPE}
        signing_input = (
            f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(self.claims()).encode())}"
        )
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def public_bytes(self, encoding: serialization.Encoding) -> bytes:
        public_format = (
            serialization.PublicFormat.Raw
            if encoding is serialization.Encoding.Raw
            else serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return self.server_key.public_key().public_bytes(encoding, public_format)


def attacker_jwk(key: ed25519.Ed25519PrivateKey, kid: str) -> dict[str, str]:
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}


def with_role_admin(token: str) -> str:
    """The server's own token with its payload edited and its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(_unb64(payload))
    claims["role"] = "admin"
    return ".".join((header, _b64(json.dumps(claims).encode()), signature))


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


async def refused(channel: grpc.aio.Channel, token: str) -> RichError:
    error = await rpc_failure(get_me(channel, token))
    assert error.code is grpc.StatusCode.UNAUTHENTICATED, error
    return error


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


async def test_a_token_signed_by_a_key_removed_from_keys_dir_is_refused(
    backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for_test(backend, tmp_path)
    first_key = generate_key(settings.keys_dir, SigningAlgorithm.EDDSA, now=utc_now())
    async with serving(settings) as (_, channel):
        caller = await signed_in_user(channel)
        pair = caller.tokens
        assert jwt.get_unverified_header(pair.access_token)["kid"] == first_key.stem
    first_key.unlink()
    generate_key(settings.keys_dir, SigningAlgorithm.EDDSA, now=utc_now())

    async with serving(settings) as (_, channel):
        error = await refused(channel, pair.access_token)
        assert error.error_info.reason == "TOKEN_INVALID"
        # The session itself lives on: only the key is gone.
        renewed = await refresh(channel, pair.refresh_token)
        assert (await get_me(channel, renewed.access_token)).id == caller.id


async def test_a_retired_key_still_verifies_tokens_while_they_may_be_alive(
    backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for_test(backend, tmp_path)
    now = utc_now()
    retired = generate_key(settings.keys_dir, SigningAlgorithm.EDDSA, now=now - minutes(1))
    active = generate_key(settings.keys_dir, SigningAlgorithm.EDDSA, now=now)
    async with serving(settings) as (_, channel):
        caller = await signed_in_user(channel)
        pair = caller.tokens
        assert jwt.get_unverified_header(pair.access_token)["kid"] == active.stem
        assert await published_kids(channel) == {retired.stem, active.stem}
        forger = Forger(
            settings,
            retired.stem,
            load_private_key(retired),
            caller.id,
            pair.session_id,
            pair.access_token,
        )

        me = await get_me(channel, forger.sign())

        assert me.id == caller.id


async def test_a_retired_key_is_dropped_once_every_token_it_signed_has_expired(
    backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for_test(backend, tmp_path)
    ttl_and_leeway = dt.timedelta(seconds=settings.access_token_ttl_seconds + 30)
    now = utc_now()
    assert minutes(20) > ttl_and_leeway
    retired = generate_key(settings.keys_dir, SigningAlgorithm.EDDSA, now=now - minutes(30))
    active = generate_key(settings.keys_dir, SigningAlgorithm.EDDSA, now=now - minutes(20))
    async with serving(settings) as (_, channel):
        caller = await signed_in_user(channel)
        pair = caller.tokens
        assert await published_kids(channel) == {active.stem}
        forger = Forger(
            settings,
            retired.stem,
            load_private_key(retired),
            caller.id,
            pair.session_id,
            pair.access_token,
        )

        error = await refused(channel, forger.sign())

        assert error.error_info.reason == "TOKEN_INVALID"


async def published_kids(channel: grpc.aio.Channel) -> set[str]:
    jwks = await auth(channel).GetJwks(auth_pb2.GetJwksRequest())
    return {key.kid for key in jwks.keys}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def minutes(count: int) -> dt.timedelta:
    return dt.timedelta(minutes=count)


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
