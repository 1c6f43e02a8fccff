"""The event log (item 1 of issue 16): each write path appends its events with the actor,
target, client address and request id; refused logins are recorded on their own."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2

from server.app import Application
from server.domain import SYSTEM, Event, Party, PartyKind
from tests.support.events import events_after, last_id
from tests.support.flows import (
    PASSWORD,
    auth,
    login,
    logout,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    unique_email,
    users,
)
from userservice.v1 import auth_pb2, service_account_pb2_grpc, user_pb2
from userservice.v1 import service_account_pb2 as SA


def service_accounts(
    channel: grpc.aio.Channel,
) -> service_account_pb2_grpc.ServiceAccountServiceAsyncStub:
    return service_account_pb2_grpc.ServiceAccountServiceStub(channel)


REQUEST_ID = "req-events-0001"


def kinds(events: list[Event]) -> list[str]:
    return [event.type for event in events]


async def test_sign_up_login_update_and_delete_record_who_did_what(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    start = await last_id(app)
    email = unique_email("evt")
    created = await users(channel).CreateUser(
        user_pb2.CreateUserRequest(email=email, password=PASSWORD, display_name="E"),
        metadata=(("x-request-id", REQUEST_ID),),
    )
    tokens = await login(channel, email)
    await users(channel).UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(id=created.id, display_name="F", state=user_pb2.User.STATE_DISABLED),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name", "state"]),
        ),
        metadata=admin.metadata,
    )
    await users(channel).DeleteUser(
        user_pb2.DeleteUserRequest(id=created.id), metadata=admin.metadata
    )

    events = await events_after(app, start)
    assert kinds(events) == [
        "user.created",
        "session.created",
        "user.updated",
        "user.disabled",
        "session.revoked",
        "user.deleted",
    ]
    target = Party(PartyKind.USER, created.id)
    assert all(event.target == target for event in events)
    signup, session, updated, disabled, revoked, deleted = events
    assert signup.actor.kind is PartyKind.ANONYMOUS
    assert signup.request_id == REQUEST_ID
    assert signup.client_ip == "127.0.0.1"
    assert session.actor == target
    assert session.data == {"session_id": tokens.session_id}
    assert updated.data == {"fields": ["display_name"]}
    assert updated.actor == disabled.actor == deleted.actor == Party(PartyKind.USER, admin.id)
    assert revoked.data == {"session_id": tokens.session_id, "why": "disable"}
    assert [e.id for e in events] == sorted(e.id for e in events)


async def test_password_change_logout_and_refresh_reuse_say_why_sessions_ended(
    app: Application, channel: grpc.aio.Channel
) -> None:
    caller = await signed_in_user(channel, "why")
    other = await login(channel, caller.account.email)
    start = await last_id(app)
    await users(channel).ChangePassword(
        user_pb2.ChangePasswordRequest(current_password=PASSWORD, new_password=PASSWORD + "x"),
        metadata=caller.metadata,
    )
    await logout(channel, caller.tokens.access_token)
    third = await login(channel, caller.account.email, PASSWORD + "x")
    await auth(channel).RefreshToken(
        auth_pb2.RefreshTokenRequest(refresh_token=third.refresh_token)
    )
    await rpc_failure(
        auth(channel).RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=third.refresh_token))
    )

    events = await events_after(app, start)
    assert [(e.type, e.data.get("why"), e.data.get("session_id")) for e in events] == [
        ("password.changed", None, None),
        ("session.revoked", "password_change", other.session_id),
        ("session.revoked", "logout", caller.tokens.session_id),
        ("session.created", None, third.session_id),
        ("session.revoked", "reuse_detected", third.session_id),
    ]
    assert "password" not in str([e.data for e in events]).replace("password_change", "")


async def test_refused_logins_are_recorded_though_their_transaction_does_not_commit(
    app: Application, channel: grpc.aio.Channel
) -> None:
    caller = await signed_in_user(channel, "refused")
    start = await last_id(app)
    await rpc_failure(login(channel, caller.account.email, "not-the-password-at-all"))
    await rpc_failure(login(channel, unique_email("nobody")))
    events = await events_after(app, start)
    assert [(e.type, e.target, e.data) for e in events] == [
        ("login.failed", Party(PartyKind.USER, caller.id), {"why": "wrong_password"}),
        ("login.failed", None, {"why": "unknown_account"}),
    ]
    assert all(e.actor.kind is PartyKind.ANONYMOUS and e.client_ip for e in events)


async def test_a_throttled_login_is_recorded_once_per_window(
    app: Application, channel: grpc.aio.Channel
) -> None:
    caller = await signed_in_user(channel, "throttled")
    start = await last_id(app)
    budget = app.settings.login_failures_per_account_and_ip
    for _ in range(budget + 3):
        await rpc_failure(login(channel, caller.account.email, "wrong-wrong-wrong-wrong"))
    events = await events_after(app, start)
    assert kinds(events).count("login.failed") == budget
    throttled = [e for e in events if e.type == "login.throttled"]
    assert [(e.target, e.data) for e in throttled] == [
        (Party(PartyKind.USER, caller.id), {"why": "rate_limited"})
    ]


async def test_service_accounts_and_their_tokens_are_recorded(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    start = await last_id(app)
    made = await service_accounts(channel).CreateServiceAccount(
        SA.CreateServiceAccountRequest(display_name="Mailer", scopes=["users:read"]),
        metadata=admin.metadata,
    )
    await auth(channel).IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(
            client_id=made.service_account.client_id, client_secret=made.client_secret
        )
    )
    await service_accounts(channel).UpdateServiceAccount(
        SA.UpdateServiceAccountRequest(
            service_account=SA.ServiceAccount(
                id=made.service_account.id, state=SA.ServiceAccount.STATE_DISABLED
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
        metadata=admin.metadata,
    )
    events = await events_after(app, start)
    target = Party(PartyKind.SERVICE_ACCOUNT, made.service_account.id)
    assert [(e.type, e.target, e.data) for e in events] == [
        ("service_account.created", target, {"scopes": ["users:read"]}),
        ("service_token.issued", target, {"scopes": ["users:read"]}),
        ("service_account.disabled", target, {}),
    ]
    assert events[0].actor == events[2].actor == Party(PartyKind.USER, admin.id)
    assert events[1].actor == target


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_an_operator_made_admin_is_created_by_the_system(
    app: Application, channel: grpc.aio.Channel
) -> None:
    start = await last_id(app)
    admin = await signed_in_admin(app, channel)
    created = (await events_after(app, start))[0]
    assert (created.type, created.actor, created.target) == (
        "user.created",
        SYSTEM,
        Party.user(uuid.UUID(admin.id)),
    )
