"""Whatever hypothesis generates, structured or raw, is answered with a status of ours: never
INTERNAL or UNKNOWN, and always with our error details."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc
import grpc.aio
import hypothesis
from google.protobuf import field_mask_pb2
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from tests.support.flows import Caller, auth, users
from tests.support.malformed_requests import ALL_METHODS, raw_method
from tests.support.rich_errors import rich_error
from userservice.v1 import auth_pb2, user_pb2

Code = grpc.StatusCode
INVALID_ARGUMENT = Code.INVALID_ARGUMENT
UNAUTHENTICATED = Code.UNAUTHENTICATED
NEVER = {Code.INTERNAL, Code.UNKNOWN}
FUZZ = hypothesis.settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


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


SIGNED_IN_CALLS = [
    "GetUser",
    "RefreshToken",
    "Logout",
    "ValidateToken",
    "GetJwks",
    "ListSessions",
    "UpdateUser",
]


def signed_in_call(
    channel: grpc.aio.Channel, caller: Caller, kind: str, data: st.DataObject
) -> tuple[Awaitable[Any], set[Code]]:
    """A call of `kind` by `caller`, with input drawn from `data`, and the codes it may end with."""
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
    return call, allowed


@FUZZ
@given(data=st.data())
async def test_any_call_a_signed_in_user_makes_is_answered_without_an_internal_error(
    channel: grpc.aio.Channel, caller: Caller, data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(SIGNED_IN_CALLS))
    call, allowed = signed_in_call(channel, caller, kind, data)

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
