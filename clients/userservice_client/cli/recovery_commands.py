"""The account-recovery commands: `password reset-request|reset`, `email verify|request`.

Codes reach the user through the deployment's notification service (which reads them from the
event stream with notifications:read); these commands only ask for one and use one.
"""

from __future__ import annotations

from userservice_client.cli.context import Context
from userservice_client.cli.outcomes import usage_error
from userservice_client.cli.prompts import NEW_PASSWORD_ENV, read_password


def reset_request(ctx: Context) -> int:
    """Asks for a password-reset code: by email (anyone), or by user id (an administrator)."""
    email, user_id = ctx.args.email or "", ctx.args.user_id or ""
    if bool(email) == bool(user_id):
        raise usage_error("give exactly one of --email and --user-id")
    ctx.client.request_password_reset(email, user_id=user_id)
    # The same words whether or not the address has an account: the service says no more.
    ctx.out.show(
        {"requested": True},
        "if the account exists, a reset code is on its way to its email address",
    )
    return 0


def reset(ctx: Context) -> int:
    """Sets a new password with a reset code; every session of the account ends."""
    new = read_password("New password: ", env=NEW_PASSWORD_ENV, confirm=True)
    ctx.client.reset_password(ctx.args.code, new)
    ctx.out.show({"reset": True}, "password set; every session of the account has ended")
    return 0


def verify(ctx: Context) -> int:
    """Verifies the address a code was sent to (a pending new email then takes effect)."""
    ctx.client.verify_email(ctx.args.code)
    ctx.out.show({"verified": True}, "email address verified")
    return 0


def request_verification(ctx: Context) -> int:
    """Sends a verification code to a user's pending or unverified address."""
    ctx.client.request_email_verification(ctx.args.user)
    ctx.out.show({"requested": True}, "a verification code is on its way")
    return 0


__all__ = ["request_verification", "reset", "reset_request", "verify"]
