"""What a client of userservice does again and again: sign up, log in, call with a bearer token.

Every helper goes through the real stubs on a real channel; nothing here reaches into the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc.aio
import pytest

from tests.support.rich_errors import RichError, rich_error
from userservice.v1 import auth_pb2, auth_pb2_grpc, user_pb2, user_pb2_grpc

if TYPE_CHECKING:
    from userservice.v1.auth_pb2_grpc import AuthServiceAsyncStub
    from userservice.v1.user_pb2_grpc import UserServiceAsyncStub

# Long enough for the policy, and not on the common-passwords list.
PASSWORD = "quiet-harbour-lantern-47"
Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def unique_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}@example.com"


@dataclass(frozen=True, slots=True)
class Account:
    """A signed-up user and the credentials it was created with."""

    user: user_pb2.User
    email: str
    password: str

    @property
    def id(self) -> str:
        return self.user.id


def users(channel: grpc.aio.Channel) -> UserServiceAsyncStub:
    return user_pb2_grpc.UserServiceStub(channel)


def auth(channel: grpc.aio.Channel) -> AuthServiceAsyncStub:
    return auth_pb2_grpc.AuthServiceStub(channel)


async def create_user(
    channel: grpc.aio.Channel,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    display_name: str = "Test User",
) -> Account:
    email = email or unique_email()
    user = await users(channel).CreateUser(
        user_pb2.CreateUserRequest(email=email, password=password, display_name=display_name)
    )
    return Account(user, email, password)


async def login(
    channel: grpc.aio.Channel,
    email: str,
    password: str = PASSWORD,
    *,
    rpc_timeout: float | None = None,
) -> auth_pb2.TokenPair:
    request = auth_pb2.LoginRequest(email=email, password=password)
    return await auth(channel).Login(request, timeout=rpc_timeout)


async def signed_in(
    channel: grpc.aio.Channel, label: str = "user"
) -> tuple[Account, auth_pb2.TokenPair]:
    """A new user, logged in once."""
    account = await create_user(channel, email=unique_email(label))
    return account, await login(channel, account.email, account.password)


async def refresh(channel: grpc.aio.Channel, refresh_token: str) -> auth_pb2.TokenPair:
    return await auth(channel).RefreshToken(
        auth_pb2.RefreshTokenRequest(refresh_token=refresh_token)
    )


async def get_me(channel: grpc.aio.Channel, access_token: str) -> user_pb2.User:
    return await users(channel).GetUser(
        user_pb2.GetUserRequest(id="me"), metadata=bearer(access_token)
    )


async def rpc_failure(call: Awaitable[object]) -> RichError:
    """The rich status of a call that must fail; the test fails if the call succeeds."""
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    return rich_error(failed.value)
