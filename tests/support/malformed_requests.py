"""What the malformed-input tests (tests/integration/malformed_input/) share: a value over every
field's limit, the path of every RPC, the shape of a field violation, and a stub for raw bytes."""

from __future__ import annotations

import grpc
import grpc.aio
from google.rpc import error_details_pb2

from tests.support.rich_errors import RichError
from userservice.v1 import auth_pb2, service_account_pb2, user_pb2

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
HUGE = "x" * 100_000  # far over every field's limit, well under the 1 MiB message limit
ALL_METHODS = [
    (f"/{service.full_name}/{method.name}", method.input_type)
    for file in (user_pb2, auth_pb2, service_account_pb2)
    for service in file.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]


def assert_field_violation(error: RichError, field: str, reason: str = "INVALID_ARGUMENT") -> None:
    assert error.code is INVALID_ARGUMENT, (error.code, error.message)
    assert error.error_info.domain == "userservice"
    assert error.error_info.reason == reason
    bad_request = error.detail(error_details_pb2.BadRequest)
    assert bad_request is not None, error.status
    assert [v.field for v in bad_request.field_violations] == [field]
    assert all(v.description for v in bad_request.field_violations)


def raw_method(channel: grpc.aio.Channel, path: str) -> grpc.aio.UnaryUnaryMultiCallable:
    return channel.unary_unary(path, request_serializer=None, response_deserializer=None)
