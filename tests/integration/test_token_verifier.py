"""TokenVerifier: userservice tokens verified locally against the keys the real server publishes.

Key fetches are counted by wrapping the real JWKS source, so the tests see how often a
verifier goes back to the server: once to start, once per rotation, never per token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from server.config import SigningAlgorithm
from server.security.keys import generate_key
from tests.support.backends import backend_named
from tests.support.flows import PASSWORD
from tests.support.sdk import (
    admin_client,
    embedded_app,
    expired_access_token,
    sdk_client,
    signed_up,
)
from tests.support.servers import serving, settings_for_test
from userservice_client import (
    AsyncUserServiceClient,
    ClientJwksSource,
    JwksSource,
    LoginSession,
    TokenRejected,
    TokenVerifier,
    VerifiedToken,
)

ISSUER = AUDIENCE = "userservice"


class CountingSource:
    """A JwksSource that counts its fetches; `inner` can be re-pointed (a new replica)."""

    def __init__(self, inner: JwksSource) -> None:
        self.inner = inner
        self.fetches = 0

    async def fetch(self) -> list[dict[str, Any]]:
        self.fetches += 1
        return await self.inner.fetch()


def verifier_for(source: JwksSource, **kwargs: Any) -> TokenVerifier:
    return TokenVerifier(source, issuer=ISSUER, audience=AUDIENCE, **kwargs)


def session_of(client: AsyncUserServiceClient) -> LoginSession:
    session = client.credentials
    assert isinstance(session, LoginSession)
    return session


def forged(kid: str, **header: str) -> str:
    """A well-formed token signed by a key userservice never had."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "x",
        "sid": "s",
        "role": "admin",
    }
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims.update(iat=now, nbf=now, exp=now + 600, jti=secrets.token_hex(8))
    key = ed25519.Ed25519PrivateKey.generate()
    headers = {"kid": kid, "typ": "at+jwt", **header}
    return jwt.encode(claims, key, algorithm="EdDSA", headers=headers)


async def rejection(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenRejected) as rejected:
        await verifier.verify(token)
    return rejected.value.reason


async def test_a_valid_token_verifies_locally_with_one_key_fetch(tmp_path: Path) -> None:
    async with embedded_app(tmp_path) as app, sdk_client(app) as client:
        await signed_up(client, "verified")
        me = await client.get_user()
        session = session_of(client)
        source = CountingSource(ClientJwksSource(client))
        verifier = verifier_for(source)

        for _ in range(5):
            token = await verifier.verify(session.access_token)
        assert token.subject == me.id
        assert token.session_id == session.session_id
        assert token.role == "user"
        assert token.scopes == ()
        assert not token.is_service
        assert token.expires_at == session.tokens.access_token_expire_time.ToDatetime(dt.UTC)
        assert source.fetches == 1


async def test_expired_wrong_audience_and_foreign_tokens_are_rejected(tmp_path: Path) -> None:
    async with embedded_app(tmp_path) as app, sdk_client(app) as client:
        await signed_up(client, "rejected")
        me = await client.get_user()
        session = session_of(client)
        verifier = verifier_for(ClientJwksSource(client))
        kid = jwt.get_unverified_header(session.access_token)["kid"]

        expired = expired_access_token(app, session.tokens, me.id)
        assert await rejection(verifier, expired) == "TOKEN_EXPIRED"
        elsewhere = TokenVerifier(ClientJwksSource(client), issuer=ISSUER, audience="billing")
        assert await rejection(elsewhere, session.access_token) == "TOKEN_INVALID"
        assert await rejection(verifier, forged(kid)) == "TOKEN_INVALID"  # bad signature
        assert await rejection(verifier, forged(kid, typ="JWT")) == "TOKEN_INVALID"
        assert await rejection(verifier, "not.a.token") == "TOKEN_INVALID"
        hs256 = jwt.encode({"sub": me.id}, "k" * 32, algorithm="HS256", headers={"kid": kid})
        assert await rejection(verifier, hs256) == "TOKEN_INVALID"


async def test_an_extra_validation_can_refuse_a_token(tmp_path: Path) -> None:
    def admins_only(token: VerifiedToken) -> None:
        if token.role != "admin":
            raise TokenRejected("TOKEN_INVALID", "administrators only")

    async with embedded_app(tmp_path) as app, sdk_client(app) as client:
        await signed_up(client, "validated")
        verifier = verifier_for(ClientJwksSource(client), validate=admins_only)
        assert await rejection(verifier, session_of(client).access_token) == "TOKEN_INVALID"


async def test_a_rotated_key_is_fetched_once_then_trusted(tmp_path: Path) -> None:
    async with backend_named("embedded", str(tmp_path / "userservice.db")) as backend:
        settings = settings_for_test(backend, tmp_path)
        async with serving(settings) as (old_app, _), sdk_client(old_app) as old:
            await signed_up(old, "rotation")
            email = (await old.get_user()).email
            source = CountingSource(ClientJwksSource(old))
            verifier = verifier_for(source)
            old_token = session_of(old).access_token
            await verifier.verify(old_token)

            # Rotation: a newer key appears; a replica started now signs with it.
            later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
            generate_key(settings.keys_dir, SigningAlgorithm.EDDSA, now=later)
            async with serving(settings) as (new_app, _), sdk_client(new_app) as new:
                await new.login(email, PASSWORD)
                new_token = session_of(new).access_token
                assert (
                    jwt.get_unverified_header(new_token)["kid"]
                    != (jwt.get_unverified_header(old_token)["kid"])
                )
                source.inner = ClientJwksSource(new)

                assert (await verifier.verify(new_token)).subject == (await new.get_user()).id
                assert source.fetches == 2
                await verifier.verify(new_token)
                await verifier.verify(old_token)  # the retired key stays published
                assert source.fetches == 2


async def test_a_flood_of_unknown_kids_causes_at_most_one_refetch(tmp_path: Path) -> None:
    async with embedded_app(tmp_path) as app, sdk_client(app) as client:
        await signed_up(client, "flood")
        source = CountingSource(ClientJwksSource(client))
        verifier = verifier_for(source)
        await verifier.verify(session_of(client).access_token)
        assert source.fetches == 1

        tokens = [forged(secrets.token_hex(8)) for _ in range(100)]
        results = await asyncio.gather(
            *(verifier.verify(token) for token in tokens), return_exceptions=True
        )
        assert all(isinstance(r, TokenRejected) and r.reason == "TOKEN_INVALID" for r in results)
        for token in tokens:
            assert await rejection(verifier, token) == "TOKEN_INVALID"
        assert source.fetches <= 2


async def test_confirm_with_detects_a_revoked_session(tmp_path: Path) -> None:
    async with (
        embedded_app(tmp_path) as app,
        sdk_client(app) as user,
        sdk_client(app) as anonymous,
        admin_client(app) as admin,
    ):
        await signed_up(user, "revoked")
        token = session_of(user).access_token
        local = verifier_for(ClientJwksSource(anonymous))
        as_holder = verifier_for(ClientJwksSource(anonymous), confirm_with=anonymous)
        as_admin = verifier_for(ClientJwksSource(anonymous), confirm_with=admin)
        await as_holder.verify(token)
        await as_admin.verify(token)

        await user.logout()

        assert await rejection(as_holder, token) == "TOKEN_REVOKED"
        assert await rejection(as_admin, token) == "TOKEN_REVOKED"
        # Without confirmation, a revoked session's token verifies until it expires.
        assert (await local.verify(token)).session_id
