"""UpdateUser, DeleteUser and ChangePassword: field masks, etags, who may change what, and the
sessions each change must end.

A real server on each backend; every effect is observed as a client observes it (another call),
except the user cache, which is read from the application's own Redis.
"""

from __future__ import annotations

import grpc
import grpc.aio
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2

from server.app import Application
from tests.support.flows import (
    PASSWORD,
    Caller,
    get_me,
    login,
    refresh,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    unique_email,
    users,
)
from tests.support.rich_errors import RichError
from userservice.v1 import user_pb2

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
ABORTED = grpc.StatusCode.ABORTED
NEW_PASSWORD = "amber-orchard-compass-93"
User = user_pb2.User


async def update(
    channel: grpc.aio.Channel,
    caller: Caller,
    user: user_pb2.User,
    *paths: str,
    current_password: str = "",
) -> user_pb2.User:
    return await users(channel).UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user,
            update_mask=field_mask_pb2.FieldMask(paths=paths),
            current_password=current_password,
        ),
        metadata=caller.metadata,
    )


async def get_user(channel: grpc.aio.Channel, caller: Caller, user_id: str) -> user_pb2.User:
    return await users(channel).GetUser(
        user_pb2.GetUserRequest(id=user_id), metadata=caller.metadata
    )


async def delete_user(
    channel: grpc.aio.Channel, caller: Caller, user_id: str, etag: str = ""
) -> None:
    await users(channel).DeleteUser(
        user_pb2.DeleteUserRequest(id=user_id, etag=etag), metadata=caller.metadata
    )


async def change_password(
    channel: grpc.aio.Channel, caller: Caller, current: str, new: str
) -> None:
    await users(channel).ChangePassword(
        user_pb2.ChangePasswordRequest(current_password=current, new_password=new),
        metadata=caller.metadata,
    )


def assert_refused(error: RichError, code: grpc.StatusCode, reason: str) -> None:
    assert (error.code, error.error_info.reason) == (code, reason), error.message


def violated_fields(error: RichError) -> list[str]:
    bad_request = error.detail(error_details_pb2.BadRequest)
    assert bad_request is not None, error.message
    return [v.field for v in bad_request.field_violations]


# -- UpdateUser -------------------------------------------------------------------------------


async def test_updating_display_name_changes_only_that_field_and_the_etag(
    channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in_user(channel)
    before = await get_me(channel, caller.tokens.access_token)

    # The other fields of the message are set too, and must be ignored: only the mask counts.
    after = await update(
        channel,
        caller,
        User(
            id="me",
            display_name="Renamed",
            email=unique_email("ignored"),
            role=User.ROLE_ADMIN,
            state=User.STATE_DISABLED,
        ),
        "display_name",
    )

    assert after.display_name == "Renamed"
    assert after.etag != before.etag
    assert after.update_time.ToDatetime() >= before.update_time.ToDatetime()
    unchanged = ("id", "email", "role", "state", "email_verified", "create_time")
    assert [getattr(after, f) for f in unchanged] == [getattr(before, f) for f in unchanged]
    assert await get_me(channel, caller.tokens.access_token) == after


async def test_an_update_with_a_stale_etag_is_aborted_and_changes_nothing(
    channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in_user(channel)
    stale = await get_me(channel, caller.tokens.access_token)
    current = await update(channel, caller, User(id="me", display_name="First"), "display_name")

    error = await rpc_failure(
        update(
            channel, caller, User(id="me", display_name="Second", etag=stale.etag), "display_name"
        )
    )

    assert_refused(error, ABORTED, "ETAG_MISMATCH")
    assert await get_me(channel, caller.tokens.access_token) == current
    # The current etag is accepted.
    fresh = User(id="me", display_name="Second", etag=current.etag)
    assert (await update(channel, caller, fresh, "display_name")).display_name == "Second"


async def test_unknown_read_only_and_missing_mask_paths_are_invalid(
    channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in_user(channel)
    before = await get_me(channel, caller.tokens.access_token)

    for paths in (("nickname",), ("id",), ("create_time",), ("display_name", "etag"), ()):
        error = await rpc_failure(
            update(channel, caller, User(id="me", display_name="Never"), *paths)
        )
        assert error.code is INVALID_ARGUMENT, paths
        assert set(violated_fields(error)) == {"update_mask"}, paths

    assert await get_me(channel, caller.tokens.access_token) == before


async def test_a_user_cannot_change_its_own_role_or_state(channel: grpc.aio.Channel) -> None:
    caller = await signed_in_user(channel)
    before = await get_me(channel, caller.tokens.access_token)

    role = await rpc_failure(update(channel, caller, User(id="me", role=User.ROLE_ADMIN), "role"))
    state = await rpc_failure(
        update(channel, caller, User(id="me", state=User.STATE_DISABLED), "state")
    )

    assert role.code is PERMISSION_DENIED
    assert state.code is PERMISSION_DENIED
    assert await get_me(channel, caller.tokens.access_token) == before


async def test_an_administrator_can_change_a_users_role_and_state(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    target = await signed_in_user(channel, "target")

    promoted = await update(channel, admin, User(id=target.id, role=User.ROLE_ADMIN), "role")
    disabled = await update(channel, admin, User(id=target.id, state=User.STATE_DISABLED), "state")

    assert promoted.role == User.ROLE_ADMIN
    assert (disabled.role, disabled.state) == (User.ROLE_ADMIN, User.STATE_DISABLED)
    assert await get_user(channel, admin, target.id) == disabled


async def test_an_email_change_is_normalised_and_a_taken_email_is_refused(
    app: Application, channel: grpc.aio.Channel
) -> None:
    # An administrator's change is immediate (one's own waits for its code: test_account_recovery)
    admin = await signed_in_admin(app, channel)
    caller = await signed_in_user(channel)
    other = await signed_in_user(channel, "other")
    before = await get_me(channel, caller.tokens.access_token)
    wanted = unique_email("moved")

    moved = await update(channel, admin, User(id=caller.id, email=f"  {wanted.upper()} "), "email")

    assert moved.email == wanted
    assert not moved.email_verified
    unchanged = ("id", "display_name", "role", "state", "create_time")
    assert [getattr(moved, f) for f in unchanged] == [getattr(before, f) for f in unchanged]
    assert (await login(channel, wanted)).access_token
    for who, password in ((caller, caller.account.password), (admin, "")):
        taken = await rpc_failure(
            update(
                channel,
                who,
                User(id=caller.id, email=other.account.email.upper()),
                "email",
                current_password=password,
            )
        )
        assert_refused(taken, grpc.StatusCode.ALREADY_EXISTS, "EMAIL_TAKEN")
    assert (await get_me(channel, caller.tokens.access_token)).email == wanted


async def test_a_user_cannot_update_another_user(channel: grpc.aio.Channel) -> None:
    alice = await signed_in_user(channel, "alice")
    bob = await signed_in_user(channel, "bob")
    before = await get_me(channel, bob.tokens.access_token)

    error = await rpc_failure(
        update(channel, alice, User(id=bob.id, display_name="Hijacked"), "display_name")
    )

    assert error.code is PERMISSION_DENIED
    assert await get_me(channel, bob.tokens.access_token) == before


async def test_disabling_a_user_revokes_its_tokens_and_refuses_its_logins(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    target = await signed_in_user(channel, "target")
    assert (await get_me(channel, target.tokens.access_token)).id == target.id

    await update(channel, admin, User(id=target.id, state=User.STATE_DISABLED), "state")

    revoked = await rpc_failure(get_me(channel, target.tokens.access_token))
    assert_refused(revoked, UNAUTHENTICATED, "TOKEN_REVOKED")
    assert (await rpc_failure(refresh(channel, target.tokens.refresh_token))).code is (
        UNAUTHENTICATED
    )
    disabled = await rpc_failure(login(channel, target.account.email))
    assert_refused(disabled, UNAUTHENTICATED, "USER_DISABLED")


async def test_a_role_change_revokes_the_users_sessions(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    target = await signed_in_user(channel, "target")

    await update(channel, admin, User(id=target.id, role=User.ROLE_ADMIN), "role")

    # The old token carries the old role, so it must die.
    revoked = await rpc_failure(get_me(channel, target.tokens.access_token))
    assert_refused(revoked, UNAUTHENTICATED, "TOKEN_REVOKED")
    promoted = await login(channel, target.account.email)
    listed = await users(channel).ListUsers(
        user_pb2.ListUsersRequest(),
        metadata=(("authorization", f"Bearer {promoted.access_token}"),),
    )
    assert target.id in {u.id for u in listed.users}


# -- DeleteUser -------------------------------------------------------------------------------


async def test_deleting_yourself_removes_the_user_its_sessions_and_its_cache_entry(
    app: Application, channel: grpc.aio.Channel
) -> None:
    caller = await signed_in_user(channel)
    cache_key = f"{app.settings.redis_key_prefix}user:{caller.id}"
    await get_me(channel, caller.tokens.access_token)  # warms the cache
    assert await app.redis.exists(cache_key) == 1

    await delete_user(channel, caller, "me")

    revoked = await rpc_failure(get_me(channel, caller.tokens.access_token))
    assert_refused(revoked, UNAUTHENTICATED, "TOKEN_REVOKED")
    gone = await rpc_failure(login(channel, caller.account.email))
    assert_refused(gone, UNAUTHENTICATED, "INVALID_CREDENTIALS")
    assert await app.redis.exists(cache_key) == 0


async def test_a_delete_with_a_stale_etag_is_aborted_and_deletes_nothing(
    channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in_user(channel)
    stale = await get_me(channel, caller.tokens.access_token)
    await update(channel, caller, User(id="me", display_name="Changed"), "display_name")

    error = await rpc_failure(delete_user(channel, caller, "me", etag=stale.etag))

    assert_refused(error, ABORTED, "ETAG_MISMATCH")
    assert (await get_me(channel, caller.tokens.access_token)).display_name == "Changed"
    assert (await login(channel, caller.account.email)).access_token


async def test_an_administrator_can_delete_another_user(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    target = await signed_in_user(channel, "target")
    current = await get_user(channel, admin, target.id)

    await delete_user(channel, admin, target.id, etag=current.etag)

    missing = await rpc_failure(get_user(channel, admin, target.id))
    assert_refused(missing, grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND")
    revoked = await rpc_failure(get_me(channel, target.tokens.access_token))
    assert_refused(revoked, UNAUTHENTICATED, "TOKEN_REVOKED")


async def test_a_deleted_users_token_stays_refused_after_redis_forgets_every_revocation(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin = await signed_in_admin(app, channel)
    target = await signed_in_admin(app, channel)
    await delete_user(channel, admin, target.id)
    # Redis restarts empty (or is flushed): the revocations must come back from the database.
    prefix = app.settings.redis_key_prefix
    forgotten = [key async for key in app.redis.scan_iter(match=f"{prefix}revoked:*")]
    assert forgotten
    await app.redis.delete(*forgotten)

    await app.services.revocations.resync()

    revoked = await rpc_failure(get_me(channel, target.tokens.access_token))
    assert_refused(revoked, UNAUTHENTICATED, "TOKEN_REVOKED")


async def test_a_user_cannot_delete_another_user(channel: grpc.aio.Channel) -> None:
    alice = await signed_in_user(channel, "alice")
    bob = await signed_in_user(channel, "bob")

    error = await rpc_failure(delete_user(channel, alice, bob.id))

    assert error.code is PERMISSION_DENIED
    assert (await get_me(channel, bob.tokens.access_token)).id == bob.id


# -- ChangePassword ---------------------------------------------------------------------------


async def test_a_wrong_current_password_is_refused(channel: grpc.aio.Channel) -> None:
    caller = await signed_in_user(channel)

    error = await rpc_failure(change_password(channel, caller, "not-the-password-1", NEW_PASSWORD))

    assert_refused(error, INVALID_ARGUMENT, "INVALID_CREDENTIALS")
    assert violated_fields(error) == ["current_password"]
    assert (await login(channel, caller.account.email, PASSWORD)).access_token


async def test_the_new_password_must_pass_the_policy(channel: grpc.aio.Channel) -> None:
    caller = await signed_in_user(channel)

    error = await rpc_failure(change_password(channel, caller, PASSWORD, "short"))

    assert_refused(error, INVALID_ARGUMENT, "PASSWORD_TOO_SHORT")
    assert violated_fields(error) == ["new_password"]
    assert (await login(channel, caller.account.email, PASSWORD)).access_token


async def test_changing_the_password_keeps_this_session_and_revokes_every_other(
    channel: grpc.aio.Channel,
) -> None:
    caller = await signed_in_user(channel)
    elsewhere = await login(channel, caller.account.email)

    await change_password(channel, caller, PASSWORD, NEW_PASSWORD)

    old = await rpc_failure(login(channel, caller.account.email, PASSWORD))
    assert_refused(old, UNAUTHENTICATED, "INVALID_CREDENTIALS")
    assert (await login(channel, caller.account.email, NEW_PASSWORD)).access_token
    assert (await get_me(channel, caller.tokens.access_token)).id == caller.id
    assert (await refresh(channel, caller.tokens.refresh_token)).session_id == (
        caller.tokens.session_id
    )
    revoked = await rpc_failure(get_me(channel, elsewhere.access_token))
    assert_refused(revoked, UNAUTHENTICATED, "TOKEN_REVOKED")
    dead = await rpc_failure(refresh(channel, elsewhere.refresh_token))
    assert dead.code is UNAUTHENTICATED
