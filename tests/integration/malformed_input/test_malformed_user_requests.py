"""Malformed CreateUser, GetUser and ListUsers requests: each names the field at fault."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import grpc.aio
import pytest

from tests.support.flows import PASSWORD, Caller, auth, rpc_failure, users
from tests.support.malformed_requests import HUGE, assert_field_violation
from userservice.v1 import auth_pb2, user_pb2

Code = grpc.StatusCode
UNAUTHENTICATED = Code.UNAUTHENTICATED

GOOD_EMAIL = "someone@example.com"
OVER_MESSAGE_LIMIT = "x" * (1024 * 1024 + 1)


def create_request(**fields: Any) -> user_pb2.CreateUserRequest:
    values: dict[str, Any] = {
        "email": GOOD_EMAIL,
        "password": PASSWORD,
        "display_name": "Someone",
    }
    values.update(fields)
    return user_pb2.CreateUserRequest(**values)


# -- CreateUser ----------------------------------------------------------------------------------


async def test_an_empty_create_user_request_names_the_email(channel: grpc.aio.Channel) -> None:
    error = await rpc_failure(users(channel).CreateUser(user_pb2.CreateUserRequest()))

    assert_field_violation(error, "email")


@pytest.mark.parametrize(
    "email",
    [
        "no-at-sign",
        "a@",
        "@b",
        "a b@c.d",
        "   ",
        "a@@example.com",
        "nul\x00@example.com",
        HUGE + "@example.com",
    ],
)
async def test_create_user_names_a_malformed_email(channel: grpc.aio.Channel, email: str) -> None:
    error = await rpc_failure(users(channel).CreateUser(create_request(email=email)))

    assert_field_violation(error, "email")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "PASSWORD_TOO_SHORT"),
        (HUGE, "PASSWORD_TOO_LONG"),
        ("a\x00" * 8, "PASSWORD_INVALID_CHARACTER"),
    ],
)
async def test_create_user_names_an_unusable_password(
    channel: grpc.aio.Channel, password: str, reason: str
) -> None:
    error = await rpc_failure(users(channel).CreateUser(create_request(password=password)))

    assert_field_violation(error, "password", reason)


@pytest.mark.parametrize(
    "display_name",
    ["Ali\x00ce", "bell\x07", "two\nlines", "esc\x1b[31mred", "del\x7fete", "nel\x85ine", HUGE],
)
async def test_create_user_names_a_display_name_with_control_characters_or_too_long(
    channel: grpc.aio.Channel, display_name: str
) -> None:
    error = await rpc_failure(users(channel).CreateUser(create_request(display_name=display_name)))

    assert_field_violation(error, "display_name")


@pytest.mark.parametrize("role", [99, 3, -1])
async def test_create_user_names_an_unknown_role(channel: grpc.aio.Channel, role: int) -> None:
    error = await rpc_failure(users(channel).CreateUser(create_request(role=role)))

    assert_field_violation(error, "role")


@pytest.mark.parametrize(
    "request_id",
    ["not-a-uuid", "12345", str(uuid.uuid4()) + "x", str(uuid.uuid4())[:-1], HUGE],
)
async def test_create_user_names_a_request_id_that_is_not_a_uuid(
    channel: grpc.aio.Channel, request_id: str
) -> None:
    error = await rpc_failure(users(channel).CreateUser(create_request(request_id=request_id)))

    assert_field_violation(error, "request_id")


async def test_a_message_over_the_receive_limit_is_resource_exhausted_not_internal(
    channel: grpc.aio.Channel,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await users(channel).CreateUser(create_request(display_name=OVER_MESSAGE_LIMIT))

    assert failed.value.code() is Code.RESOURCE_EXHAUSTED


# -- GetUser -------------------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", ["", "me", "not-a-uuid"])
async def test_get_user_without_a_token_is_unauthenticated_whatever_the_id(
    channel: grpc.aio.Channel, user_id: str
) -> None:
    error = await rpc_failure(users(channel).GetUser(user_pb2.GetUserRequest(id=user_id)))

    assert error.code is UNAUTHENTICATED
    assert error.error_info.reason == "TOKEN_MISSING"


# Each is a UUID with something after it, or close to one; none may name a user.
UUID_WITH_JUNK = ["x", " ", "\n", "-", "}", "--", "/../", "0"]


@pytest.mark.parametrize(
    "user_id",
    [
        "",
        "not-a-uuid",
        HUGE,
        *[pytest.param(f"{{id}}{junk}", id=f"uuid+{junk!r}") for junk in UUID_WITH_JUNK],
    ],
)
async def test_get_user_names_an_id_that_is_not_a_uuid(
    channel: grpc.aio.Channel, caller: Caller, user_id: str
) -> None:
    user_id = user_id.replace("{id}", caller.id)

    error = await rpc_failure(
        users(channel).GetUser(user_pb2.GetUserRequest(id=user_id), metadata=caller.metadata)
    )

    assert_field_violation(error, "id")


# -- page tokens and filters -------------------------------------------------------------------


@pytest.mark.parametrize("token", ["a.é", "é.a", "ü", "a." + "é" * 40])
async def test_a_page_token_with_non_ascii_characters_is_named(
    channel: grpc.aio.Channel, caller: Caller, admin: Caller, token: str
) -> None:
    listing_users = users(channel).ListUsers(
        user_pb2.ListUsersRequest(page_token=token), metadata=admin.metadata
    )
    listing_sessions = auth(channel).ListSessions(
        auth_pb2.ListSessionsRequest(user_id="me", page_token=token), metadata=caller.metadata
    )

    assert_field_violation(await rpc_failure(listing_users), "page_token", "INVALID_PAGE_TOKEN")
    assert_field_violation(await rpc_failure(listing_sessions), "page_token", "INVALID_PAGE_TOKEN")


@pytest.mark.parametrize(
    "filter_text",
    ['email = "a\x00*"', "state = STATE_ACTIVE\x00", 'email = "*x*"', "role = 1", "x" * 600],
)
async def test_list_users_names_a_malformed_filter(
    channel: grpc.aio.Channel, admin: Caller, filter_text: str
) -> None:
    error = await rpc_failure(
        users(channel).ListUsers(
            user_pb2.ListUsersRequest(filter=filter_text), metadata=admin.metadata
        )
    )

    assert_field_violation(error, "filter", "INVALID_FILTER")
