"""`userservice-client`'s errors: one clear line per error reason, the JSON error document, and the
exit status each status code ends with."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import grpc
import pytest

from userservice_client import cli
from userservice_client.cli.messages import (
    SESSION_ENDED,
    describe_error,
    error_document,
    headline,
)
from userservice_client.cli.outcomes import ExitCode, exit_code_for
from userservice_client.errors import ERROR_CLASSES, FieldViolation, UserServiceError

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
ADDRESS = "userservice.internal:50051"
Code = grpc.StatusCode


def error(
    code: grpc.StatusCode,
    reason: str = "",
    message: str = "the server's words",
    **details: object,
) -> UserServiceError:
    cls = ERROR_CLASSES.get(code, UserServiceError)
    return cls(code, message, reason=reason, **details)  # type: ignore[arg-type]


def line(failure: UserServiceError) -> str:
    return headline(failure, address=ADDRESS, timeout=2.5)


# Error lines


# What the client says for each (code, reason).
REASON_LINES = [
    (Code.UNAUTHENTICATED, "INVALID_CREDENTIALS", "wrong email or password"),
    (Code.INVALID_ARGUMENT, "INVALID_CREDENTIALS", "the current password is wrong"),
    (Code.UNAUTHENTICATED, "TOKEN_EXPIRED", SESSION_ENDED),
    (Code.UNAUTHENTICATED, "TOKEN_REVOKED", SESSION_ENDED),
    (Code.UNAUTHENTICATED, "TOKEN_INVALID", SESSION_ENDED),
    (Code.UNAUTHENTICATED, "REFRESH_TOKEN_INVALID", SESSION_ENDED),
    (Code.UNAUTHENTICATED, "REFRESH_TOKEN_EXPIRED", SESSION_ENDED),
    (Code.UNAUTHENTICATED, "REFRESH_TOKEN_REUSED", SESSION_ENDED),
    (Code.UNAUTHENTICATED, "UNAUTHENTICATED", SESSION_ENDED),
    (Code.UNAUTHENTICATED, "TOKEN_MISSING", "not logged in; run `userservice-client login`"),
    (Code.UNAUTHENTICATED, "USER_DISABLED", "this account is disabled"),
    (Code.ALREADY_EXISTS, "EMAIL_TAKEN", "that email address is already taken"),
    (Code.ALREADY_EXISTS, "ALREADY_EXISTS", "that already exists"),
    (
        Code.PERMISSION_DENIED,
        "ADMIN_REQUIRED",
        "permission denied: this needs an administrator",
    ),
    (
        Code.PERMISSION_DENIED,
        "NOT_ALLOWED",
        "permission denied: you may act only on your own account",
    ),
    (
        Code.PERMISSION_DENIED,
        "FIELD_NOT_ALLOWED",
        "permission denied: only an administrator may change a role or a state",
    ),
    (
        Code.PERMISSION_DENIED,
        "USER_TOKEN_REQUIRED",
        "permission denied: this needs a user's login",
    ),
    (Code.PERMISSION_DENIED, "PERMISSION_DENIED", "permission denied"),
    (Code.NOT_FOUND, "USER_NOT_FOUND", "no such user"),
    (Code.NOT_FOUND, "SESSION_NOT_FOUND", "no such session"),
    (Code.NOT_FOUND, "NOT_FOUND", "not found"),
    (
        Code.ABORTED,
        "ETAG_MISMATCH",
        "the user changed since you read it (etag mismatch); read it again and retry",
    ),
    (Code.ABORTED, "CONCURRENT_CHANGE", "a concurrent change won; try again"),
    (Code.INVALID_ARGUMENT, "PASSWORD_TOO_SHORT", "the password is too short"),
    (Code.INVALID_ARGUMENT, "PASSWORD_TOO_LONG", "the password is too long"),
    (Code.INVALID_ARGUMENT, "PASSWORD_TOO_COMMON", "the password is too common"),
    (Code.INVALID_ARGUMENT, "PASSWORD_IS_EMAIL", "the password must not be the email address"),
    (
        Code.INVALID_ARGUMENT,
        "PASSWORD_INVALID_CHARACTER",
        "the password contains a character it may not contain",
    ),
    (Code.INVALID_ARGUMENT, "INVALID_FILTER", "the filter is not valid"),
    (
        Code.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
        "the page token does not belong to this query",
    ),
    (Code.INVALID_ARGUMENT, "INVALID_UPDATE_MASK", "those fields cannot be updated"),
    (
        Code.INVALID_ARGUMENT,
        "REQUEST_ID_REUSED",
        "that request id was already used for a different request",
    ),
    (Code.INVALID_ARGUMENT, "MALFORMED_REQUEST", "the server could not read the request"),
    (Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", "invalid input"),
    (Code.UNAVAILABLE, "", f"cannot reach userservice at {ADDRESS}"),
    (
        Code.UNAVAILABLE,
        "DATABASE_UNAVAILABLE",
        f"userservice at {ADDRESS} cannot reach its database; try again later",
    ),
    (
        Code.DEADLINE_EXCEEDED,
        "DEADLINE_EXCEEDED",
        f"userservice at {ADDRESS} did not answer within 2.5 s",
    ),
    (Code.RESOURCE_EXHAUSTED, "", f"userservice at {ADDRESS} is overloaded; try again later"),
    (Code.UNIMPLEMENTED, "UNIMPLEMENTED", "this userservice does not offer that call"),
    (Code.INTERNAL, "INTERNAL", "userservice failed with an internal error"),
]


@pytest.mark.parametrize(("code", "reason", "expected"), REASON_LINES)
def test_each_reason_has_its_own_line(code: grpc.StatusCode, reason: str, expected: str) -> None:
    assert line(error(code, reason)) == expected


def test_throttling_says_how_long_to_wait_rounded_up() -> None:
    limited = error(Code.RESOURCE_EXHAUSTED, "RATE_LIMITED", retry_delay=dt.timedelta(seconds=12.2))
    unknown = error(Code.RESOURCE_EXHAUSTED, "RATE_LIMITED")
    soon = error(Code.RESOURCE_EXHAUSTED, "RATE_LIMITED", retry_delay=dt.timedelta(0))

    assert line(limited) == "too many attempts; try again in 13 s"
    assert line(unknown) == "too many attempts; try again later"
    assert line(soon) == "too many attempts; try again in 1 s"


def test_an_internal_error_names_its_request_id_for_the_operators() -> None:
    failure = error(Code.INTERNAL, "INTERNAL", request_id="abc123")

    assert line(failure) == "userservice failed with an internal error (request id abc123)"


def test_a_reason_this_client_does_not_know_shows_the_servers_message_and_reason() -> None:
    assert line(error(Code.FAILED_PRECONDITION, "SOMETHING_NEW")) == (
        "the server's words (SOMETHING_NEW)"
    )


def test_every_reason_in_the_readme_error_table_has_words_of_its_own() -> None:
    table = README[README.index("| code | reasons |") :]
    table = table[: table.index("\n\n")]
    pairs = [
        (getattr(Code, row.group(1)), reason)
        for row in re.finditer(r"^\| ([A-Z_]+) \| (.*) \|$", table, re.MULTILINE)
        for reason in re.findall(r"`([A-Z_]+)`", row.group(2))
    ]

    assert len(pairs) > 30
    generic = [
        reason for code, reason in pairs if line(error(code, reason)).endswith(f"({reason})")
    ]
    assert generic == []


def test_each_bad_field_gets_its_own_indented_line() -> None:
    violations = [
        FieldViolation("email", "is not a valid email address"),
        FieldViolation("password", "must be at least 12 characters (has 5)"),
    ]
    failure = error(Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", field_violations=violations)

    assert describe_error(failure, address=ADDRESS, timeout=1) == [
        "invalid input",
        "  email: is not a valid email address",
        "  password: must be at least 12 characters (has 5)",
    ]


def test_the_json_error_has_code_reason_message_and_field_violations() -> None:
    violations = [FieldViolation("email", "is required")]
    failure = error(
        Code.INVALID_ARGUMENT, "INVALID_ARGUMENT", "email: is required", field_violations=violations
    )
    limited = error(
        Code.RESOURCE_EXHAUSTED,
        "RATE_LIMITED",
        request_id="r1",
        retry_delay=dt.timedelta(seconds=30),
    )

    assert error_document(failure) == {
        "code": "INVALID_ARGUMENT",
        "reason": "INVALID_ARGUMENT",
        "message": "email: is required",
        "field_violations": [{"field": "email", "description": "is required"}],
    }
    assert error_document(limited)["retry_delay_seconds"] == 30.0
    assert error_document(limited)["request_id"] == "r1"


# Exit statuses


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (Code.UNAUTHENTICATED, 3),
        (Code.PERMISSION_DENIED, 4),
        (Code.NOT_FOUND, 5),
        (Code.RESOURCE_EXHAUSTED, 6),
        (Code.UNAVAILABLE, 7),
        (Code.DEADLINE_EXCEEDED, 7),
        (Code.INVALID_ARGUMENT, 1),
        (Code.ALREADY_EXISTS, 1),
        (Code.ABORTED, 1),
        (Code.INTERNAL, 1),
        (Code.UNIMPLEMENTED, 1),
        (Code.UNKNOWN, 1),
    ],
)
def test_the_exit_status_follows_the_status_code(code: grpc.StatusCode, status: int) -> None:
    assert exit_code_for(error(code, "ANY")) == status


def test_every_exit_status_is_documented_in_the_module_and_the_readme() -> None:
    docstring = cli.__doc__ or ""
    for status in ExitCode:
        assert re.search(rf"^    {status.value}  \S", docstring, re.MULTILINE), status
        assert f"\n| {status.value} | " in README, status
