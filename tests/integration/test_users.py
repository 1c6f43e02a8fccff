"""CreateUser and GetUser on a real server, on each backend: normalisation, uniqueness, who may
create whom, the cache in front of GetUser, and a user that is gone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from sqlalchemy import delete, update

from server.app import Application
from server.repositories.models import UserRow
from tests.support.backends import Backend
from tests.support.flows import (
    bearer,
    create_user,
    login,
    rpc_failure,
    signed_in_admin,
    unique_email,
    users,
)
from tests.support.redis_keys import user_key
from tests.support.servers import serving, settings_for_test
from userservice.v1 import user_pb2

# -- CreateUser ----------------------------------------------------------------------------------


async def test_create_user_trims_and_lower_cases_the_email(channel: grpc.aio.Channel) -> None:
    user = (await create_user(channel, email=" Alice@Example.COM ", display_name="Alice")).user

    assert user.email == "alice@example.com"
    assert str(uuid.UUID(user.id)) == user.id
    assert user.display_name == "Alice"
    assert user.role == user_pb2.User.ROLE_USER
    assert user.state == user_pb2.User.STATE_ACTIVE
    assert user.email_verified is False
    assert user.create_time.seconds > 0
    assert user.etag
    # The normalised address is the one that logs in.
    assert (await login(channel, "alice@example.com")).access_token


async def test_the_same_email_in_another_case_is_already_taken(
    channel: grpc.aio.Channel,
) -> None:
    await create_user(channel, email="bob@example.com")

    error = await rpc_failure(create_user(channel, email="  BOB@Example.Com"))

    assert error.code is grpc.StatusCode.ALREADY_EXISTS
    assert error.error_info.reason == "EMAIL_TAKEN"


async def test_an_anonymous_caller_cannot_create_an_administrator(
    channel: grpc.aio.Channel,
) -> None:
    email = unique_email("would-be-admin")

    error = await rpc_failure(create_user(channel, email=email, role=user_pb2.User.ROLE_ADMIN))

    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    # Nothing was created: the email is still free.
    created = (await create_user(channel, email=email)).user
    assert created.role == user_pb2.User.ROLE_USER


async def test_a_user_cannot_create_an_administrator_either(channel: grpc.aio.Channel) -> None:
    email = unique_email("user")
    await create_user(channel, email=email)
    token = (await login(channel, email)).access_token

    error = await rpc_failure(
        create_user(
            channel,
            email=unique_email("would-be-admin"),
            role=user_pb2.User.ROLE_ADMIN,
            metadata=bearer(token),
        )
    )

    assert error.code is grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture
async def closed_signup(
    backend: Backend, tmp_path: Path
) -> AsyncIterator[tuple[Application, grpc.aio.Channel]]:
    async with serving(settings_for_test(backend, tmp_path, signup_enabled=False)) as pair:
        yield pair


async def test_with_sign_up_closed_an_anonymous_caller_cannot_create_a_user(
    closed_signup: tuple[Application, grpc.aio.Channel],
) -> None:
    _, channel = closed_signup

    error = await rpc_failure(create_user(channel, email=unique_email("walk-in")))

    assert error.code is grpc.StatusCode.UNAUTHENTICATED
    assert error.error_info.reason == "TOKEN_MISSING"


async def test_with_sign_up_closed_an_administrator_creates_users_and_administrators(
    closed_signup: tuple[Application, grpc.aio.Channel],
) -> None:
    app, channel = closed_signup
    token = (await signed_in_admin(app, channel)).tokens.access_token

    made = await create_user(channel, email=" New.User@Example.com", metadata=bearer(token))
    deputy = await create_user(
        channel, email=unique_email("deputy"), role=user_pb2.User.ROLE_ADMIN, metadata=bearer(token)
    )
    user, admin = made.user, deputy.user

    assert user.email == "new.user@example.com"
    assert user.role == user_pb2.User.ROLE_USER
    assert admin.role == user_pb2.User.ROLE_ADMIN
    assert (await login(channel, "new.user@example.com")).access_token


async def test_with_sign_up_closed_a_user_cannot_create_users(
    closed_signup: tuple[Application, grpc.aio.Channel],
) -> None:
    app, channel = closed_signup
    email = unique_email("member")
    admin = await signed_in_admin(app, channel)
    await create_user(channel, email=email, metadata=admin.metadata)
    member = bearer((await login(channel, email)).access_token)

    error = await rpc_failure(create_user(channel, email=unique_email("friend"), metadata=member))

    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    assert error.error_info.reason == "ADMIN_REQUIRED"


# -- GetUser -------------------------------------------------------------------------------------


@pytest.fixture
async def redis_cache_only(
    backend: Backend, tmp_path: Path
) -> AsyncIterator[tuple[Application, grpc.aio.Channel]]:
    """A server whose per-process user cache is off, so Redis is the only cache in front of
    the database and a test can see (and clear) exactly what it holds."""
    async with serving(settings_for_test(backend, tmp_path, user_cache_size=0)) as pair:
        yield pair


async def test_get_me_is_served_from_the_redis_cache_once_warm(
    redis_cache_only: tuple[Application, grpc.aio.Channel],
) -> None:
    app, channel = redis_cache_only
    email = unique_email("cached")
    created = await create_user(channel, email=email, display_name="Before")
    token = (await login(channel, email)).access_token
    key = user_key(app, created.id)
    assert await app.redis.exists(key) == 0

    first = await users(channel).GetUser(user_pb2.GetUserRequest(id="me"), metadata=bearer(token))

    assert (first.id, first.email, first.display_name) == (created.id, email, "Before")
    assert await app.redis.exists(key) == 1
    # Changed behind the service's back: a warm read does not go to the database...
    async with app.engine.begin() as connection:
        await connection.execute(
            update(UserRow).where(UserRow.id == uuid.UUID(created.id)).values(display_name="After")
        )
    second = await users(channel).GetUser(user_pb2.GetUserRequest(id="me"), metadata=bearer(token))
    assert second == first
    # ...and once the entry is gone, the next read does.
    await app.redis.delete(key)
    third = await users(channel).GetUser(user_pb2.GetUserRequest(id="me"), metadata=bearer(token))
    assert third.display_name == "After"


async def test_an_administrator_can_get_any_user(
    app: Application, channel: grpc.aio.Channel
) -> None:
    token = (await signed_in_admin(app, channel)).tokens.access_token
    other = (await create_user(channel, email=unique_email("other"), display_name="Other")).user

    found = await users(channel).GetUser(
        user_pb2.GetUserRequest(id=other.id), metadata=bearer(token)
    )

    assert found == other


async def test_a_user_cannot_get_another_user(channel: grpc.aio.Channel) -> None:
    email = unique_email("nosy")
    await create_user(channel, email=email)
    other = await create_user(channel, email=unique_email("private"))

    error = await rpc_failure(
        users(channel).GetUser(
            user_pb2.GetUserRequest(id=other.id),
            metadata=bearer((await login(channel, email)).access_token),
        )
    )

    assert error.code is grpc.StatusCode.PERMISSION_DENIED


async def test_a_user_whose_row_is_gone_is_not_found(
    redis_cache_only: tuple[Application, grpc.aio.Channel],
) -> None:
    app, channel = redis_cache_only
    token = (await signed_in_admin(app, channel)).tokens.access_token
    gone = await create_user(channel, email=unique_email("gone"))
    await users(channel).GetUser(user_pb2.GetUserRequest(id=gone.id), metadata=bearer(token))
    async with app.engine.begin() as connection:
        result = await connection.execute(delete(UserRow).where(UserRow.id == uuid.UUID(gone.id)))
        assert result.rowcount == 1
    await app.redis.delete(user_key(app, gone.id))

    error = await rpc_failure(
        users(channel).GetUser(user_pb2.GetUserRequest(id=gone.id), metadata=bearer(token))
    )

    assert error.code is grpc.StatusCode.NOT_FOUND
    assert error.error_info.reason == "USER_NOT_FOUND"


async def test_an_id_no_user_ever_had_is_not_found_for_an_administrator(
    app: Application, channel: grpc.aio.Channel
) -> None:
    token = (await signed_in_admin(app, channel)).tokens.access_token

    error = await rpc_failure(
        users(channel).GetUser(
            user_pb2.GetUserRequest(id=str(uuid.uuid4())), metadata=bearer(token)
        )
    )

    assert error.code is grpc.StatusCode.NOT_FOUND
    assert error.error_info.reason == "USER_NOT_FOUND"
