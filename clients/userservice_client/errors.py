"""Typed errors: one exception class per gRPC status code, carrying the google.rpc details.

userservice puts a `google.rpc.Status` in the `grpc-status-details-bin` trailer of every failed
call: an `ErrorInfo` (domain "userservice", a stable UPPER_SNAKE `reason`, the request id in its
metadata), plus `BadRequest` field violations for bad input and `RetryInfo` when throttled.
`error_from_rpc` turns a failed call into the matching `UserServiceError` subclass; a failure
without details (a transport error, a client-side deadline) still gets its class, with the code's
name as `reason`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import grpc
import grpc.aio
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN: Final = "userservice"
DETAILS_HEADER: Final = "grpc-status-details-bin"
REQUEST_ID_HEADER: Final = "x-request-id"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad request field (`google.rpc.BadRequest.FieldViolation`)."""

    field: str
    description: str


class UserServiceError(Exception):
    """A call to userservice failed.

    Attributes:
        code: the gRPC status code.
        reason: the stable `ErrorInfo.reason` (EMAIL_TAKEN, TOKEN_EXPIRED, ...); the code's name
            when the server sent no details.
        message: the human-readable status message.
        request_id: the request id the server logged the call under ("" when unknown).
        field_violations: which request fields were wrong (INVALID_ARGUMENT).
        retry_delay: how long to wait before trying again (RESOURCE_EXHAUSTED), else None.
        metadata: the `ErrorInfo.metadata` map.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        request_id: str = "",
        field_violations: Iterable[FieldViolation] = (),
        retry_delay: dt.timedelta | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        label = code.name if reason in ("", code.name) else f"{code.name} ({reason})"
        super().__init__(f"{label}: {message}")
        self.code = code
        self.reason = reason or code.name
        self.message = message
        self.request_id = request_id
        self.field_violations: tuple[FieldViolation, ...] = tuple(field_violations)
        self.retry_delay = retry_delay
        self.metadata: Mapping[str, str] = dict(metadata or {})


class InvalidArgumentError(UserServiceError):
    """INVALID_ARGUMENT: the request was wrong; see `field_violations`."""


class UnauthenticatedError(UserServiceError):
    """UNAUTHENTICATED: no valid credentials (reasons such as TOKEN_EXPIRED, TOKEN_REVOKED)."""


class PermissionDeniedError(UserServiceError):
    """PERMISSION_DENIED: authenticated, but not allowed to do this."""


class NotFoundError(UserServiceError):
    """NOT_FOUND: the named user or session does not exist."""


class AlreadyExistsError(UserServiceError):
    """ALREADY_EXISTS: e.g. reason EMAIL_TAKEN."""


class FailedPreconditionError(UserServiceError):
    """FAILED_PRECONDITION: the state does not allow it yet (EMAIL_NOT_VERIFIED at Login)."""


class AbortedError(UserServiceError):
    """ABORTED: a concurrent change won (reason ETAG_MISMATCH); re-read and try again."""


class RateLimitedError(UserServiceError):
    """RESOURCE_EXHAUSTED: throttled (RATE_LIMITED) or the server's password hashing is busy
    (PASSWORD_HASHING_BUSY); wait `retry_delay` before trying again."""


class UnavailableError(UserServiceError):
    """UNAVAILABLE: the service or one of its dependencies is down; retrying later may work."""


class DeadlineExceededError(UserServiceError):
    """DEADLINE_EXCEEDED: the call did not finish within its deadline."""


class InternalError(UserServiceError):
    """INTERNAL: a bug on the server (the message never says more)."""


class UnimplementedError(UserServiceError):
    """UNIMPLEMENTED: the server does not offer this method (yet)."""


ERROR_CLASSES: Final[Mapping[grpc.StatusCode, type[UserServiceError]]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: AbortedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimitedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
}


def _metadata_value(entries: Iterable[Any], key: str) -> str | bytes | None:
    for entry_key, value in entries:
        if entry_key == key and isinstance(value, str | bytes):
            return value
    return None


def _trailers(exc: grpc.RpcError) -> list[Any]:
    # A bare grpc.RpcError (not also a grpc.Call) carries no metadata at all.
    trailing = getattr(exc, "trailing_metadata", None)
    return list(trailing() or ()) if callable(trailing) else []


def _status_details(trailers: list[Any]) -> Any | None:
    raw = _metadata_value(trailers, DETAILS_HEADER)
    if not isinstance(raw, bytes):
        return None
    try:
        return status_pb2.Status.FromString(raw)
    except DecodeError:  # undecodable details are treated as absent
        return None


def _unpack(status: Any, kind: Any) -> list[Any]:
    found = []
    for packed in status.details:
        message = kind()
        if packed.Unpack(message):
            found.append(message)
    return found


def _code_of(exc: grpc.RpcError) -> grpc.StatusCode:
    code = getattr(exc, "code", None)
    value = code() if callable(code) else None
    return value if isinstance(value, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


def error_from_rpc(exc: grpc.aio.AioRpcError | grpc.RpcError) -> UserServiceError:
    """The typed error for a failed call, with the google.rpc details decoded when present."""
    code = _code_of(exc)
    details = getattr(exc, "details", None)
    message = str((details() if callable(details) else None) or "")
    trailers = _trailers(exc)
    header_id = _metadata_value(trailers, REQUEST_ID_HEADER)
    cls = ERROR_CLASSES.get(code, UserServiceError)
    status = _status_details(trailers)
    if status is None:
        return cls(code, message, request_id=header_id if isinstance(header_id, str) else "")
    infos = _unpack(status, error_details_pb2.ErrorInfo)
    info = next((i for i in infos if i.domain == ERROR_DOMAIN), infos[0] if infos else None)
    metadata = {str(k): str(v) for k, v in info.metadata.items()} if info is not None else {}
    violations = [
        FieldViolation(str(v.field), str(v.description))
        for bad_request in _unpack(status, error_details_pb2.BadRequest)
        for v in bad_request.field_violations
    ]
    retry_infos = _unpack(status, error_details_pb2.RetryInfo)
    retry_delay = retry_infos[0].retry_delay.ToTimedelta() if retry_infos else None
    request_id = metadata.get("request_id") or (header_id if isinstance(header_id, str) else "")
    return cls(
        code,
        str(status.message) or message,
        reason=str(info.reason) if info is not None else "",
        request_id=request_id,
        field_violations=violations,
        retry_delay=retry_delay if isinstance(retry_delay, dt.timedelta) else None,
        metadata=metadata,
    )


__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UserServiceError",
    "error_from_rpc",
]
