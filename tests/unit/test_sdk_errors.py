"""error_from_rpc: the typed error for a failed call, with or without google.rpc details."""

from __future__ import annotations

import datetime as dt

import grpc
import grpc.aio
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from userservice_client import (
    FieldViolation,
    InvalidArgumentError,
    RateLimitedError,
    UnavailableError,
    UserServiceError,
    error_from_rpc,
)


def packed(message: object) -> any_pb2.Any:
    value = any_pb2.Any()
    value.Pack(message)  # type: ignore[arg-type]
    return value


def failed_call(code: grpc.StatusCode, message: str, *details: object) -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata()
    if details:
        status = status_pb2.Status(
            code=code.value[0], message=message, details=[packed(d) for d in details]
        )
        trailing = grpc.aio.Metadata(*rpc_status.to_status(status).trailing_metadata)
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, message, None)


def test_details_become_reason_request_id_violations_and_retry_delay() -> None:
    info = error_details_pb2.ErrorInfo(
        reason="WEAK_PASSWORD", domain="userservice", metadata={"request_id": "r-1"}
    )
    violation = error_details_pb2.BadRequest.FieldViolation(field="password", description="short")
    error = error_from_rpc(
        failed_call(
            grpc.StatusCode.INVALID_ARGUMENT,
            "password: short",
            info,
            error_details_pb2.BadRequest(field_violations=[violation]),
        )
    )
    assert isinstance(error, InvalidArgumentError)
    assert (error.reason, error.request_id, error.message) == (
        "WEAK_PASSWORD",
        "r-1",
        "password: short",
    )
    assert error.field_violations == (FieldViolation("password", "short"),)
    assert error.metadata == {"request_id": "r-1"}
    assert error.retry_delay is None


def test_retry_info_becomes_a_timedelta() -> None:
    info = error_details_pb2.ErrorInfo(reason="RATE_LIMITED", domain="userservice")
    retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=7))
    error = error_from_rpc(
        failed_call(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", info, retry)
    )
    assert isinstance(error, RateLimitedError)
    assert error.retry_delay == dt.timedelta(seconds=7)


def test_a_failure_without_details_still_gets_its_class() -> None:
    error = error_from_rpc(failed_call(grpc.StatusCode.UNAVAILABLE, "connection refused"))
    assert isinstance(error, UnavailableError)
    assert (error.reason, error.message, error.request_id) == (
        "UNAVAILABLE",
        "connection refused",
        "",
    )
    assert error.field_violations == ()


def test_a_bare_rpc_error_is_unknown() -> None:
    error = error_from_rpc(grpc.RpcError())
    assert type(error) is UserServiceError
    assert error.code is grpc.StatusCode.UNKNOWN
