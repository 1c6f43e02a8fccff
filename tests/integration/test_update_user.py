"""UpdateUser: field masks, etags, who may change what, and the sessions a change must end.

A real server on each backend; every effect is observed as a client observes it (another call),
except the user cache, which is read from the application's own Redis.
"""

from __future__ import annotations

import grpc
import grpc.aio

from server.app import Application
from tests.support.flows import (
    get_me,
    login,
    refresh,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    unique_email,
    users,
)
from tests.support.user_changes import assert_refused, get_user, update, violated_fields
from userservice.v1 import user_pb2

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
ABORTED = grpc.StatusCode.ABORTED
User = user_pb2.User


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
