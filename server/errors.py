"""The one hierarchy of expected failures.

Services raise these; the error interceptor turns each into a gRPC status with
`google.rpc.ErrorInfo` (domain "userservice", the stable `reason`) and, where they apply,
`BadRequest` field violations and `RetryInfo`. Anything that is not a `DomainError` is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """An expected failure the caller can act on; `reason` is part of the API and never changes."""

    default_reason: ClassVar[str] = "ERROR"

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
    default_reason = "INVALID_ARGUMENT"

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
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    default_reason = "PERMISSION_DENIED"


class NotFound(DomainError):
    default_reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    default_reason = "ALREADY_EXISTS"


class Aborted(DomainError):
    """A concurrent change won: re-read and try again (stale etag)."""

    default_reason = "ETAG_MISMATCH"


class RateLimited(DomainError):
    default_reason = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after_seconds: float, reason: str | None = None):
        super().__init__(message, reason=reason)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(DomainError):
    """A dependency is down and the call cannot be served safely; retrying later may work."""

    default_reason = "DATABASE_UNAVAILABLE"


class DeadlineExceeded(DomainError):
    default_reason = "DEADLINE_EXCEEDED"
