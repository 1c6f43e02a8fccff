"""A field the protos mark REQUIRED (AIP-203) is required by the server: a request that leaves
every field empty is refused with INVALID_ARGUMENT, its BadRequest naming a required field.

Sent as an administrator, so that no method refuses for want of permission first.
"""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from google.api import field_behavior_pb2
from google.protobuf.descriptor import MethodDescriptor
from google.rpc import error_details_pb2

from server.app import Application
from tests.support.flows import rpc_failure, signed_in_admin
from tests.support.protos import behavior, methods


def required(method: MethodDescriptor) -> set[str]:
    return {
        field.name
        for field in method.input_type.fields
        if field_behavior_pb2.REQUIRED in behavior(field)
    }


WITH_REQUIRED = [method for method in methods() if required(method)]


def path_of(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def test_some_methods_have_required_fields() -> None:
    assert {"GetUser", "Login", "UpdateServiceAccount"} <= {m.name for m in WITH_REQUIRED}


@pytest.mark.parametrize("method", WITH_REQUIRED, ids=lambda m: m.name)
async def test_an_empty_request_is_refused_naming_a_required_field(
    app: Application, channel: grpc.aio.Channel, method: MethodDescriptor
) -> None:
    admin = await signed_in_admin(app, channel)
    call = channel.unary_unary(path_of(method), request_serializer=None, response_deserializer=None)

    error = await rpc_failure(call(b"", metadata=admin.metadata))

    fields = required(method)
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT, error.message
    bad = error.detail(error_details_pb2.BadRequest)
    assert bad is not None, error.message
    named = {violation.field.split(".")[0] for violation in bad.field_violations}
    assert named & fields, f"{method.name}: {sorted(named)} is none of {sorted(fields)}"
