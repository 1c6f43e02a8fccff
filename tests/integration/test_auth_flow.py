"""Sign-up, login, refresh rotation, logout, introspection and key publication, end to end.

A real server on each backend (SQLite + memory://, PostgreSQL + Redis), called through the
generated stubs exactly as another service would call it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import grpc.aio
import jwt
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from sqlalchemy import text

from server.app import Application
from server.config import Settings
from tests.support.backends import Backend
from tests.support.flows import (
    PASSWORD,
    auth,
    bearer,
    create_user,
    get_me,
    login,
    refresh,
    rpc_failure,
    signed_in_user,
    unique_email,
    users,
)
from tests.support.servers import serving, settings_for_test
from userservice.v1 import auth_pb2, user_pb2

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


async def test_sign_up_login_refresh_and_logout_end_the_session_everywhere(
    channel: grpc.aio.Channel,
) -> None:
    email = unique_email("flow")
    created = await users(channel).CreateUser(
        user_pb2.CreateUserRequest(email=email, password=PASSWORD, display_name="Flow")
    )
    first = await login(channel, email)

    me = await get_me(channel, first.access_token)
    assert (me.id, me.email, me.display_name) == (created.id, email, "Flow")
    assert first.token_type == "Bearer"

    second = await refresh(channel, first.refresh_token)
    assert second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token
    assert second.session_id == first.session_id
    assert (await get_me(channel, second.access_token)).id == created.id

    await auth(channel).Logout(auth_pb2.LogoutRequest(), metadata=bearer(second.access_token))

    for access_token in (first.access_token, second.access_token):
        error = await rpc_failure(get_me(channel, access_token))
        assert error.code is UNAUTHENTICATED
        assert error.error_info.reason == "TOKEN_REVOKED"
    for refresh_token in (second.refresh_token, first.refresh_token):
        error = await rpc_failure(refresh(channel, refresh_token))
        assert error.code is UNAUTHENTICATED


async def test_presenting_a_rotated_refresh_token_again_revokes_the_whole_session(
    channel: grpc.aio.Channel,
) -> None:
    first = (await signed_in_user(channel)).tokens
    second = await refresh(channel, first.refresh_token)

    reused = await rpc_failure(refresh(channel, first.refresh_token))

    assert reused.code is UNAUTHENTICATED
    assert reused.error_info.reason == "REFRESH_TOKEN_REUSED"
    # The rightful holder's current token dies with the thief's copy.
    assert (await rpc_failure(refresh(channel, second.refresh_token))).code is UNAUTHENTICATED
    for access_token in (first.access_token, second.access_token):
        error = await rpc_failure(get_me(channel, access_token))
        assert error.code is UNAUTHENTICATED
        assert error.error_info.reason == "TOKEN_REVOKED"


async def test_reuse_grace_accepts_the_previous_refresh_token_right_after_rotation(
    backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for_test(backend, tmp_path, refresh_reuse_grace_seconds=60)
    async with serving(settings) as (_, channel):
        grace = await signed_in_user(channel, "grace")
        pair_a = grace.tokens
        pair_b = await refresh(channel, pair_a.refresh_token)

        # A retried request whose first answer was lost: the previous token still works, and
        # answers with the same successor (the session keeps one chain).
        retried = await refresh(channel, pair_a.refresh_token)

        assert retried.session_id == pair_a.session_id
        assert retried.refresh_token == pair_b.refresh_token
        assert (await get_me(channel, retried.access_token)).id == grace.id


async def test_reuse_grace_does_not_cover_a_token_two_rotations_old(
    backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for_test(backend, tmp_path, refresh_reuse_grace_seconds=60)
    async with serving(settings) as (_, channel):
        pair_a = (await signed_in_user(channel, "grace")).tokens
        pair_b = await refresh(channel, pair_a.refresh_token)
        pair_c = await refresh(channel, pair_b.refresh_token)

        reused = await rpc_failure(refresh(channel, pair_a.refresh_token))

        assert reused.code is UNAUTHENTICATED
        assert reused.error_info.reason == "REFRESH_TOKEN_REUSED"
        revoked = await rpc_failure(get_me(channel, pair_c.access_token))
        assert revoked.error_info.reason == "TOKEN_REVOKED"


async def test_the_holder_validating_its_own_token_sees_it_active_with_its_subject(
    channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in_user(channel)
    pair = caller.tokens

    result = await auth(channel).ValidateToken(
        auth_pb2.ValidateTokenRequest(access_token=pair.access_token), metadata=caller.metadata
    )

    assert result.active is True
    assert result.user_id == caller.id
    assert result.session_id == pair.session_id
    assert result.role == user_pb2.User.ROLE_USER
    assert result.expire_time.seconds == pair.access_token_expire_time.seconds


async def test_validating_a_garbage_token_answers_inactive_rather_than_an_error(
    channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in_user(channel)

    result = await auth(channel).ValidateToken(
        auth_pb2.ValidateTokenRequest(access_token="not-a-jwt"), metadata=caller.metadata
    )

    assert result.active is False
    assert result.user_id == ""
    assert result.session_id == ""


async def test_a_user_may_not_validate_another_users_token(channel: grpc.aio.Channel) -> None:
    alice = await signed_in_user(channel, "alice")
    bob = await signed_in_user(channel, "bob")

    error = await rpc_failure(
        auth(channel).ValidateToken(
            auth_pb2.ValidateTokenRequest(access_token=bob.tokens.access_token),
            metadata=alice.metadata,
        )
    )

    assert error.code is PERMISSION_DENIED


async def test_jwks_publishes_the_ed25519_key_that_verifies_issued_tokens_locally(
    channel: grpc.aio.Channel, settings: Settings
) -> None:
    caller = await signed_in_user(channel)
    pair = caller.tokens

    jwks = await auth(channel).GetJwks(auth_pb2.GetJwksRequest())

    assert len(jwks.keys) >= 1
    for key in jwks.keys:
        assert (key.kty, key.crv, key.alg, key.use) == ("OKP", "Ed25519", "EdDSA", "sig")
    by_kid = {key.kid: key for key in jwks.keys}
    kid = jwt.get_unverified_header(pair.access_token)["kid"]
    assert kid in by_kid
    public = jwt.PyJWK(json_format.MessageToDict(by_kid[kid], preserving_proto_field_name=True))
    claims = jwt.decode(
        pair.access_token,
        public.key,
        algorithms=["EdDSA"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    assert (claims["sub"], claims["sid"]) == (caller.id, pair.session_id)


async def test_a_user_may_not_read_another_user(channel: grpc.aio.Channel) -> None:
    alice = await signed_in_user(channel, "alice")
    bob = await signed_in_user(channel, "bob")

    error = await rpc_failure(
        users(channel).GetUser(user_pb2.GetUserRequest(id=bob.id), metadata=alice.metadata)
    )

    assert error.code is PERMISSION_DENIED


async def test_reading_an_unknown_id_is_denied_rather_than_not_found(
    channel: grpc.aio.Channel,
) -> None:
    # NOT_FOUND would tell a user which ids exist.
    alice = await signed_in_user(channel, "alice")

    error = await rpc_failure(
        users(channel).GetUser(
            user_pb2.GetUserRequest(id=str(uuid.uuid4())), metadata=alice.metadata
        )
    )

    assert error.code is PERMISSION_DENIED


async def test_unknown_email_and_wrong_password_fail_login_indistinguishably(
    channel: grpc.aio.Channel,
) -> None:
    account = await create_user(channel)

    unknown = await rpc_failure(login(channel, unique_email("nobody"), PASSWORD))
    wrong = await rpc_failure(login(channel, account.email, PASSWORD + "-wrong"))

    assert unknown.code is wrong.code is UNAUTHENTICATED
    assert unknown.message == wrong.message
    assert unknown.error_info.reason == wrong.error_info.reason == "INVALID_CREDENTIALS"
    # Everything the client can read is equal, once the per-call request id is set aside.
    for error in (unknown, wrong):
        assert error.error_info.metadata["request_id"]
    assert without_request_id(unknown.status) == without_request_id(wrong.status)


async def test_a_disabled_user_cannot_log_in(channel: grpc.aio.Channel, app: Application) -> None:
    account = await create_user(channel)
    await login(channel, account.email)  # works while active
    async with app.engine.begin() as connection:
        await connection.execute(
            text("UPDATE users SET state = 'disabled' WHERE email = :email"),
            {"email": account.email},
        )

    error = await rpc_failure(login(channel, account.email))

    assert error.code is UNAUTHENTICATED
    assert error.error_info.reason == "USER_DISABLED"


def without_request_id(status: status_pb2.Status) -> bytes:
    """The status with the request id removed from its ErrorInfo, serialised for comparison."""
    copy = status_pb2.Status()
    copy.CopyFrom(status)
    for packed in copy.details:
        info = error_details_pb2.ErrorInfo()
        if packed.Unpack(info):
            del info.metadata["request_id"]
            packed.Pack(info)
    serialized: bytes = copy.SerializeToString(deterministic=True)
    return serialized
