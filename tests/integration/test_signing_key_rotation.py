"""Signing keys as the server rotates them: a token signed by a key removed from keys_dir is
refused, a retired key verifies tokens while they may be alive, and is dropped once every token it
signed has expired."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import grpc.aio
import jwt

from server.config import SigningAlgorithm
from server.security.keys import generate_key
from tests.support.backends import Backend
from tests.support.flows import auth, get_me, refresh, signed_in_user
from tests.support.servers import serving, settings_for_test
from tests.support.token_forgery import Forger, load_private_key, refused
from userservice.v1 import auth_pb2


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
