"""ChangePassword: the current password, the policy, and the sessions a change must end, on a
real server on each backend, observed as a client observes them (another call).
"""

from __future__ import annotations

import grpc
import grpc.aio

from tests.support.flows import PASSWORD, get_me, login, refresh, rpc_failure, signed_in_user
from tests.support.user_changes import (
    NEW_PASSWORD,
    assert_refused,
    change_password,
    violated_fields,
)

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


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
