"""Malformed Login, RefreshToken, Logout and ValidateToken requests: each names the field at fault,
or is UNAUTHENTICATED where the input is a credential."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest

from tests.support.flows import PASSWORD, Caller, auth, rpc_failure, users
from tests.support.malformed_requests import HUGE, assert_field_violation
from userservice.v1 import auth_pb2, user_pb2

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED

# -- Login ---------------------------------------------------------------------------------------


async def test_an_empty_login_request_names_the_email(channel: grpc.aio.Channel) -> None:
    error = await rpc_failure(auth(channel).Login(auth_pb2.LoginRequest()))

    assert_field_violation(error, "email")


@pytest.mark.parametrize(
    "email", ["no-at-sign", "a@", "@b", "a b@c.d", "nul\x00@example.com", HUGE + "@example.com"]
)
async def test_login_names_a_malformed_email(channel: grpc.aio.Channel, email: str) -> None:
    error = await rpc_failure(
        auth(channel).Login(auth_pb2.LoginRequest(email=email, password=PASSWORD))
    )

    assert_field_violation(error, "email")


@pytest.mark.parametrize("password", ["", HUGE], ids=["empty", "huge"])
async def test_login_names_a_missing_or_huge_password(
    channel: grpc.aio.Channel, caller: Caller, password: str
) -> None:
    error = await rpc_failure(
        auth(channel).Login(auth_pb2.LoginRequest(email=caller.account.email, password=password))
    )

    assert_field_violation(error, "password")


# -- RefreshToken --------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", HUGE], ids=["empty", "huge"])
async def test_refresh_token_names_a_missing_or_huge_token(
    channel: grpc.aio.Channel, token: str
) -> None:
    error = await rpc_failure(
        auth(channel).RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=token))
    )

    assert_field_violation(error, "refresh_token")


@pytest.mark.parametrize("token", ["unknown", "x" * 43, "ünïcödé-tökén", " "])
async def test_an_unknown_refresh_token_is_unauthenticated(
    channel: grpc.aio.Channel, token: str
) -> None:
    error = await rpc_failure(
        auth(channel).RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=token))
    )

    assert error.code is UNAUTHENTICATED
    assert error.error_info.reason == "REFRESH_TOKEN_INVALID"


# -- Logout --------------------------------------------------------------------------------------


async def test_logout_without_a_token_is_unauthenticated(channel: grpc.aio.Channel) -> None:
    error = await rpc_failure(auth(channel).Logout(auth_pb2.LogoutRequest()))

    assert error.code is UNAUTHENTICATED
    assert error.error_info.reason == "TOKEN_MISSING"


@pytest.mark.parametrize("token", ["not-mine", HUGE], ids=["unknown", "huge"])
async def test_logout_names_a_refresh_token_that_is_not_the_callers_and_ends_nothing(
    channel: grpc.aio.Channel, caller: Caller, token: str
) -> None:
    error = await rpc_failure(
        auth(channel).Logout(auth_pb2.LogoutRequest(refresh_token=token), metadata=caller.metadata)
    )

    assert_field_violation(error, "refresh_token")
    me = await users(channel).GetUser(user_pb2.GetUserRequest(id="me"), metadata=caller.metadata)
    assert me.id == caller.id


# -- ValidateToken -------------------------------------------------------------------------------


async def test_validate_token_without_a_token_is_unauthenticated(
    channel: grpc.aio.Channel,
) -> None:
    error = await rpc_failure(auth(channel).ValidateToken(auth_pb2.ValidateTokenRequest()))

    assert error.code is UNAUTHENTICATED
    assert error.error_info.reason == "TOKEN_MISSING"


@pytest.mark.parametrize("token", ["", HUGE], ids=["empty", "huge"])
async def test_validate_token_names_a_missing_or_huge_access_token(
    channel: grpc.aio.Channel, caller: Caller, token: str
) -> None:
    error = await rpc_failure(
        auth(channel).ValidateToken(
            auth_pb2.ValidateTokenRequest(access_token=token), metadata=caller.metadata
        )
    )

    assert_field_violation(error, "access_token")


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "x" * 5000])
async def test_validate_token_answers_inactive_for_a_token_that_is_not_one(
    channel: grpc.aio.Channel, caller: Caller, token: str
) -> None:
    result = await auth(channel).ValidateToken(
        auth_pb2.ValidateTokenRequest(access_token=token), metadata=caller.metadata
    )

    assert result == auth_pb2.ValidateTokenResponse(active=False)


# -- GetJwks ----------------------------------------------------------------------------------


async def test_get_jwks_has_no_input_to_get_wrong(channel: grpc.aio.Channel) -> None:
    response = await auth(channel).GetJwks(auth_pb2.GetJwksRequest())

    assert response.keys
    assert all(key.kid and key.kty for key in response.keys)
