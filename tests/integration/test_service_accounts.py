"""Service accounts: client credentials, scoped tokens, and their revocation (issue #8).

Each test that touches state runs on both backends. A service calls as a consumer would: it
obtains a token from IssueServiceToken and sends it as a bearer token.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import grpc.aio
import jwt
from google.protobuf import field_mask_pb2

from server.app import Application
from server.repositories.models import ServiceAccountRow
from tests.support.backends import Backend
from tests.support.flows import (
    Caller,
    auth,
    bearer,
    first_refusal,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    users,
)
from tests.support.rich_errors import RichError
from tests.support.servers import serving, settings_for_test
from userservice.v1 import auth_pb2, service_account_pb2, service_account_pb2_grpc, user_pb2

SA = service_account_pb2
REVOCATION_DEADLINE_SECONDS = 1.0


def accounts(channel: grpc.aio.Channel) -> service_account_pb2_grpc.ServiceAccountServiceAsyncStub:
    return service_account_pb2_grpc.ServiceAccountServiceStub(channel)


async def create_account(
    channel: grpc.aio.Channel, admin: Caller, scopes: Sequence[str], name: str = "Billing"
) -> SA.CreateServiceAccountResponse:
    return await accounts(channel).CreateServiceAccount(
        SA.CreateServiceAccountRequest(display_name=name, scopes=list(scopes)),
        metadata=admin.metadata,
    )


async def issue(
    channel: grpc.aio.Channel, client_id: str, secret: str, scopes: Sequence[str] = ()
) -> auth_pb2.TokenPair:
    return await auth(channel).IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(
            client_id=client_id, client_secret=secret, scopes=list(scopes)
        )
    )


async def service_token(
    channel: grpc.aio.Channel, admin: Caller, scopes: Sequence[str]
) -> tuple[SA.CreateServiceAccountResponse, str]:
    made = await create_account(channel, admin, scopes)
    pair = await issue(channel, made.service_account.client_id, made.client_secret)
    return made, pair.access_token


def assert_reason(error: RichError, code: grpc.StatusCode, reason: str) -> None:
    assert (error.code, error.error_info.reason) == (code, reason), error


def answer(error: RichError) -> tuple[object, ...]:
    """Everything a failure tells the caller, but the request id (which every call has)."""
    info = error.error_info
    metadata = {k: v for k, v in info.metadata.items() if k != "request_id"}
    return (
        error.code,
        error.message,
        info.reason,
        info.domain,
        metadata,
        len(error.status.details),
    )


def rename(user_id: str, name: str) -> user_pb2.UpdateUserRequest:
    return user_pb2.UpdateUserRequest(
        user=user_pb2.User(id=user_id, display_name=name),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
    )


async def set_state(
    channel: grpc.aio.Channel, admin: Caller, account_id: str, state: int
) -> SA.ServiceAccount:
    return await accounts(channel).UpdateServiceAccount(
        SA.UpdateServiceAccountRequest(
            service_account=SA.ServiceAccount(id=account_id, state=state),  # type: ignore[arg-type]
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
        metadata=admin.metadata,
    )


# -- management ---------------------------------------------------------------------------


async def test_an_admin_creates_reads_lists_updates_and_deletes_service_accounts(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    made = await create_account(channel, admin, ["users:read"], name="Reporting")
    account = made.service_account
    assert account.client_id.startswith("svc_")
    assert len(made.client_secret) >= 43  # 256 bits, URL-safe
    assert list(account.scopes) == ["users:read"]
    assert account.state == SA.ServiceAccount.STATE_ACTIVE
    stub = accounts(channel)
    got = await stub.GetServiceAccount(
        SA.GetServiceAccountRequest(id=account.id), metadata=admin.metadata
    )
    assert got == account

    for name in ("Two", "Three"):
        await create_account(channel, admin, [], name=name)
    first = await stub.ListServiceAccounts(
        SA.ListServiceAccountsRequest(page_size=2), metadata=admin.metadata
    )
    assert len(first.service_accounts) == 2
    assert first.next_page_token
    rest = await stub.ListServiceAccounts(
        SA.ListServiceAccountsRequest(page_size=2, page_token=first.next_page_token),
        metadata=admin.metadata,
    )
    ids = [a.id for a in [*first.service_accounts, *rest.service_accounts]]
    assert len(ids) == len(set(ids)) == 3
    assert not rest.next_page_token

    updated = await stub.UpdateServiceAccount(
        SA.UpdateServiceAccountRequest(
            service_account=SA.ServiceAccount(
                id=account.id,
                display_name="Reports",
                scopes=["users:read", "tokens:validate"],
                etag=account.etag,
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name", "scopes"]),
        ),
        metadata=admin.metadata,
    )
    assert updated.display_name == "Reports"
    assert list(updated.scopes) == ["tokens:validate", "users:read"]
    stale = await rpc_failure(
        stub.DeleteServiceAccount(
            SA.DeleteServiceAccountRequest(id=account.id, etag=account.etag),
            metadata=admin.metadata,
        )
    )
    assert stale.code is grpc.StatusCode.ABORTED
    await stub.DeleteServiceAccount(
        SA.DeleteServiceAccountRequest(id=account.id, etag=updated.etag), metadata=admin.metadata
    )
    gone = await rpc_failure(
        stub.GetServiceAccount(SA.GetServiceAccountRequest(id=account.id), metadata=admin.metadata)
    )
    assert_reason(gone, grpc.StatusCode.NOT_FOUND, "SERVICE_ACCOUNT_NOT_FOUND")


async def test_an_unknown_scope_is_invalid(app: Application, channel: grpc.aio.Channel) -> None:
    admin = await signed_in_admin(app, channel)
    error = await rpc_failure(create_account(channel, admin, ["users:read", "root"]))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT


async def test_a_user_cannot_manage_service_accounts(
    app: Application, channel: grpc.aio.Channel
) -> None:
    user = await signed_in_user(channel)
    error = await rpc_failure(create_account(channel, user, ["users:read"]))
    assert error.code is grpc.StatusCode.PERMISSION_DENIED


# -- tokens and scopes ----------------------------------------------------------------------


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


# -- credentials ----------------------------------------------------------------------------


async def test_a_wrong_secret_and_an_unknown_client_id_answer_identically(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    made = await create_account(channel, admin, ["users:read"])
    wrong = await rpc_failure(issue(channel, made.service_account.client_id, "not-the-secret"))
    unknown = await rpc_failure(issue(channel, "svc_nobody", made.client_secret))
    assert_reason(wrong, grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS")
    assert answer(wrong) == answer(unknown)


async def test_only_failures_of_issue_service_token_are_throttled_per_client_id(
    backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for_test(backend, tmp_path, service_token_failures_per_client=3)
    async with serving(settings) as (app, channel):
        admin = await signed_in_admin(app, channel)
        made = await create_account(channel, admin, ["users:read"])
        client_id = made.service_account.client_id
        for _ in range(3):
            failed = await rpc_failure(issue(channel, client_id, "wrong"))
            assert failed.error_info.reason == "INVALID_CREDENTIALS"
        limited = await rpc_failure(issue(channel, client_id, "wrong"))
        assert_reason(limited, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
        # The right secret cannot be guessed: nobody can lock a service out by failing for it.
        assert (await issue(channel, client_id, made.client_secret)).access_token
        # An unknown client id is counted and throttled the same way.
        for _ in range(3):
            await rpc_failure(issue(channel, "svc_unknown", "wrong"))
        unknown = await rpc_failure(issue(channel, "svc_unknown", "wrong"))
        assert_reason(unknown, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")


async def test_failures_of_issue_service_token_share_the_per_ip_login_limit(
    backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for_test(backend, tmp_path, login_failures_per_ip=4)
    async with serving(settings) as (app, channel):
        admin = await signed_in_admin(app, channel)
        made = await create_account(channel, admin, ["users:read"])
        for n in range(4):
            await rpc_failure(issue(channel, f"svc_guess_{n}", "wrong"))
        client_id = made.service_account.client_id
        limited = await rpc_failure(issue(channel, client_id, "wrong"))
        assert_reason(limited, grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
        assert (await issue(channel, client_id, made.client_secret)).access_token


async def test_after_rotation_both_secrets_work_during_the_grace_period_then_only_the_new(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    made = await create_account(channel, admin, ["users:read"])
    account = made.service_account
    before = dt.datetime.now(dt.UTC)
    rotated = await accounts(channel).RotateServiceAccountSecret(
        SA.RotateServiceAccountSecretRequest(id=account.id), metadata=admin.metadata
    )
    assert rotated.client_secret != made.client_secret
    grace_ends = rotated.previous_secret_expire_time.ToDatetime(dt.UTC)
    assert grace_ends - before >= dt.timedelta(seconds=3599)
    for secret in (made.client_secret, rotated.client_secret):
        assert (await issue(channel, account.client_id, secret)).access_token

    # The grace period ends (moved into the past rather than waited for).
    async with app.services.db.transaction() as session:
        row = await session.get(ServiceAccountRow, uuid.UUID(account.id))
        assert row is not None
        row.previous_secret_expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    old = await rpc_failure(issue(channel, account.client_id, made.client_secret))
    assert_reason(old, grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS")
    assert (await issue(channel, account.client_id, rotated.client_secret)).access_token


# -- revocation -----------------------------------------------------------------------------


async def test_disabling_an_account_refuses_its_current_token_on_the_next_call(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    someone = await signed_in_user(channel, "someone")
    made, token = await service_token(channel, admin, ["users:read"])
    read = user_pb2.GetUserRequest(id=someone.id)
    assert (await users(channel).GetUser(read, metadata=bearer(token))).id == someone.id

    await set_state(channel, admin, made.service_account.id, SA.ServiceAccount.STATE_DISABLED)

    refused = await rpc_failure(users(channel).GetUser(read, metadata=bearer(token)))
    assert_reason(refused, grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")
    disabled = await rpc_failure(issue(channel, made.service_account.client_id, made.client_secret))
    assert_reason(disabled, grpc.StatusCode.UNAUTHENTICATED, "SERVICE_ACCOUNT_DISABLED")

    # Enabled again: the old token stays dead, new ones work at once.
    await set_state(channel, admin, made.service_account.id, SA.ServiceAccount.STATE_ACTIVE)
    again = await rpc_failure(users(channel).GetUser(read, metadata=bearer(token)))
    assert again.error_info.reason == "TOKEN_REVOKED"
    fresh = await issue(channel, made.service_account.client_id, made.client_secret)
    assert (await users(channel).GetUser(read, metadata=bearer(fresh.access_token))).id


async def test_deleting_an_account_refuses_its_tokens_and_credentials(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    someone = await signed_in_user(channel, "someone")
    made, token = await service_token(channel, admin, ["users:read"])
    await accounts(channel).DeleteServiceAccount(
        SA.DeleteServiceAccountRequest(id=made.service_account.id), metadata=admin.metadata
    )
    refused = await rpc_failure(
        users(channel).GetUser(user_pb2.GetUserRequest(id=someone.id), metadata=bearer(token))
    )
    assert_reason(refused, grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")
    gone = await rpc_failure(issue(channel, made.service_account.client_id, made.client_secret))
    assert_reason(gone, grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS")


async def test_an_account_disabled_on_one_replica_is_refused_by_another(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    # Two replicas share PostgreSQL, Redis and the signing keys, and nothing else.
    keys_dir = tmp_path / "keys"
    async with AsyncExitStack() as stack:
        (app_a, channel_a), (_, channel_b) = [
            await stack.enter_async_context(
                serving(settings_for_test(postgres_backend, tmp_path / name, keys_dir=keys_dir))
            )
            for name in ("a", "b")
        ]
        admin = await signed_in_admin(app_a, channel_a)
        made, token = await service_token(channel_a, admin, ["users:read"])
        # first_refusal calls GetUser("me"): a service token is refused or allowed there by
        # policy, so read a user by id to prove the token works on replica b first.
        someone = await signed_in_user(channel_a, "someone")
        read = user_pb2.GetUserRequest(id=someone.id)
        assert (await users(channel_b).GetUser(read, metadata=bearer(token))).id == someone.id

        await set_state(channel_a, admin, made.service_account.id, SA.ServiceAccount.STATE_DISABLED)

        refused = await rpc_failure(users(channel_b).GetUser(read, metadata=bearer(token)))
        assert_reason(refused, grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")
        error = await first_refusal(channel_b, token, within=REVOCATION_DEADLINE_SECONDS)
        assert error is not None
        assert error.error_info.reason == "TOKEN_REVOKED"
