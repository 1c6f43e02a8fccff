"""What a caller may do to accounts and sessions not its own (issue #13): only administrators act
on administrators, another user's session is answered as a random id, a request carries a
bounded number of scopes, and a request_id replays only the identical CreateUser.

A real server on both backends, called through the generated stubs.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable

import grpc
import grpc.aio
from google.protobuf import field_mask_pb2

from server.app import Application
from tests.support.flows import (
    PASSWORD,
    Caller,
    auth,
    bearer,
    login,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    unique_email,
    users,
)
from tests.support.rich_errors import RichError
from userservice.v1 import auth_pb2, service_account_pb2, service_account_pb2_grpc, user_pb2

SA = service_account_pb2
User = user_pb2.User


def accounts(channel: grpc.aio.Channel) -> service_account_pb2_grpc.ServiceAccountServiceAsyncStub:
    return service_account_pb2_grpc.ServiceAccountServiceStub(channel)


async def service_token(channel: grpc.aio.Channel, admin: Caller, *scopes: str) -> str:
    made = await accounts(channel).CreateServiceAccount(
        SA.CreateServiceAccountRequest(display_name="Robot", scopes=list(scopes)),
        metadata=admin.metadata,
    )
    pair = await auth(channel).IssueServiceToken(
        auth_pb2.IssueServiceTokenRequest(
            client_id=made.service_account.client_id, client_secret=made.client_secret
        )
    )
    return pair.access_token


def what_it_says(error: RichError) -> tuple[object, ...]:
    return (error.code, error.error_info.reason, error.message)


async def test_a_users_write_service_may_not_act_on_an_administrator(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    victim = await signed_in_admin(app, channel)
    service = bearer(await service_token(channel, admin, "users:write", "sessions:revoke"))

    def update(user: user_pb2.User, path: str) -> user_pb2.UpdateUserRequest:
        user.id = victim.id
        return user_pb2.UpdateUserRequest(
            user=user, update_mask=field_mask_pb2.FieldMask(paths=[path])
        )

    calls = [
        users(channel).UpdateUser(
            update(User(display_name="Owned"), "display_name"), metadata=service
        ),
        users(channel).UpdateUser(
            update(User(state=User.STATE_DISABLED), "state"), metadata=service
        ),
        users(channel).UpdateUser(
            update(User(email=unique_email("evil")), "email"), metadata=service
        ),
        users(channel).DeleteUser(user_pb2.DeleteUserRequest(id=victim.id), metadata=service),
        auth(channel).RevokeAllSessions(
            auth_pb2.RevokeAllSessionsRequest(user_id=victim.id), metadata=service
        ),
        auth(channel).RevokeSession(
            auth_pb2.RevokeSessionRequest(session_id=victim.tokens.session_id), metadata=service
        ),
    ]
    refusals = [await rpc_failure(call) for call in calls]

    assert {(r.code, r.error_info.reason) for r in refusals} == {
        (grpc.StatusCode.PERMISSION_DENIED, "ADMIN_REQUIRED")
    }
    me = await users(channel).GetUser(user_pb2.GetUserRequest(id="me"), metadata=victim.metadata)
    assert (me.state, me.email, me.display_name) == (
        User.STATE_ACTIVE,
        victim.account.email,
        "Admin",
    )
    # An ordinary user stays within the service's reach.
    someone = await signed_in_user(channel, "someone")
    disabled = await users(channel).UpdateUser(
        user_pb2.UpdateUserRequest(
            user=User(id=someone.id, state=User.STATE_DISABLED),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        ),
        metadata=service,
    )
    assert disabled.state == User.STATE_DISABLED


async def test_another_users_session_is_answered_exactly_as_a_random_id(
    channel: grpc.aio.Channel,
) -> None:
    alice = await signed_in_user(channel, "alice")
    bob = await signed_in_user(channel, "bob")

    def revoke(session_id: str) -> Awaitable[object]:
        return auth(channel).RevokeSession(
            auth_pb2.RevokeSessionRequest(session_id=session_id), metadata=bob.metadata
        )

    others = await rpc_failure(revoke(alice.tokens.session_id))
    random = await rpc_failure(revoke(str(uuid.uuid4())))

    assert what_it_says(others) == what_it_says(random)
    assert what_it_says(others)[:2] == (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND")
    me = await users(channel).GetUser(user_pb2.GetUserRequest(id="me"), metadata=alice.metadata)
    assert me.id == alice.id  # alice's session lives on


async def test_ten_thousand_scopes_are_refused_with_a_short_message(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    made = await accounts(channel).CreateServiceAccount(
        SA.CreateServiceAccountRequest(display_name="Billing", scopes=["users:read"]),
        metadata=admin.metadata,
    )
    scopes = [f"no-such-scope-{n}" for n in range(10_000)]
    calls = [
        auth(channel).IssueServiceToken(
            auth_pb2.IssueServiceTokenRequest(
                client_id=made.service_account.client_id,
                client_secret=made.client_secret,
                scopes=scopes,
            )
        ),
        accounts(channel).CreateServiceAccount(
            SA.CreateServiceAccountRequest(display_name="Many", scopes=scopes),
            metadata=admin.metadata,
        ),
        accounts(channel).UpdateServiceAccount(
            SA.UpdateServiceAccountRequest(
                service_account=SA.ServiceAccount(id=made.service_account.id, scopes=scopes),
                update_mask=field_mask_pb2.FieldMask(paths=["scopes"]),
            ),
            metadata=admin.metadata,
        ),
    ]
    for call in calls:
        refused = await rpc_failure(call)
        assert refused.code is grpc.StatusCode.INVALID_ARGUMENT
        assert len(refused.message) < 200, refused.message


async def test_a_request_id_replayed_with_another_password_is_refused(
    channel: grpc.aio.Channel,
) -> None:
    request = user_pb2.CreateUserRequest(
        email=unique_email("replay"),
        password=PASSWORD,
        display_name="First",
        request_id=str(uuid.uuid4()),
    )
    first = await users(channel).CreateUser(request)
    again = await users(channel).CreateUser(request)
    other = user_pb2.CreateUserRequest()
    other.CopyFrom(request)
    other.password = "another-entirely-different-passphrase"

    refused = await rpc_failure(users(channel).CreateUser(other))

    assert again == first
    assert (refused.code, refused.error_info.reason) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "REQUEST_ID_REUSED",
    )
    assert (await login(channel, request.email)).access_token
