"""Hostile input to the account-recovery RPCs (issue 16): whatever hypothesis sends, a code that
is not one is INVALID_ARGUMENT (CODE_INVALID or a field violation), an address that is not one
is INVALID_ARGUMENT, and nothing is ever INTERNAL or UNKNOWN. Each backend."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path

import grpc
import grpc.aio
import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from server.config import Settings
from tests.support.backends import Backend
from tests.support.flows import Caller, auth, signed_in_user, users
from tests.support.rich_errors import rich_error
from tests.support.servers import settings_for_test
from userservice.v1 import auth_pb2, user_pb2

Code = grpc.StatusCode
FUZZ = hypothesis.settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
texts = st.text(max_size=300)
codes = st.one_of(texts, st.text(min_size=60, max_size=70), st.just(""))
emails = st.one_of(texts, st.emails(), st.emails().map(lambda e: f"  {e.upper()} "))
user_refs = st.one_of(texts, st.uuids().map(str), st.just("me"))


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    # The request throttles have tests of their own (test_recovery_rules.py).
    return settings_for_test(
        backend,
        tmp_path,
        password_resets_per_email=1_000_000,
        password_resets_per_ip=1_000_000,
        verification_requests_per_user=1_000_000,
    )


@pytest.fixture
async def caller(channel: grpc.aio.Channel) -> Caller:
    return await signed_in_user(channel, "caller")


async def outcome(call: Awaitable[object]) -> Code:
    """The call's status code; an error must not be INTERNAL/UNKNOWN and must carry our details."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        failed = exc
    else:
        return Code.OK
    assert failed.code() not in {Code.INTERNAL, Code.UNKNOWN}, failed.details()
    assert rich_error(failed).error_info.domain == "userservice"
    return failed.code()


@FUZZ
@given(code=codes, password=texts)
async def test_any_reset_or_verification_code_is_an_invalid_argument(
    channel: grpc.aio.Channel, code: str, password: str
) -> None:
    reset = auth_pb2.ResetPasswordRequest(code=code, new_password=password)
    assert await outcome(auth(channel).ResetPassword(reset)) is Code.INVALID_ARGUMENT
    verify = user_pb2.VerifyEmailRequest(code=code)
    assert await outcome(users(channel).VerifyEmail(verify)) is Code.INVALID_ARGUMENT


@FUZZ
@given(email=emails, user_id=st.one_of(st.just(""), user_refs))
async def test_any_reset_request_is_answered_without_an_internal_error(
    channel: grpc.aio.Channel, caller: Caller, email: str, user_id: str
) -> None:
    request = auth_pb2.RequestPasswordResetRequest(email=email, user_id=user_id)
    code = await outcome(auth(channel).RequestPasswordReset(request, metadata=caller.metadata))
    # By id: for administrators only (a user's token is refused before the id is looked at).
    allowed = {Code.OK, Code.INVALID_ARGUMENT, Code.PERMISSION_DENIED}
    assert code in allowed
    if user_id and email:
        assert code is Code.INVALID_ARGUMENT


@FUZZ
@given(user_id=user_refs)
async def test_any_verification_request_is_answered_without_an_internal_error(
    channel: grpc.aio.Channel, caller: Caller, user_id: str
) -> None:
    request = user_pb2.RequestEmailVerificationRequest(user_id=user_id)
    code = await outcome(users(channel).RequestEmailVerification(request, metadata=caller.metadata))
    assert code in {Code.OK, Code.INVALID_ARGUMENT, Code.PERMISSION_DENIED}
