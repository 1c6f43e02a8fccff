"""The signing keys over HTTP, as JWT libraries and proxies fetch them: a real consumer (PyJWT's
`PyJWKClient`) verifies access tokens from the JWKS URL, across a key rotation."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import jwt
import pytest

from server.clock import utc_now
from server.config import Settings, SigningAlgorithm
from server.security.keys import generate_key
from tests.support import servers
from tests.support.backends import Backend
from tests.support.flows import login, signed_in_user
from tests.support.http_fetch import Answer, fetch
from tests.support.ports import free_port
from tests.support.waiting import eventually

JWKS = "/.well-known/jwks.json"
DISCOVERY = "/.well-known/openid-configuration"


def verified(client: jwt.PyJWKClient, token: str, settings: Settings) -> dict[str, object]:
    """What a consumer does with a bearer token: key by kid from the JWKS URL, then decode."""
    key = client.get_signing_key_from_jwt(token)
    claims: dict[str, object] = jwt.decode(
        token,
        key,
        algorithms=[settings.jwt_algorithm.value],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    return claims


def kids(answer: Answer) -> set[str]:
    return {key["kid"] for key in json.loads(answer.body)["keys"]}


@pytest.fixture
def http_settings(backend: Backend, tmp_path: Path) -> Settings:
    return servers.settings_for_test(
        backend,
        tmp_path,
        metrics_host="127.0.0.1",
        metrics_port=free_port(),
        jwt_key_activation_seconds=600,
    )


async def test_pyjwkclient_verifies_access_tokens_before_and_after_a_key_rotation(
    backend: Backend, tmp_path: Path
) -> None:
    # A short activation delay stands in for the default ten minutes.
    settings = servers.settings_for_test(
        backend,
        tmp_path,
        metrics_host="127.0.0.1",
        metrics_port=free_port(),
        jwt_key_activation_seconds=2,
    )
    base = f"http://127.0.0.1:{settings.metrics_port}"
    old_key = generate_key(
        settings.keys_dir, SigningAlgorithm.EDDSA, now=utc_now() - dt.timedelta(hours=1)
    )
    # PyJWKClient as consumers run it: it caches the set, and refetches on an unknown kid at
    # most once per 30 s, so it must hold a new key before that key's first token.
    client = jwt.PyJWKClient(base + JWKS)
    async with servers.serving(settings) as (_, channel):
        before = await signed_in_user(channel)
        claims = await asyncio.to_thread(verified, client, before.tokens.access_token, settings)
        assert claims["sub"] == before.id

    # The operator's rotation: a new key, rolled out (a restart); it is published at once.
    new_key = generate_key(settings.keys_dir, SigningAlgorithm.EDDSA, now=utc_now())
    async with servers.serving(settings) as (_, channel):
        assert kids(await asyncio.to_thread(fetch, base + JWKS)) == {old_key.stem, new_key.stem}
        # The consumer's cached set expires (max-age) and it fetches the set again.
        await asyncio.to_thread(client.get_signing_keys, True)
        caller = await signed_in_user(channel)

        async def signing_with_the_new_key() -> bool:
            pair = await login(channel, caller.account.email, caller.account.password)
            nonlocal after
            after = pair.access_token
            return bool(jwt.get_unverified_header(after)["kid"] == new_key.stem)

        after = ""
        await eventually(signing_with_the_new_key, within=10.0, what="the new key signing")
        claims = await asyncio.to_thread(verified, client, after, settings)
        assert claims["sub"] == caller.id
        # The old key's tokens still verify while they may live.
        claims = await asyncio.to_thread(verified, client, before.tokens.access_token, settings)
        assert claims["sub"] == before.id


async def test_the_documents_carry_their_media_type_and_the_cache_lifetime(
    http_settings: Settings,
) -> None:
    settings = http_settings
    base = f"http://127.0.0.1:{settings.metrics_port}"
    async with servers.serving(settings):
        jwks = await asyncio.to_thread(fetch, base + JWKS)
        discovery = await asyncio.to_thread(fetch, base + DISCOVERY)
        head = await asyncio.to_thread(fetch, base + JWKS, "HEAD")

    assert jwks.status == 200
    assert jwks.headers["Content-Type"] == "application/jwk-set+json"
    max_age = settings.jwt_key_activation_seconds // 2
    assert jwks.headers["Cache-Control"] == f"public, max-age={max_age}"
    assert {key["alg"] for key in json.loads(jwks.body)["keys"]} == {"EdDSA"}
    assert head.status == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == str(len(jwks.body))

    assert discovery.status == 200
    assert discovery.headers["Content-Type"] == "application/json"
    assert discovery.headers["Cache-Control"] == jwks.headers["Cache-Control"]
    assert json.loads(discovery.body) == {
        "issuer": settings.jwt_issuer,
        "jwks_uri": base + JWKS,
        "id_token_signing_alg_values_supported": ["EdDSA"],
    }


async def test_the_discovery_document_names_the_configured_public_url(
    backend: Backend, tmp_path: Path
) -> None:
    port = free_port()
    settings = servers.settings_for_test(
        backend,
        tmp_path,
        metrics_host="127.0.0.1",
        metrics_port=port,
        public_url="https://keys.example.com/userservice/",
    )
    async with servers.serving(settings):
        discovery = await asyncio.to_thread(fetch, f"http://127.0.0.1:{port}{DISCOVERY}")

    document = json.loads(discovery.body)
    assert document["jwks_uri"] == "https://keys.example.com/userservice" + JWKS
    assert "Vary" not in discovery.headers


async def test_other_paths_are_not_found_and_other_methods_not_allowed(
    http_settings: Settings,
) -> None:
    base = f"http://127.0.0.1:{http_settings.metrics_port}"
    async with servers.serving(http_settings):
        missing = [
            await asyncio.to_thread(fetch, base + path)
            for path in ("/", "/.well-known/", "/jwks.json", "/metrics/extra", JWKS + "x")
        ]
        posted = [await asyncio.to_thread(fetch, base + p, "POST") for p in (JWKS, "/metrics")]
        metrics = await asyncio.to_thread(fetch, base + "/metrics")
        metrics_head = await asyncio.to_thread(fetch, base + "/metrics", "HEAD")

    assert [answer.status for answer in missing] == [404] * len(missing)
    assert [answer.status for answer in posted] == [405, 405]
    assert all(answer.headers["Allow"] == "GET, HEAD" for answer in posted)
    assert metrics.status == 200
    assert b"grpc_server_started_total" in metrics.body
    assert metrics_head.status == 200
    assert metrics_head.body == b""
