"""Prints the README's table of error reasons from `Reason` and the status codes they are sent
with (server/rpc/status.py), so the README can neither miss a reason nor list one never sent."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc

from server.errors import Reason
from server.rpc.status import REASONS_BY_CODE

# What a reader needs beyond the name, keyed by (code, reason) where a reason has several codes.
NOTES: dict[tuple[grpc.StatusCode, Reason], str] = {
    (grpc.StatusCode.INVALID_ARGUMENT, Reason.INVALID_ARGUMENT): "a field violation",
    (grpc.StatusCode.INVALID_ARGUMENT, Reason.MALFORMED_REQUEST): (
        "bytes that do not parse, invalid UTF-8"
    ),
    (grpc.StatusCode.INVALID_ARGUMENT, Reason.INVALID_CREDENTIALS): (
        "the current password of ChangePassword, or of UpdateUser changing one's own email"
    ),
    (grpc.StatusCode.INVALID_ARGUMENT, Reason.CODE_INVALID): (
        "a one-time code unknown, used, expired or superseded"
    ),
    (grpc.StatusCode.FAILED_PRECONDITION, Reason.EMAIL_NOT_VERIFIED): (
        "Login, when the settings require a verified email; only after a correct password"
    ),
    (grpc.StatusCode.UNAUTHENTICATED, Reason.UNAUTHENTICATED): "generic",
    (grpc.StatusCode.PERMISSION_DENIED, Reason.NOT_ALLOWED): "another user's data",
    (grpc.StatusCode.PERMISSION_DENIED, Reason.SCOPE_NOT_GRANTED): "IssueServiceToken",
    (grpc.StatusCode.PERMISSION_DENIED, Reason.PERMISSION_DENIED): "generic",
    (grpc.StatusCode.NOT_FOUND, Reason.NOT_FOUND): "generic",
    (grpc.StatusCode.ALREADY_EXISTS, Reason.REQUEST_ID_REUSED): (
        "the request_id came with a different request"
    ),
    (grpc.StatusCode.PERMISSION_DENIED, Reason.ADMIN_REQUIRED): (
        "also: only an administrator acts on an administrator"
    ),
    (grpc.StatusCode.ALREADY_EXISTS, Reason.ALREADY_EXISTS): "generic",
    (grpc.StatusCode.RESOURCE_EXHAUSTED, Reason.RATE_LIMITED): "with RetryInfo",
    (grpc.StatusCode.RESOURCE_EXHAUSTED, Reason.TOO_MANY_STREAMS): (
        "a streaming call such as Health/Watch past `USERSERVICE_MAX_STREAMING_CALLS` or"
        " `USERSERVICE_MAX_STREAMING_CALLS_PER_PEER`; with RetryInfo"
    ),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, Reason.PASSWORD_HASHING_BUSY): (
        "Login, CreateUser, ChangePassword, UpdateUser (email): the password-hashing queue is"
        " full; with RetryInfo; not counted as an attempt"
    ),
    (grpc.StatusCode.UNAVAILABLE, Reason.DATABASE_UNAVAILABLE): (
        "retry later; nothing was half-written"
    ),
}

# Said once per code, after its reasons.
CODE_NOTES: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.RESOURCE_EXHAUSTED: (
        "also grpc's own, without ErrorInfo, past `USERSERVICE_MAX_CONCURRENT_RPCS` or the"
        " message or metadata size limits"
    ),
}


def rows() -> list[str]:
    listed = {(code, reason) for code, reasons in REASONS_BY_CODE for reason in reasons}
    unknown = set(NOTES) - listed
    if unknown:
        raise SystemExit(f"notes for reasons not in REASONS_BY_CODE: {sorted(unknown)}")
    lines = ["| code | reasons |", "| --- | --- |"]
    for code, reasons in REASONS_BY_CODE:
        cells = []
        for reason in reasons:
            note = NOTES.get((code, reason))
            cells.append(f"`{reason}` ({note})" if note else f"`{reason}`")
        row = ", ".join(cells)
        if code in CODE_NOTES:
            row = f"{row}; {CODE_NOTES[code]}"
        lines.append(f"| {code.name} | {row} |")
    return lines


if __name__ == "__main__":
    print("\n".join(rows()))
