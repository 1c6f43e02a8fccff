"""What a failed call means to a person (one line, plus the bad fields) and to a script (JSON).

The wording depends on the server's stable `reason`, never on its message text, so it does not
change when the server rewords a message; reasons this module does not know fall back to the
server's message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

import grpc

from userservice_client.cli.outcomes import CliError
from userservice_client.errors import UserServiceError

PROGRAM: Final = "userservice-client"
LOGIN_HINT: Final = f"run `{PROGRAM} login`"
SESSION_ENDED: Final = f"your session has ended; {LOGIN_HINT}"
NOT_LOGGED_IN: Final = f"not logged in; {LOGIN_HINT}"

# UNAUTHENTICATED reasons that mean "the saved login no longer works".
SESSION_ENDED_REASONS: Final = frozenset(
    {
        "TOKEN_EXPIRED",
        "TOKEN_REVOKED",
        "TOKEN_INVALID",
        "REFRESH_TOKEN_INVALID",
        "REFRESH_TOKEN_EXPIRED",
        "REFRESH_TOKEN_REUSED",
        "UNAUTHENTICATED",
    }
)

REASON_MESSAGES: Final[Mapping[str, str]] = {
    "TOKEN_MISSING": NOT_LOGGED_IN,
    "USER_DISABLED": "this account is disabled",
    "SERVICE_ACCOUNT_DISABLED": "this service account is disabled",
    "EMAIL_TAKEN": "that email address is already taken",
    "EMAIL_NOT_VERIFIED": "verify your email address first (userservice-client email verify)",
    "EMAIL_ALREADY_VERIFIED": "the email address is already verified",
    "CODE_INVALID": "the code is not valid: unknown, already used or expired",
    "ALREADY_EXISTS": "that already exists",
    "ADMIN_REQUIRED": "permission denied: this needs an administrator",
    "NOT_ALLOWED": "permission denied: you may act only on your own account",
    "SCOPE_NOT_GRANTED": "permission denied: the service account does not hold that scope",
    "FIELD_NOT_ALLOWED": "permission denied: only an administrator may change a role or a state",
    "USER_TOKEN_REQUIRED": "permission denied: this needs a user's login",
    "PERMISSION_DENIED": "permission denied",
    "USER_NOT_FOUND": "no such user",
    "SESSION_NOT_FOUND": "no such session",
    "SERVICE_ACCOUNT_NOT_FOUND": "no such service account",
    "NOT_FOUND": "not found",
    "ETAG_MISMATCH": "the user changed since you read it (etag mismatch); read it again and retry",
    "CONCURRENT_CHANGE": "a concurrent change won; try again",
    "PASSWORD_TOO_SHORT": "the password is too short",
    "PASSWORD_TOO_LONG": "the password is too long",
    "PASSWORD_TOO_COMMON": "the password is too common",
    "PASSWORD_IS_EMAIL": "the password must not be the email address",
    "PASSWORD_TOO_PREDICTABLE": "the password is too easy to guess",
    "PASSWORD_INVALID_CHARACTER": "the password contains a character it may not contain",
    "INVALID_FILTER": "the filter is not valid",
    "INVALID_PAGE_TOKEN": "the page token does not belong to this query",
    "INVALID_UPDATE_MASK": "those fields cannot be updated",
    "REQUEST_ID_REUSED": "that request id was already used for a different request",
    "MALFORMED_REQUEST": "the server could not read the request",
    "INVALID_ARGUMENT": "invalid input",
    "UNIMPLEMENTED": "this userservice does not offer that call",
}


def retry_hint(error: UserServiceError) -> str:
    """`try again in N s` from the error's RetryInfo (rounded up), or `try again later`."""
    if error.retry_delay is None:
        return "try again later"
    seconds = max(1, math.ceil(error.retry_delay.total_seconds()))
    return f"try again in {seconds} s"


def headline(error: UserServiceError, *, address: str, timeout: float) -> str:
    """The one line that says what went wrong, in words that suggest what to do."""
    code, reason = error.code, error.reason
    if reason == "INVALID_CREDENTIALS":
        if code == grpc.StatusCode.INVALID_ARGUMENT:  # ChangePassword's current password
            return "the current password is wrong"
        return "wrong email or password"
    if code == grpc.StatusCode.UNAUTHENTICATED and reason in SESSION_ENDED_REASONS:
        return SESSION_ENDED
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        if reason == "RATE_LIMITED":
            return f"too many attempts; {retry_hint(error)}"
        return f"userservice at {address} is overloaded; {retry_hint(error)}"
    if code == grpc.StatusCode.UNAVAILABLE:
        if reason == "DATABASE_UNAVAILABLE":
            return f"userservice at {address} cannot reach its database; try again later"
        return f"cannot reach userservice at {address}"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"userservice at {address} did not answer within {timeout:g} s"
    if code == grpc.StatusCode.INTERNAL:
        request = f" (request id {error.request_id})" if error.request_id else ""
        return f"userservice failed with an internal error{request}"
    known = REASON_MESSAGES.get(reason)
    if known is not None:
        return known
    return f"{error.message or code.name.lower()} ({reason})"


def describe_error(error: UserServiceError, *, address: str, timeout: float) -> list[str]:
    """The lines for stderr: the headline, then `  field: description` per bad field."""
    lines = [headline(error, address=address, timeout=timeout)]
    lines.extend(f"  {v.field}: {v.description}" for v in error.field_violations)
    return lines


def error_document(error: UserServiceError) -> dict[str, object]:
    """The `--json` form of a failed call: code, reason, message, field_violations (and more)."""
    document: dict[str, object] = {
        "code": error.code.name,
        "reason": error.reason,
        "message": error.message,
        "field_violations": [
            {"field": v.field, "description": v.description} for v in error.field_violations
        ],
    }
    if error.retry_delay is not None:
        document["retry_delay_seconds"] = error.retry_delay.total_seconds()
    if error.request_id:
        document["request_id"] = error.request_id
    return document


def local_error_document(error: CliError) -> dict[str, object]:
    """The `--json` form of a failure found locally, shaped like `error_document`."""
    return {
        "code": error.code,
        "reason": error.reason,
        "message": error.message,
        "field_violations": [],
    }


__all__ = [
    "LOGIN_HINT",
    "NOT_LOGGED_IN",
    "PROGRAM",
    "SESSION_ENDED",
    "describe_error",
    "error_document",
    "headline",
    "local_error_document",
    "retry_hint",
]
