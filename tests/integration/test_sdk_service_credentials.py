"""The SDK's client-credentials mode: a service account's client calls without handling tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import pytest

from server.app import Application
from tests.support.sdk import HOUR, admin_client, embedded_app, sdk_client, target
from userservice.v1 import auth_pb2
from userservice_client import (
    PermissionDeniedError,
    ServiceCredentials,
    UnauthenticatedError,
    UserServiceClient,
)


async def service_account(app: Application, scopes: list[str]) -> tuple[str, str, str]:
    """(account id, client id, client secret), made as the CLI makes one."""
    made = await app.services.service_accounts.create_service_account(
        display_name="Reporting", scopes=scopes
    )
    return str(made.account.id), made.account.client_id, made.client_secret


def expired_service_token(app: Application, account_id: str, scopes: list[str]) -> str:
    """A token of the account, signed by the server's key, expired an hour ago."""
    issued = app.services.codec.issue(
        account_id,
        now=dt.datetime.now(dt.UTC) - HOUR,
        ttl=dt.timedelta(minutes=1),
        scopes=tuple(scopes),
    )
    return issued.token


async def test_service_credentials_obtain_a_token_by_themselves(tmp_path: Path) -> None:
    async with embedded_app(tmp_path) as app, admin_client(app) as admin:
        me = await admin.get_user()
        _, client_id, secret = await service_account(app, ["users:read"])
        credentials = ServiceCredentials(client_id, secret)
        async with sdk_client(app, credentials=credentials) as client:
            assert (await client.get_user(me.id)).id == me.id
            assert credentials.access_token
        assert secret not in repr(credentials)


async def test_service_credentials_renew_a_token_the_server_finds_expired(
    tmp_path: Path,
) -> None:
    async with embedded_app(tmp_path) as app, admin_client(app) as admin:
        me = await admin.get_user()
        account_id, client_id, secret = await service_account(app, ["users:read"])
        expired = expired_service_token(app, account_id, ["users:read"])
        # The holder believes the token is good for an hour: only the server knows it expired.
        stale = auth_pb2.TokenPair(access_token=expired, token_type="Bearer")
        stale.access_token_expire_time.FromDatetime(dt.datetime.now(dt.UTC) + HOUR)
        credentials = ServiceCredentials(client_id, secret)
        credentials.adopt(stale)
        async with sdk_client(app, credentials=credentials) as client:
            assert (await client.get_user(me.id)).id == me.id
        assert credentials.access_token not in (None, expired)


async def test_service_credentials_renew_a_token_about_to_expire_before_the_call(
    tmp_path: Path,
) -> None:
    async with embedded_app(tmp_path) as app, admin_client(app) as admin:
        me = await admin.get_user()
        account_id, client_id, secret = await service_account(app, ["users:read"])
        expired = expired_service_token(app, account_id, ["users:read"])
        stale = auth_pb2.TokenPair(access_token=expired, token_type="Bearer")
        stale.access_token_expire_time.FromDatetime(dt.datetime.now(dt.UTC) - HOUR)
        credentials = ServiceCredentials(client_id, secret)
        credentials.adopt(stale)
        async with sdk_client(app, credentials=credentials) as client:
            assert (await client.get_user(me.id)).id == me.id
        assert credentials.access_token != expired


async def test_service_credentials_ask_for_the_scopes_given(tmp_path: Path) -> None:
    async with embedded_app(tmp_path) as app, admin_client(app) as admin:
        me = await admin.get_user()
        _, client_id, secret = await service_account(app, ["users:read", "tokens:validate"])
        credentials = ServiceCredentials(client_id, secret, scopes=["tokens:validate"])
        async with sdk_client(app, credentials=credentials) as client:
            with pytest.raises(PermissionDeniedError):
                await client.get_user(me.id)
        wrong = ServiceCredentials(client_id, "not-the-secret")
        async with sdk_client(app, credentials=wrong) as client:
            with pytest.raises(UnauthenticatedError) as failed:
                await client.get_user(str(uuid.uuid4()))
            assert failed.value.reason == "INVALID_CREDENTIALS"


async def test_the_blocking_client_calls_as_a_service_account(tmp_path: Path) -> None:
    async with embedded_app(tmp_path) as app, admin_client(app) as admin:
        me = await admin.get_user()
        _, client_id, secret = await service_account(app, ["users:read"])

        def flow() -> tuple[str, str]:
            with UserServiceClient(target(app)) as client:
                pair = client.issue_service_token(client_id, secret)
            credentials = ServiceCredentials(client_id, secret)
            with UserServiceClient(target(app), credentials=credentials) as client:
                return pair.refresh_token, client.get_user(me.id).id

        assert await asyncio.to_thread(flow) == ("", me.id)
