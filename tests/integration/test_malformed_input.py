"""Bad input of any kind is the caller's error: INVALID_ARGUMENT naming the field (UNAUTHENTICATED
where the input is a credential), never INTERNAL or UNKNOWN.

A real server on each backend. First the known kinds of bad input, RPC by RPC; then bytes that do
not parse at all; then hypothesis, sending whatever it generates, structured and raw.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import hypothesis
import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.rpc import error_details_pb2
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from server.app import Application
from server.config import Settings
from tests.support.backends import Backend
from tests.support.flows import (
    PASSWORD,
    Caller,
    auth,
    rpc_failure,
    signed_in_admin,
    signed_in_user,
    users,
)
from tests.support.rich_errors import RichError, rich_error
from tests.support.servers import settings_for_test
from userservice.v1 import auth_pb2, service_account_pb2, user_pb2

Code = grpc.StatusCode
INVALID_ARGUMENT = Code.INVALID_ARGUMENT
UNAUTHENTICATED = Code.UNAUTHENTICATED
NEVER = {Code.INTERNAL, Code.UNKNOWN}

GOOD_EMAIL = "someone@example.com"
HUGE = "x" * 100_000  # far over every field's limit, well under the 1 MiB message limit
OVER_MESSAGE_LIMIT = "x" * (1024 * 1024 + 1)

FUZZ = hypothesis.settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
ALL_METHODS = [
    (f"/{service.full_name}/{method.name}", method.input_type)
    for file in (user_pb2, auth_pb2, service_account_pb2)
    for service in file.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    # Fuzzing signs up and fails logins far more often than a person would; the brute-force
    # limits have tests of their own and would only turn answers here into RESOURCE_EXHAUSTED.
    return settings_for_test(
        backend,
        tmp_path,
        signups_per_ip=1_000_000,
        login_failures_per_ip=1_000_000,
        login_failures_per_account=1_000_000,
        login_failures_per_account_and_ip=1_000_000,
    )


@pytest.fixture
async def caller(channel: grpc.aio.Channel) -> Caller:
    return await signed_in_user(channel, "caller")


@pytest.fixture
async def admin(app: Application, channel: grpc.aio.Channel) -> Caller:
    return await signed_in_admin(app, channel)


def assert_field_violation(error: RichError, field: str, reason: str = "INVALID_ARGUMENT") -> None:
    assert error.code is INVALID_ARGUMENT, (error.code, error.message)
    assert error.error_info.domain == "userservice"
    assert error.error_info.reason == reason
    bad_request = error.detail(error_details_pb2.BadRequest)
    assert bad_request is not None, error.status
    assert [v.field for v in bad_request.field_violations] == [field]
    assert all(v.description for v in bad_request.field_violations)


def create_request(**fields: Any) -> user_pb2.CreateUserRequest:
    values: dict[str, Any] = {
        "email": GOOD_EMAIL,
        "password": PASSWORD,
        "display_name": "Someone",
    }
    values.update(fields)
    return user_pb2.CreateUserRequest(**values)


# -- CreateUser ----------------------------------------------------------------------------------


async def test_an_empty_create_user_request_names_the_email(channel: grpc.aio.Channel) -> None:
    error = await rpc_failure(users(channel).CreateUser(user_pb2.CreateUserRequest()))

    assert_field_violation(error, "email")


@pytest.mark.parametrize(
    "email",
    [
        "no-at-sign",
        "a@",
        "@b",
        "a b@c.d",
        "   ",
        "a@@example.com",
        "nul\x00@example.com",
        HUGE + "@example.com",
    ],
)
async def test_create_user_names_a_malformed_email(channel: grpc.aio.Channel, email: str) -> None:
    error = await rpc_failure(users(channel).CreateUser(create_request(email=email)))

    assert_field_violation(error, "email")


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "PASSWORD_TOO_SHORT"),
        (HUGE, "PASSWORD_TOO_LONG"),
        ("a\x00" * 8, "PASSWORD_INVALID_CHARACTER"),
    ],
)
async def test_create_user_names_an_unusable_password(
    channel: grpc.aio.Channel, password: str, reason: str
) -> None:
    error = await rpc_failure(users(channel).CreateUser(create_request(password=password)))

    assert_field_violation(error, "password", reason)


@pytest.mark.parametrize(
    "display_name",
    ["Ali\x00ce", "bell\x07", "two\nlines", "esc\x1b[31mred", "del\x7fete", "nel\x85ine", HUGE],
)
async def test_create_user_names_a_display_name_with_control_characters_or_too_long(
    channel: grpc.aio.Channel, display_name: str
) -> None:
    error = await rpc_failure(users(channel).CreateUser(create_request(display_name=display_name)))

    assert_field_violation(error, "display_name")


@pytest.mark.parametrize("role", [99, 3, -1])
async def test_create_user_names_an_unknown_role(channel: grpc.aio.Channel, role: int) -> None:
    error = await rpc_failure(users(channel).CreateUser(create_request(role=role)))

    assert_field_violation(error, "role")


@pytest.mark.parametrize(
    "request_id",
    ["not-a-uuid", "12345", str(uuid.uuid4()) + "x", str(uuid.uuid4())[:-1], HUGE],
)
async def test_create_user_names_a_request_id_that_is_not_a_uuid(
    channel: grpc.aio.Channel, request_id: str
) -> None:
    error = await rpc_failure(users(channel).CreateUser(create_request(request_id=request_id)))

    assert_field_violation(error, "request_id")


async def test_a_message_over_the_receive_limit_is_resource_exhausted_not_internal(
    channel: grpc.aio.Channel,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await users(channel).CreateUser(create_request(display_name=OVER_MESSAGE_LIMIT))

    assert failed.value.code() is Code.RESOURCE_EXHAUSTED


# -- GetUser -------------------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", ["", "me", "not-a-uuid"])
async def test_get_user_without_a_token_is_unauthenticated_whatever_the_id(
    channel: grpc.aio.Channel, user_id: str
) -> None:
    error = await rpc_failure(users(channel).GetUser(user_pb2.GetUserRequest(id=user_id)))

    assert error.code is UNAUTHENTICATED
    assert error.error_info.reason == "TOKEN_MISSING"


# Each is a UUID with something after it, or close to one; none may name a user.
UUID_WITH_JUNK = ["x", " ", "\n", "-", "}", "--", "/../", "0"]


@pytest.mark.parametrize(
    "user_id",
    [
        "",
        "not-a-uuid",
        HUGE,
        *[pytest.param(f"{{id}}{junk}", id=f"uuid+{junk!r}") for junk in UUID_WITH_JUNK],
    ],
)
async def test_get_user_names_an_id_that_is_not_a_uuid(
    channel: grpc.aio.Channel, caller: Caller, user_id: str
) -> None:
    user_id = user_id.replace("{id}", caller.id)

    error = await rpc_failure(
        users(channel).GetUser(user_pb2.GetUserRequest(id=user_id), metadata=caller.metadata)
    )

    assert_field_violation(error, "id")


# -- Login ---------------------------------------------------------------------------------------


async def test_an_empty_login_request_names_the_email(channel: grpc.aio.Channel) -> None:
    error = await rpc_failure(auth(channel).Login(auth_pb2.LoginRequest()))

    assert_field_violation(error, "email")


@pytest.mark.parametrize(
    "email", ["no-at-sign", "a@", "@b", "a b@c.d", "nul\x00@example.com", HUGE + "@example.com"]
)
async def test_login_names_a_malformed_email(channel: grpc.aio.Channel, email: str) -> None:
    error = await rpc_failure(
        auth(channel).Login(auth_pb2.LoginRequest(email=email, password=PASSWORD))
    )

    assert_field_violation(error, "email")


@pytest.mark.parametrize("password", ["", HUGE], ids=["empty", "huge"])
async def test_login_names_a_missing_or_huge_password(
    channel: grpc.aio.Channel, caller: Caller, password: str
) -> None:
    error = await rpc_failure(
        auth(channel).Login(auth_pb2.LoginRequest(email=caller.account.email, password=password))
    )

    assert_field_violation(error, "password")


# -- RefreshToken --------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", HUGE], ids=["empty", "huge"])
async def test_refresh_token_names_a_missing_or_huge_token(
    channel: grpc.aio.Channel, token: str
) -> None:
    error = await rpc_failure(
        auth(channel).RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=token))
    )

    assert_field_violation(error, "refresh_token")


@pytest.mark.parametrize("token", ["unknown", "x" * 43, "ünïcödé-tökén", " "])
async def test_an_unknown_refresh_token_is_unauthenticated(
    channel: grpc.aio.Channel, token: str
) -> None:
    error = await rpc_failure(
        auth(channel).RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=token))
    )

    assert error.code is UNAUTHENTICATED
    assert error.error_info.reason == "REFRESH_TOKEN_INVALID"


# -- Logout --------------------------------------------------------------------------------------


async def test_logout_without_a_token_is_unauthenticated(channel: grpc.aio.Channel) -> None:
    error = await rpc_failure(auth(channel).Logout(auth_pb2.LogoutRequest()))

    assert error.code is UNAUTHENTICATED
    assert error.error_info.reason == "TOKEN_MISSING"


@pytest.mark.parametrize("token", ["not-mine", HUGE], ids=["unknown", "huge"])
async def test_logout_names_a_refresh_token_that_is_not_the_callers_and_ends_nothing(
    channel: grpc.aio.Channel, caller: Caller, token: str
) -> None:
    error = await rpc_failure(
        auth(channel).Logout(auth_pb2.LogoutRequest(refresh_token=token), metadata=caller.metadata)
    )

    assert_field_violation(error, "refresh_token")
    me = await users(channel).GetUser(user_pb2.GetUserRequest(id="me"), metadata=caller.metadata)
    assert me.id == caller.id


# -- ValidateToken -------------------------------------------------------------------------------


async def test_validate_token_without_a_token_is_unauthenticated(
    channel: grpc.aio.Channel,
) -> None:
    error = await rpc_failure(auth(channel).ValidateToken(auth_pb2.ValidateTokenRequest()))

    assert error.code is UNAUTHENTICATED
    assert error.error_info.reason == "TOKEN_MISSING"


@pytest.mark.parametrize("token", ["", HUGE], ids=["empty", "huge"])
async def test_validate_token_names_a_missing_or_huge_access_token(
    channel: grpc.aio.Channel, caller: Caller, token: str
) -> None:
    error = await rpc_failure(
        auth(channel).ValidateToken(
            auth_pb2.ValidateTokenRequest(access_token=token), metadata=caller.metadata
        )
    )

    assert_field_violation(error, "access_token")


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "x" * 5000])
async def test_validate_token_answers_inactive_for_a_token_that_is_not_one(
    channel: grpc.aio.Channel, caller: Caller, token: str
) -> None:
    result = await auth(channel).ValidateToken(
        auth_pb2.ValidateTokenRequest(access_token=token), metadata=caller.metadata
    )

    assert result == auth_pb2.ValidateTokenResponse(active=False)


# -- GetJwks and page tokens ---------------------------------------------------------------------


async def test_get_jwks_has_no_input_to_get_wrong(channel: grpc.aio.Channel) -> None:
    response = await auth(channel).GetJwks(auth_pb2.GetJwksRequest())

    assert response.keys
    assert all(key.kid and key.kty for key in response.keys)


@pytest.mark.parametrize("token", ["a.é", "é.a", "ü", "a." + "é" * 40])
async def test_a_page_token_with_non_ascii_characters_is_named(
    channel: grpc.aio.Channel, caller: Caller, admin: Caller, token: str
) -> None:
    listing_users = users(channel).ListUsers(
        user_pb2.ListUsersRequest(page_token=token), metadata=admin.metadata
    )
    listing_sessions = auth(channel).ListSessions(
        auth_pb2.ListSessionsRequest(user_id="me", page_token=token), metadata=caller.metadata
    )

    assert_field_violation(await rpc_failure(listing_users), "page_token", "INVALID_PAGE_TOKEN")
    assert_field_violation(await rpc_failure(listing_sessions), "page_token", "INVALID_PAGE_TOKEN")


@pytest.mark.parametrize(
    "filter_text",
    ['email = "a\x00*"', "state = STATE_ACTIVE\x00", 'email = "*x*"', "role = 1", "x" * 600],
)
async def test_list_users_names_a_malformed_filter(
    channel: grpc.aio.Channel, admin: Caller, filter_text: str
) -> None:
    error = await rpc_failure(
        users(channel).ListUsers(
            user_pb2.ListUsersRequest(filter=filter_text), metadata=admin.metadata
        )
    )

    assert_field_violation(error, "filter", "INVALID_FILTER")


# -- bytes that do not parse ---------------------------------------------------------------------


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


def raw_method(channel: grpc.aio.Channel, path: str) -> grpc.aio.UnaryUnaryMultiCallable:
    return channel.unary_unary(path, request_serializer=None, response_deserializer=None)


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


# -- hypothesis ----------------------------------------------------------------------------------


async def outcome(call: Awaitable[Any]) -> Code:
    """The call's status code; an error must not be INTERNAL/UNKNOWN and must carry our details."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        failed = exc
    else:
        return Code.OK
    code = failed.code()
    assert code not in NEVER, (code, failed.details())
    assert rich_error(failed).error_info.domain == "userservice"
    return code


def uuid_with_junk(junk: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda u, j: f"{u}{j}", st.uuids(), junk)


texts = st.text(max_size=300)
emails = st.one_of(
    texts,
    st.emails(),
    st.emails().map(lambda e: f"  {e.upper()} "),
    st.builds(lambda a, b: f"{a}@{b}", st.text(max_size=40), st.text(max_size=40)),
)
ids = st.one_of(
    texts, st.uuids().map(str), st.just("me"), uuid_with_junk(st.text(min_size=1, max_size=5))
)
request_ids = st.one_of(texts, st.uuids().map(str), st.just(""))
passwords = st.one_of(texts, st.text(min_size=12, max_size=130))

create_user_requests = st.builds(
    user_pb2.CreateUserRequest,
    email=emails,
    password=passwords,
    display_name=texts,
    request_id=request_ids,
    role=st.integers(-5, 10),
)


@FUZZ
@given(message=create_user_requests)
async def test_any_create_user_request_is_answered_without_an_internal_error(
    channel: grpc.aio.Channel, message: user_pb2.CreateUserRequest
) -> None:
    code = await outcome(users(channel).CreateUser(message))

    assert code in {Code.OK, INVALID_ARGUMENT, Code.ALREADY_EXISTS, Code.PERMISSION_DENIED}


@FUZZ
@given(email=emails, password=passwords, known=st.booleans())
async def test_any_login_request_is_answered_without_an_internal_error(
    channel: grpc.aio.Channel, caller: Caller, email: str, password: str, known: bool
) -> None:
    message = auth_pb2.LoginRequest(
        email=caller.account.email if known else email, password=password
    )

    code = await outcome(auth(channel).Login(message))

    assert code in {INVALID_ARGUMENT, UNAUTHENTICATED}


MASK_PATHS = st.lists(
    st.sampled_from(["display_name", "email", "role", "state", "id", "etag", "", "x.y"]),
    max_size=3,
)
update_requests = st.builds(
    lambda user_id, name, email, role, state, etag, paths: user_pb2.UpdateUserRequest(
        user=user_pb2.User(
            id=user_id, display_name=name, email=email, role=role, state=state, etag=etag
        ),
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    ),
    ids,
    texts,
    emails,
    st.integers(-3, 5),
    st.integers(-3, 5),
    texts,
    MASK_PATHS,
)


@FUZZ
@given(data=st.data())
async def test_any_call_a_signed_in_user_makes_is_answered_without_an_internal_error(
    channel: grpc.aio.Channel, caller: Caller, data: st.DataObject
) -> None:
    kind = data.draw(
        st.sampled_from(
            [
                "GetUser",
                "RefreshToken",
                "Logout",
                "ValidateToken",
                "GetJwks",
                "ListSessions",
                "UpdateUser",
            ]
        )
    )
    meta = caller.metadata
    if kind == "GetUser":
        call = users(channel).GetUser(user_pb2.GetUserRequest(id=data.draw(ids)), metadata=meta)
        allowed = {Code.OK, INVALID_ARGUMENT, Code.PERMISSION_DENIED, Code.NOT_FOUND}
    elif kind == "RefreshToken":
        token = data.draw(texts)
        call = auth(channel).RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=token))
        allowed = {INVALID_ARGUMENT, UNAUTHENTICATED}
    elif kind == "Logout":
        # Never empty: an empty refresh token is a valid Logout and would end the session.
        token = data.draw(st.text(min_size=1, max_size=300))
        call = auth(channel).Logout(auth_pb2.LogoutRequest(refresh_token=token), metadata=meta)
        allowed = {INVALID_ARGUMENT}
    elif kind == "ValidateToken":
        token = data.draw(st.one_of(texts, st.just(caller.tokens.access_token)))
        call = auth(channel).ValidateToken(
            auth_pb2.ValidateTokenRequest(access_token=token), metadata=meta
        )
        allowed = {Code.OK, INVALID_ARGUMENT}
    elif kind == "GetJwks":
        call = auth(channel).GetJwks(auth_pb2.GetJwksRequest())
        allowed = {Code.OK}
    elif kind == "ListSessions":
        message = auth_pb2.ListSessionsRequest(
            user_id=data.draw(ids),
            page_size=data.draw(st.integers(-(2**31), 2**31 - 1)),
            page_token=data.draw(texts),
        )
        call = auth(channel).ListSessions(message, metadata=meta)
        allowed = {Code.OK, INVALID_ARGUMENT, Code.PERMISSION_DENIED}
    else:
        message = data.draw(update_requests)
        call = users(channel).UpdateUser(message, metadata=meta)
        allowed = {
            Code.OK,
            INVALID_ARGUMENT,
            Code.PERMISSION_DENIED,
            Code.NOT_FOUND,
            Code.ABORTED,
            Code.ALREADY_EXISTS,
        }

    code = await outcome(call)

    assert code in allowed, (kind, code)


@FUZZ
@given(
    page_size=st.integers(-(2**31), 2**31 - 1),
    page_token=texts,
    filter_text=st.one_of(
        texts,
        st.builds(lambda v: f'email = "{v}*"', texts),
        st.sampled_from(["state = STATE_ACTIVE", "state=STATE_DISABLED AND email:a*", "AND"]),
    ),
)
async def test_any_list_users_request_is_answered_without_an_internal_error(
    channel: grpc.aio.Channel, admin: Caller, page_size: int, page_token: str, filter_text: str
) -> None:
    message = user_pb2.ListUsersRequest(
        page_size=page_size, page_token=page_token, filter=filter_text
    )

    code = await outcome(users(channel).ListUsers(message, metadata=admin.metadata))

    assert code in {Code.OK, INVALID_ARGUMENT}


@FUZZ
@given(payload=st.binary(max_size=512))
async def test_any_bytes_sent_to_any_method_are_answered_without_an_internal_error(
    channel: grpc.aio.Channel, payload: bytes
) -> None:
    for path, _ in ALL_METHODS:
        # Whatever the bytes parse to (or not): a status of ours, never INTERNAL or UNKNOWN.
        await outcome(raw_method(channel, path)(payload))
