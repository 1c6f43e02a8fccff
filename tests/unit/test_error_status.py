"""What an error echoes to the caller is bounded: the status message, each field violation, and
their number."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2

from server.errors import FieldViolation, InvalidArgument, NotFound
from server.rpc.status import (
    MAX_DESCRIPTION_CHARS,
    MAX_FIELD_VIOLATIONS,
    MAX_MESSAGE_CHARS,
    rich_status,
)


def decoded(status: grpc.Status) -> status_pb2.Status:
    [details] = [
        value for key, value in status.trailing_metadata if key == "grpc-status-details-bin"
    ]
    return status_pb2.Status.FromString(details)


def bad_request(status: status_pb2.Status) -> error_details_pb2.BadRequest:
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            unpacked = error_details_pb2.BadRequest()
            detail.Unpack(unpacked)
            return unpacked
    raise AssertionError("no BadRequest detail")


def test_an_unbounded_message_and_its_violations_are_capped() -> None:
    scopes = [f"unknown-scope-{i}" for i in range(20_000)]
    error = InvalidArgument(
        f"unknown scopes: {', '.join(scopes)}",
        [FieldViolation(f"scopes[{i}]" + "x" * 5000, "unknown " * 1000) for i in range(500)],
    )

    status = rich_status(grpc.StatusCode.INVALID_ARGUMENT, error.message, error.reason, error=error)
    violations = bad_request(decoded(status)).field_violations

    assert len(status.details) == MAX_MESSAGE_CHARS
    assert status.details.endswith("\u2026")
    assert decoded(status).message == status.details
    assert len(violations) == MAX_FIELD_VIOLATIONS
    assert all(len(v.description) == MAX_DESCRIPTION_CHARS for v in violations)
    assert all(len(v.field) <= MAX_DESCRIPTION_CHARS for v in violations)
    assert len(decoded(status).SerializeToString()) < 16 * 1024


def test_a_message_within_the_bound_is_kept_whole() -> None:
    message = "m" * MAX_MESSAGE_CHARS
    status = rich_status(grpc.StatusCode.NOT_FOUND, message, "NOT_FOUND", error=NotFound(message))

    assert status.details == message
