"""Service-account tokens: what they carry and what their scopes let a service do (issue #8).

Each test that touches state runs on both backends. A service calls as a consumer would: it
obtains a token from IssueServiceToken and sends it as a bearer token.
"""

from __future__ import annotations

import datetime as dt

import grpc
import grpc.aio
import jwt
from google.protobuf import field_mask_pb2

from server.app import Application
from tests.support.flows import auth, bearer, rpc_failure, signed_in_admin, signed_in_user, users
from tests.support.service_accounts import (
    SA,
    accounts,
    assert_reason,
    create_account,
    issue,
    rename,
    service_token,
)
from userservice.v1 import auth_pb2, user_pb2


async def test_a_service_token_is_short_lived_has_no_refresh_token_and_no_user_role(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    made = await create_account(channel, admin, ["users:read", "tokens:validate"])
    before = dt.datetime.now(dt.UTC)
    pair = await issue(channel, made.service_account.client_id, made.client_secret)
    assert pair.refresh_token == ""
    assert pair.session_id == ""
    assert not pair.HasField("refresh_token_expire_time")
    lifetime = pair.access_token_expire_time.ToDatetime(dt.UTC) - before
    assert dt.timedelta(minutes=9) < lifetime <= dt.timedelta(minutes=10, seconds=1)
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    assert claims["sub"] == made.service_account.id
    assert claims["scope"].split() == ["tokens:validate", "users:read"]
    assert "role" not in claims
    assert "sid" not in claims


async def test_a_service_with_users_read_reads_any_user_and_cannot_update_one(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    someone = await signed_in_user(channel, "someone")
    _, token = await service_token(channel, admin, ["users:read"])
    read = await users(channel).GetUser(
        user_pb2.GetUserRequest(id=someone.id), metadata=bearer(token)
    )
    assert read.id == someone.id
    listed = await users(channel).ListUsers(user_pb2.ListUsersRequest(), metadata=bearer(token))
    assert someone.id in [u.id for u in listed.users]
    error = await rpc_failure(
        users(channel).UpdateUser(rename(someone.id, "Renamed"), metadata=bearer(token))
    )
    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    assert "lacks the scope users:write" in error.message  # not "your own account"


async def test_without_users_read_reading_a_user_is_denied(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    someone = await signed_in_user(channel, "someone")
    _, token = await service_token(channel, admin, ["sessions:revoke"])
    for call in (
        users(channel).GetUser(user_pb2.GetUserRequest(id=someone.id), metadata=bearer(token)),
        users(channel).ListUsers(user_pb2.ListUsersRequest(), metadata=bearer(token)),
    ):
        error = await rpc_failure(call)
        assert error.code is grpc.StatusCode.PERMISSION_DENIED
        assert "scope users:read" in error.message, error.message  # the one it lacks


async def test_a_service_token_never_passes_an_admin_only_check(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    someone = await signed_in_user(channel, "someone")
    every_scope = ["users:read", "users:write", "sessions:revoke", "tokens:validate"]
    _, token = await service_token(channel, admin, every_scope)
    # users:write renames anyone, but never changes a role.
    renamed = await users(channel).UpdateUser(rename(someone.id, "Renamed"), metadata=bearer(token))
    assert renamed.display_name == "Renamed"
    promote = user_pb2.UpdateUserRequest(
        user=user_pb2.User(id=someone.id, role=user_pb2.User.ROLE_ADMIN),
        update_mask=field_mask_pb2.FieldMask(paths=["role"]),
    )
    error = await rpc_failure(users(channel).UpdateUser(promote, metadata=bearer(token)))
    assert error.code is grpc.StatusCode.PERMISSION_DENIED
    stub = accounts(channel)
    for call in (
        stub.ListServiceAccounts(SA.ListServiceAccountsRequest(), metadata=bearer(token)),
        stub.CreateServiceAccount(
            SA.CreateServiceAccountRequest(display_name="x", scopes=every_scope),
            metadata=bearer(token),
        ),
    ):
        assert (await rpc_failure(call)).code is grpc.StatusCode.PERMISSION_DENIED
    # Without users:read, ListUsers is admin-only: a service token does not pass.
    _, narrow = await service_token(channel, admin, ["tokens:validate"])
    error = await rpc_failure(
        users(channel).ListUsers(user_pb2.ListUsersRequest(), metadata=bearer(narrow))
    )
    assert error.code is grpc.StatusCode.PERMISSION_DENIED


async def test_sessions_revoke_and_tokens_validate_act_on_any_user(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    someone = await signed_in_user(channel, "someone")
    _, token = await service_token(channel, admin, ["sessions:revoke", "tokens:validate"])
    listed = await auth(channel).ListSessions(
        auth_pb2.ListSessionsRequest(user_id=someone.id), metadata=bearer(token)
    )
    assert someone.tokens.session_id in [s.id for s in listed.sessions]
    validated = await auth(channel).ValidateToken(
        auth_pb2.ValidateTokenRequest(access_token=someone.tokens.access_token),
        metadata=bearer(token),
    )
    assert validated.active
    assert validated.user_id == someone.id


async def test_asking_for_a_scope_outside_the_account_set_is_denied(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    made = await create_account(channel, admin, ["users:read"])
    error = await rpc_failure(
        issue(channel, made.service_account.client_id, made.client_secret, ["users:write"])
    )
    assert_reason(error, grpc.StatusCode.PERMISSION_DENIED, "SCOPE_NOT_GRANTED")


async def test_asking_for_fewer_scopes_gives_a_token_with_only_those(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    someone = await signed_in_user(channel, "someone")
    made = await create_account(channel, admin, ["users:read", "tokens:validate"])
    pair = await issue(
        channel, made.service_account.client_id, made.client_secret, ["tokens:validate"]
    )
    own = await auth(channel).ValidateToken(
        auth_pb2.ValidateTokenRequest(access_token=pair.access_token),
        metadata=bearer(pair.access_token),
    )
    assert own.active
    assert list(own.scopes) == ["tokens:validate"]
    assert own.client_id == made.service_account.client_id
    assert own.user_id == ""
    error = await rpc_failure(
        users(channel).GetUser(
            user_pb2.GetUserRequest(id=someone.id), metadata=bearer(pair.access_token)
        )
    )
    assert error.code is grpc.StatusCode.PERMISSION_DENIED
