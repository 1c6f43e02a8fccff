"""DomainError → gRPC status with google.rpc details; anything else → INTERNAL, logged once.

Also turns a request that cannot be parsed (bad wire format, invalid UTF-8 in a string field)
into INVALID_ARGUMENT: grpc.aio would otherwise answer it with an unhelpful UNKNOWN.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final, NoReturn

import grpc
import grpc.aio
import structlog
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from server import errors
from server.errors import Reason
from server.rpc.call_context import ServicerContext, request_id_var
from server.rpc.handlers import CallInfo, Handler

ERROR_DOMAIN: Final = "userservice"
INTERNAL_MESSAGE: Final = "internal error"
# What an error may echo back is bounded: messages quote caller input (20,000 unknown scopes once
# made an 840 KB grpc-message), and the message and details travel in HTTP/2 trailers.
MAX_MESSAGE_CHARS: Final = 1024
MAX_DESCRIPTION_CHARS: Final = 256
MAX_FIELD_VIOLATIONS: Final = 20

# The one table from error class to status code (most specific class first).
STATUS_BY_ERROR: Final[tuple[tuple[type[errors.DomainError], grpc.StatusCode], ...]] = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Aborted, grpc.StatusCode.ABORTED),
    (errors.RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
)

# Every public reason under the status code(s) it is sent with, in the README's order (the
# README's table is printed from this). A reason is listed under each code it can arrive with.
REASONS_BY_CODE: Final[tuple[tuple[grpc.StatusCode, tuple[Reason, ...]], ...]] = (
    (
        grpc.StatusCode.INVALID_ARGUMENT,
        (
            Reason.INVALID_ARGUMENT,
            Reason.MALFORMED_REQUEST,
            Reason.PASSWORD_TOO_SHORT,
            Reason.PASSWORD_TOO_LONG,
            Reason.PASSWORD_TOO_COMMON,
            Reason.PASSWORD_IS_EMAIL,
            Reason.PASSWORD_TOO_PREDICTABLE,
            Reason.PASSWORD_INVALID_CHARACTER,
            Reason.INVALID_FILTER,
            Reason.INVALID_PAGE_TOKEN,
            Reason.INVALID_UPDATE_MASK,
            Reason.CODE_INVALID,
            Reason.INVALID_CREDENTIALS,
        ),
    ),
    (
        grpc.StatusCode.UNAUTHENTICATED,
        (
            Reason.TOKEN_MISSING,
            Reason.TOKEN_INVALID,
            Reason.TOKEN_EXPIRED,
            Reason.TOKEN_REVOKED,
            Reason.INVALID_CREDENTIALS,
            Reason.USER_DISABLED,
            Reason.SERVICE_ACCOUNT_DISABLED,
            Reason.REFRESH_TOKEN_INVALID,
            Reason.REFRESH_TOKEN_EXPIRED,
            Reason.REFRESH_TOKEN_REUSED,
            Reason.UNAUTHENTICATED,
        ),
    ),
    (
        grpc.StatusCode.PERMISSION_DENIED,
        (
            Reason.NOT_ALLOWED,
            Reason.ADMIN_REQUIRED,
            Reason.FIELD_NOT_ALLOWED,
            Reason.USER_TOKEN_REQUIRED,
            Reason.SCOPE_NOT_GRANTED,
            Reason.PERMISSION_DENIED,
        ),
    ),
    (
        grpc.StatusCode.NOT_FOUND,
        (
            Reason.USER_NOT_FOUND,
            Reason.SESSION_NOT_FOUND,
            Reason.SERVICE_ACCOUNT_NOT_FOUND,
            Reason.NOT_FOUND,
        ),
    ),
    (
        grpc.StatusCode.ALREADY_EXISTS,
        (Reason.EMAIL_TAKEN, Reason.REQUEST_ID_REUSED, Reason.ALREADY_EXISTS),
    ),
    (
        grpc.StatusCode.FAILED_PRECONDITION,
        (Reason.EMAIL_NOT_VERIFIED, Reason.EMAIL_ALREADY_VERIFIED),
    ),
    (grpc.StatusCode.ABORTED, (Reason.ETAG_MISMATCH, Reason.CONCURRENT_CHANGE)),
    (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        (Reason.RATE_LIMITED, Reason.TOO_MANY_STREAMS, Reason.PASSWORD_HASHING_BUSY),
    ),
    (grpc.StatusCode.UNAVAILABLE, (Reason.DATABASE_UNAVAILABLE,)),
    (grpc.StatusCode.DEADLINE_EXCEEDED, (Reason.DEADLINE_EXCEEDED,)),
    (grpc.StatusCode.UNIMPLEMENTED, (Reason.UNIMPLEMENTED,)),
    (grpc.StatusCode.INTERNAL, (Reason.INTERNAL,)),
)


class _Unparsable:
    """Stands in for a request whose bytes did not parse."""


UNPARSABLE: Final = _Unparsable()


def status_code_of(error: errors.DomainError) -> grpc.StatusCode:
    for cls, code in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return code
    return grpc.StatusCode.UNKNOWN


def _packed(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def capped(text: str, limit: int) -> str:
    """`text`, or its first `limit` code points ending in an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def rich_status(
    code: grpc.StatusCode, message: str, reason: str, *, error: errors.DomainError | None = None
) -> grpc.Status:
    message = capped(message, MAX_MESSAGE_CHARS)
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)
    if error is not None:
        info.metadata.update(error.metadata)
    if request_id := request_id_var.get():
        info.metadata["request_id"] = request_id
    details = [_packed(info)]
    if isinstance(error, errors.InvalidArgument) and error.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=capped(v.field, MAX_DESCRIPTION_CHARS),
                    description=capped(v.description, MAX_DESCRIPTION_CHARS),
                )
                for v in error.violations[:MAX_FIELD_VIOLATIONS]
            ]
        )
        details.append(_packed(bad_request))
    if isinstance(error, errors.RateLimited):
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(max(1, round(error.retry_after_seconds * 1000)))
        details.append(_packed(error_details_pb2.RetryInfo(retry_delay=delay)))
    status: grpc.Status = rpc_status.to_status(
        status_pb2.Status(code=code.value[0], message=message, details=details)
    )
    return status


async def abort_with(context: ServicerContext, status: grpc.Status) -> NoReturn:
    # Trailers given to abort() replace those set before, so the request id goes along again.
    trailers = tuple(status.trailing_metadata)
    if request_id := request_id_var.get():
        trailers += (("x-request-id", request_id),)
    await context.abort(status.code, status.details, trailers)
    raise AssertionError("unreachable: abort() raises")  # pragma: no cover


def _tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # noqa: BLE001 - any parse failure is the caller's bad input
            return UNPARSABLE

    return deserialize


def tolerant_request_deserializer(handler: Handler) -> Handler:
    """`handler` with a deserializer that yields UNPARSABLE instead of raising."""
    if handler.request_streaming or handler.request_deserializer is None:
        return handler
    return handler._replace(  # type: ignore[attr-defined,no-any-return]
        request_deserializer=_tolerant(handler.request_deserializer)
    )


def malformed_request() -> grpc.Status:
    message = "the request message could not be parsed (wire format or invalid UTF-8)"
    return rich_status(grpc.StatusCode.INVALID_ARGUMENT, message, Reason.MALFORMED_REQUEST)


def answer_for(
    error: BaseException, call: CallInfo, log: structlog.typing.FilteringBoundLogger
) -> tuple[grpc.StatusCode, grpc.Status | None]:
    """The status a call that raised `error` ends with, and the status to abort with (None when
    the error must propagate as it is: grpc's own abort, cancellation, interpreter exits)."""
    if isinstance(error, errors.DomainError):
        code = status_code_of(error)
        return code, rich_status(code, error.message, error.reason, error=error)
    if isinstance(error, NotImplementedError):
        message = f"{call.method} is not implemented yet"
        code = grpc.StatusCode.UNIMPLEMENTED
        return code, rich_status(code, message, Reason.UNIMPLEMENTED)
    if isinstance(error, (grpc.aio.AbortError, asyncio.CancelledError, GeneratorExit)):
        return grpc.StatusCode.UNKNOWN, None  # the final code is read from the context
    if isinstance(error, Exception):
        # A bug: logged once, here, with its traceback; the caller learns nothing of it.
        log.error("unhandled error", method=call.full_method, exc_info=error)
        code = grpc.StatusCode.INTERNAL
        return code, rich_status(code, INTERNAL_MESSAGE, Reason.INTERNAL)
    return grpc.StatusCode.UNKNOWN, None
