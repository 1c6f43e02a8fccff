"""Running userservice for the SDK tests, and the token surgery only a test may do.

The SDK is exercised as a consumer uses it: `AsyncUserServiceClient` pointed at a real server's
port. What a consumer cannot do — sign an already-expired token with the server's own key, or
make an administrator — goes through the application object, never through a mock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from server.app import Application
from server.domain import Role
from tests.support.backends import backend_named
from tests.support.flows import PASSWORD, unique_email
from tests.support.servers import serving, settings_for_test
from userservice.v1 import auth_pb2
from userservice_client import AsyncUserServiceClient

HOUR = dt.timedelta(hours=1)


@asynccontextmanager
async def embedded_app(tmp_path: Path, **overrides: Any) -> AsyncIterator[Application]:
    """userservice on SQLite + memory:// (the cheap backend, for tests where it does not matter)."""
    async with (
        backend_named("embedded", str(tmp_path / "userservice.db")) as backend,
        serving(settings_for_test(backend, tmp_path, **overrides)) as (app, _),
    ):
        yield app


def target(app: Application) -> str:
    return f"127.0.0.1:{app.port}"


@asynccontextmanager
async def sdk_client(app: Application, **kwargs: Any) -> AsyncIterator[AsyncUserServiceClient]:
    async with AsyncUserServiceClient(target(app), **kwargs) as client:
        yield client


async def signed_up(client: AsyncUserServiceClient, label: str = "user") -> str:
    """Signs up a new user through the client and logs the client in as it; its email."""
    email = unique_email(label)
    await client.create_user(email, PASSWORD, label.title())
    await client.login(email, PASSWORD)
    return email


@asynccontextmanager
async def admin_client(app: Application) -> AsyncIterator[AsyncUserServiceClient]:
    """A client logged in as a fresh administrator (made as `create-admin` makes one)."""
    email = unique_email("admin")
    await app.services.users.bootstrap_admin(email=email, password=PASSWORD, display_name="Admin")
    async with sdk_client(app) as client:
        await client.login(email, PASSWORD)
        yield client


def expired_access_token(app: Application, pair: auth_pb2.TokenPair, user_id: str) -> str:
    """An access token of the same session, signed by the server's key, expired an hour ago."""
    issued = app.services.codec.issue(
        user_id,
        now=dt.datetime.now(dt.UTC) - HOUR,
        ttl=dt.timedelta(minutes=1),
        session_id=pair.session_id,
        role=Role.USER.value,
    )
    return issued.token


def with_access_token(
    pair: auth_pb2.TokenPair, access_token: str, *, expires_at: dt.datetime
) -> auth_pb2.TokenPair:
    """A copy of `pair` with another access token and the expiry the holder believes it has."""
    stale = auth_pb2.TokenPair()
    stale.CopyFrom(pair)
    stale.access_token = access_token
    stale.access_token_expire_time.FromDatetime(expires_at)
    return stale
