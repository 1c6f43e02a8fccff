"""AIP-203 field behaviour: every field a request carries says whether it is REQUIRED, OPTIONAL,
OUTPUT_ONLY or the IDENTIFIER, read from the generated descriptors as a client's tooling reads
them; and the vendored google/api/field_behavior.proto is the file the runtime registers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from grpc_tools import protoc

from tests.support.protos import behavior, methods

ROOT = Path(__file__).resolve().parents[2]
DECLARED = {
    field_behavior_pb2.REQUIRED,
    field_behavior_pb2.OPTIONAL,
    field_behavior_pb2.OUTPUT_ONLY,
    field_behavior_pb2.IDENTIFIER,
}
PACKAGE = "userservice.v1"


def fields_in_requests() -> Iterator[tuple[str, FieldDescriptor]]:
    """(path, field) for each field of each request message and of our messages inside them."""
    seen: set[str] = set()
    pending: list[Descriptor] = [method.input_type for method in methods()]
    while pending:
        message = pending.pop()
        if message.full_name in seen or not message.full_name.startswith(PACKAGE):
            continue  # google.protobuf.FieldMask and friends are not ours to annotate
        seen.add(message.full_name)
        for field in message.fields:
            yield f"{message.name}.{field.name}", field
            if field.message_type is not None:
                pending.append(field.message_type)


def test_the_request_messages_are_found() -> None:
    paths = {path for path, _ in fields_in_requests()}
    assert {"CreateUserRequest.email", "User.id", "ServiceAccount.client_id"} <= paths


def test_every_field_a_request_carries_declares_its_behavior() -> None:
    undeclared = sorted(
        path for path, field in fields_in_requests() if not behavior(field) & DECLARED
    )
    assert undeclared == [], "annotate with (google.api.field_behavior), AIP-203"


@pytest.mark.parametrize(
    ("message", "field", "expected"),
    [
        ("GetUserRequest", "id", {field_behavior_pb2.REQUIRED}),
        ("LoginRequest", "password", {field_behavior_pb2.REQUIRED}),
        ("UpdateUserRequest", "update_mask", {field_behavior_pb2.REQUIRED}),
        ("ListUsersRequest", "page_token", {field_behavior_pb2.OPTIONAL}),
        ("User", "id", {field_behavior_pb2.IDENTIFIER}),
        ("User", "create_time", {field_behavior_pb2.OUTPUT_ONLY}),
        ("User", "email_verified", {field_behavior_pb2.OUTPUT_ONLY}),
        (
            "ServiceAccount",
            "client_id",
            {field_behavior_pb2.OUTPUT_ONLY, field_behavior_pb2.IMMUTABLE},
        ),
    ],
)
def test_fields_say_what_the_server_does_with_them(
    message: str, field: str, expected: set[int]
) -> None:
    [descriptor] = [f for path, f in fields_in_requests() if path == f"{message}.{field}"]
    assert behavior(descriptor) == expected


def test_the_vendored_field_behavior_proto_is_the_one_googleapis_common_protos_registers(
    tmp_path: Path,
) -> None:
    out = tmp_path / "field_behavior.pb"
    well_known = Path(protoc.__file__).parent / "_proto"
    status = protoc.main(
        [
            "protoc",
            f"-I{ROOT / 'protos'}",
            f"-I{well_known}",
            f"--descriptor_set_out={out}",
            "google/api/field_behavior.proto",
        ]
    )
    assert status == 0
    [vendored] = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    runtime = descriptor_pb2.FileDescriptorProto()
    field_behavior_pb2.DESCRIPTOR.CopyToProto(runtime)
    for extension in (*vendored.extension, *runtime.extension):
        extension.ClearField("json_name")  # protoc fills it in; CopyToProto leaves it out
    assert vendored == runtime, "refresh protos/google/api from googleapis-common-protos"
