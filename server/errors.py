"""The one hierarchy of expected failures, and the one list of the reasons they carry.

Services raise these; the call pipeline (server/rpc/status.py) turns each into a gRPC status with
`google.rpc.ErrorInfo` (domain "userservice", the stable `reason`) and, where they apply,
`BadRequest` field violations and `RetryInfo`. Anything that is not a `DomainError` is a bug.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar


class Reason(enum.StrEnum):
    """Every `ErrorInfo.reason` the server sends. Public API: a value never changes.

    The status code each is sent with is listed in server/rpc/status.py; the README's table of
    reasons is printed from both by scripts/reasons_table.py.
    """

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[str]) -> str:
        return name  # each value is its member's name: the wire spelling, in one place

    # INVALID_ARGUMENT
    INVALID_ARGUMENT = enum.auto()
    MALFORMED_REQUEST = enum.auto()
    PASSWORD_TOO_SHORT = enum.auto()
    PASSWORD_TOO_LONG = enum.auto()
    PASSWORD_TOO_COMMON = enum.auto()
    PASSWORD_IS_EMAIL = enum.auto()
    PASSWORD_TOO_PREDICTABLE = enum.auto()
    PASSWORD_INVALID_CHARACTER = enum.auto()
    INVALID_FILTER = enum.auto()
    INVALID_PAGE_TOKEN = enum.auto()
    INVALID_UPDATE_MASK = enum.auto()
    CODE_INVALID = enum.auto()
    # UNAUTHENTICATED (INVALID_CREDENTIALS also as INVALID_ARGUMENT, from ChangePassword)
    TOKEN_MISSING = enum.auto()
    TOKEN_INVALID = enum.auto()
    TOKEN_EXPIRED = enum.auto()
    TOKEN_REVOKED = enum.auto()
    INVALID_CREDENTIALS = enum.auto()
    USER_DISABLED = enum.auto()
    SERVICE_ACCOUNT_DISABLED = enum.auto()
    REFRESH_TOKEN_INVALID = enum.auto()
    REFRESH_TOKEN_EXPIRED = enum.auto()
    REFRESH_TOKEN_REUSED = enum.auto()
    UNAUTHENTICATED = enum.auto()
    # PERMISSION_DENIED
    NOT_ALLOWED = enum.auto()
    ADMIN_REQUIRED = enum.auto()
    FIELD_NOT_ALLOWED = enum.auto()
    USER_TOKEN_REQUIRED = enum.auto()
    SCOPE_NOT_GRANTED = enum.auto()
    PERMISSION_DENIED = enum.auto()
    # NOT_FOUND
    USER_NOT_FOUND = enum.auto()
    SESSION_NOT_FOUND = enum.auto()
    SERVICE_ACCOUNT_NOT_FOUND = enum.auto()
    NOT_FOUND = enum.auto()
    # ALREADY_EXISTS
    EMAIL_TAKEN = enum.auto()
    REQUEST_ID_REUSED = enum.auto()
    ALREADY_EXISTS = enum.auto()
    # FAILED_PRECONDITION
    EMAIL_NOT_VERIFIED = enum.auto()
    EMAIL_ALREADY_VERIFIED = enum.auto()
    # ABORTED
    ETAG_MISMATCH = enum.auto()
    CONCURRENT_CHANGE = enum.auto()
    # RESOURCE_EXHAUSTED, UNAVAILABLE, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL
    RATE_LIMITED = enum.auto()
    TOO_MANY_STREAMS = enum.auto()
    PASSWORD_HASHING_BUSY = enum.auto()
    DATABASE_UNAVAILABLE = enum.auto()
    DEADLINE_EXCEEDED = enum.auto()
    UNIMPLEMENTED = enum.auto()
    INTERNAL = enum.auto()


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """An expected failure the caller can act on; `reason` is part of the API and never changes.

    Raise a subclass: each names its status code's generic reason, and only subclasses have a
    status code.
    """

    default_reason: ClassVar[Reason]

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata: Mapping[str, str] = metadata or {}


class InvalidArgument(DomainError):
    default_reason = Reason.INVALID_ARGUMENT

    def __init__(
        self,
        message: str,
        violations: Iterable[FieldViolation] = (),
        *,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.violations = tuple(violations)

    @classmethod
    def for_field(
        cls, field: str, description: str, *, reason: str | None = None
    ) -> InvalidArgument:
        return cls(f"{field}: {description}", [FieldViolation(field, description)], reason=reason)


class Unauthenticated(DomainError):
    default_reason = Reason.UNAUTHENTICATED


class PermissionDenied(DomainError):
    default_reason = Reason.PERMISSION_DENIED


class NotFound(DomainError):
    default_reason = Reason.NOT_FOUND


class AlreadyExists(DomainError):
    default_reason = Reason.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    """The call is right but the state it acts on does not allow it (yet)."""

    default_reason = Reason.EMAIL_NOT_VERIFIED


class Aborted(DomainError):
    """A concurrent change won: re-read and try again (stale etag)."""

    default_reason = Reason.ETAG_MISMATCH


class RateLimited(DomainError):
    default_reason = Reason.RATE_LIMITED

    def __init__(self, message: str, *, retry_after_seconds: float, reason: str | None = None):
        super().__init__(message, reason=reason)
        self.retry_after_seconds = retry_after_seconds


class HashingBusy(RateLimited):
    """Too many password checks are queued (or this call's deadline would pass in the queue):
    refused before anything was counted, looked up or verified. Retry after the delay."""

    default_reason = Reason.PASSWORD_HASHING_BUSY


class Unavailable(DomainError):
    """A dependency is down and the call cannot be served safely; retrying later may work."""

    default_reason = Reason.DATABASE_UNAVAILABLE


class DeadlineExceeded(DomainError):
    default_reason = Reason.DEADLINE_EXCEEDED
