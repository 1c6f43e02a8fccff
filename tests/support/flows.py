"""What a client of userservice does again and again: sign up, log in, call with a bearer token.

The one home of the tests' account helpers. Every helper goes through the real stubs on a real
channel, except `signed_in_admin`, which makes its administrator the way an operator does
(`userservice create-admin`), since no RPC may.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest

from server.app import Application
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
    role: user_pb2.User.Role.ValueType = user_pb2.User.ROLE_UNSPECIFIED,
    metadata: Metadata = (),
) -> Account:
    """Signs up (or, with an administrator's `metadata`, creates) a user; `email` as sent."""
    email = email or unique_email()
    request = user_pb2.CreateUserRequest(
        email=email, password=password, display_name=display_name, role=role
    )
    return Account(await users(channel).CreateUser(request, metadata=metadata), email, password)


async def login(
    channel: grpc.aio.Channel,
    email: str,
    password: str = PASSWORD,
    *,
    rpc_timeout: float | None = None,
) -> auth_pb2.TokenPair:
    request = auth_pb2.LoginRequest(email=email, password=password)
    return await auth(channel).Login(request, timeout=rpc_timeout)


@dataclass(frozen=True, slots=True)
class Caller:
    """A signed-in user: an account with one live session, what a test calls the API as."""

    account: Account
    tokens: auth_pb2.TokenPair

    @property
    def id(self) -> str:
        return self.account.id

    @property
    def metadata(self) -> Metadata:
        return bearer(self.tokens.access_token)


async def signed_in_user(channel: grpc.aio.Channel, label: str = "user") -> Caller:
    """A user who signed up through the API, logged in once."""
    account = await create_user(channel, email=unique_email(label), display_name=label.title())
    return Caller(account, await login(channel, account.email, account.password))


async def signed_in_admin(app: Application, channel: grpc.aio.Channel) -> Caller:
    """An administrator made as `userservice create-admin` makes one, then logged in."""
    email = unique_email("admin")
    made = await app.services.users.bootstrap_admin(
        email=email, password=PASSWORD, display_name="Admin"
    )
    user = user_pb2.User(id=str(made.id), email=made.email, role=user_pb2.User.ROLE_ADMIN)
    return Caller(Account(user, email, PASSWORD), await login(channel, email))


async def refresh(channel: grpc.aio.Channel, refresh_token: str) -> auth_pb2.TokenPair:
    return await auth(channel).RefreshToken(
        auth_pb2.RefreshTokenRequest(refresh_token=refresh_token)
    )


async def logout(channel: grpc.aio.Channel, access_token: str) -> None:
    """Ends the session the access token belongs to."""
    await auth(channel).Logout(auth_pb2.LogoutRequest(), metadata=bearer(access_token))


async def get_me(
    channel: grpc.aio.Channel, access_token: str, *, rpc_timeout: float | None = None
) -> user_pb2.User:
    return await users(channel).GetUser(
        user_pb2.GetUserRequest(id="me"), metadata=bearer(access_token), timeout=rpc_timeout
    )


async def rpc_failure(call: Awaitable[object]) -> RichError:
    """The rich status of a call that must fail; the test fails if the call succeeds."""
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    return rich_error(failed.value)


async def first_refusal(
    channel: grpc.aio.Channel, access_token: str, *, within: float
) -> RichError | None:
    """Calls GetUser("me") until the token is refused or `within` seconds pass (then None)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (now := loop.time()) < deadline:
        try:
            await get_me(channel, access_token, rpc_timeout=deadline - now)
        except grpc.aio.AioRpcError as failed:
            if failed.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
                return None
            return rich_error(failed)
        await asyncio.sleep(0.01)  # a poll interval, not a wait for the outcome
    return None
