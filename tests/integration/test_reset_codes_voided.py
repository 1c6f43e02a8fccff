"""A password-reset code stops working once it no longer matches the account (the second red team):
after a confirmed change of address (the code went to the old mailbox), once a newer code is
issued, and after the owner changes the password. On each backend, through the API."""

from __future__ import annotations

import grpc
import grpc.aio
from google.protobuf import field_mask_pb2

from server.app import Application
from tests.support.flows import (
    PASSWORD,
    Caller,
    auth,
    login,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    users,
)
from tests.support.recovery import VERIFY, last_cursor, next_code, notifier, reset_code
from userservice.v1 import auth_pb2, user_pb2

NEW_PASSWORD = "a different, longer passphrase"


async def reset_refusal(channel: grpc.aio.Channel, code: str) -> tuple[grpc.StatusCode, str]:
    refused = await rpc_failure(
        auth(channel).ResetPassword(
            auth_pb2.ResetPasswordRequest(code=code, new_password=NEW_PASSWORD)
        )
    )
    return refused.code, refused.error_info.reason


async def move_address(
    app: Application, channel: grpc.aio.Channel, who: Caller, admin: Caller
) -> str:
    """Changes `who`'s address and confirms it with the code sent there; the new address."""
    watcher, after = await notifier(channel, admin), await last_cursor(app)
    new_email = f"moved-{who.account.email}"
    await users(channel).UpdateUser(
        user_pb2.UpdateUserRequest(
            user=user_pb2.User(id="me", email=new_email),
            update_mask=field_mask_pb2.FieldMask(paths=["email"]),
            current_password=PASSWORD,
        ),
        metadata=who.metadata,
    )
    code = (await next_code(channel, watcher, after, VERIFY)).secret["code"]
    await users(channel).VerifyEmail(user_pb2.VerifyEmailRequest(code=code))
    return new_email


async def test_a_code_sent_to_the_old_address_is_void_after_a_confirmed_move(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin, frank = await signed_in_admin(app, channel), await signed_in_user(channel, "frank")
    old_mailbox_code = await reset_code(app, channel, frank, admin)

    new_email = await move_address(app, channel, frank, admin)

    assert await reset_refusal(channel, old_mailbox_code) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "CODE_INVALID",
    )
    await login(channel, new_email, PASSWORD)  # the password did not change


async def test_a_newer_code_supersedes_an_older_one(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin, grace = await signed_in_admin(app, channel), await signed_in_user(channel, "grace")
    older = await reset_code(app, channel, grace, admin)
    newer = await reset_code(app, channel, grace, admin)

    assert await reset_refusal(channel, older) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "CODE_INVALID",
    )
    await auth(channel).ResetPassword(
        auth_pb2.ResetPasswordRequest(code=newer, new_password=NEW_PASSWORD)
    )


async def test_a_code_is_void_once_the_owner_changes_the_password(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin, hal = await signed_in_admin(app, channel), await signed_in_user(channel, "hal")
    code = await reset_code(app, channel, hal, admin)

    await users(channel).ChangePassword(
        user_pb2.ChangePasswordRequest(
            current_password=PASSWORD, new_password="the owner's own new passphrase"
        ),
        metadata=hal.metadata,
    )

    assert await reset_refusal(channel, code) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "CODE_INVALID",
    )


async def test_a_too_long_new_password_is_refused_like_at_sign_up(
    app: Application, channel: grpc.aio.Channel
) -> None:
    admin, ivy = await signed_in_admin(app, channel), await signed_in_user(channel, "ivy")
    code = await reset_code(app, channel, ivy, admin)

    refused = await rpc_failure(
        auth(channel).ResetPassword(
            auth_pb2.ResetPasswordRequest(code=code, new_password="x" * 129)
        )
    )

    assert (refused.code, refused.error_info.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "PASSWORD_TOO_LONG",
    )
