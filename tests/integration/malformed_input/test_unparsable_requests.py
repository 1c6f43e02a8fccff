"""Bytes that do not parse as the method's request are a MALFORMED_REQUEST, for every method."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tests.support.flows import rpc_failure
from tests.support.malformed_requests import ALL_METHODS, raw_method

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def invalid_utf8_in_a_string_field(message: Descriptor, depth: int = 0) -> bytes | None:
    """The encoding of `message` with one string field (perhaps nested) holding 0xFF 0xFE."""
    for field in message.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            return _length_delimited(field.number, b"\xff\xfe")
    for field in message.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE and depth < 2:
            inner = invalid_utf8_in_a_string_field(field.message_type, depth + 1)
            if inner is not None:
                return _length_delimited(field.number, inner)
    return None


WITH_STRINGS = [
    pytest.param(path, payload, id=path.rsplit("/", 1)[1])
    for path, input_type in ALL_METHODS
    if (payload := invalid_utf8_in_a_string_field(input_type)) is not None
]
# Field 1, length-delimited, announcing five bytes and carrying two.
TRUNCATED = _length_delimited(1, b"ab")[:1] + _varint(5) + b"ab"


@pytest.mark.parametrize(("path", "payload"), WITH_STRINGS)
async def test_invalid_utf8_in_a_string_field_is_a_malformed_request(
    channel: grpc.aio.Channel, path: str, payload: bytes
) -> None:
    error = await rpc_failure(raw_method(channel, path)(payload))

    assert error.code is INVALID_ARGUMENT
    assert error.error_info.reason == "MALFORMED_REQUEST"


@pytest.mark.parametrize("path", [path for path, _ in ALL_METHODS], ids=lambda p: p.rsplit("/")[-1])
async def test_a_truncated_message_is_a_malformed_request(
    channel: grpc.aio.Channel, path: str
) -> None:
    error = await rpc_failure(raw_method(channel, path)(TRUNCATED))

    assert error.code is INVALID_ARGUMENT
    assert error.error_info.reason == "MALFORMED_REQUEST"


async def test_invalid_utf8_is_refused_before_authentication(
    channel: grpc.aio.Channel,
) -> None:
    # GetUser needs a token; the parse failure is what the caller must fix first.
    error = await rpc_failure(
        raw_method(channel, "/userservice.v1.UserService/GetUser")(b"\x0a\x02\xff\xfe")
    )

    assert error.error_info.reason == "MALFORMED_REQUEST"
