"""Errors reach clients as google.rpc rich statuses; bugs reach them as a bare INTERNAL.

A small server with the real call pipeline and a servicer whose GetUser fails on demand.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio
import pytest
import structlog
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from structlog.testing import CapturingLogger

from server import errors
from server.domain import Principal, Role
from server.observability.metrics import GrpcMetrics
from server.rpc.access_log import AccessLog
from server.rpc.caller_address import ClientResolver
from server.rpc.pipeline import CallPipeline, PipelineRegistry
from server.rpc.streams import StreamBudget
from tests.support.rich_errors import DETAILS_KEY, rich_error
from tests.support.waiting import eventually
from userservice.v1 import user_pb2, user_pb2_grpc

SECRET = "secret database password xyz"
CALLER = (("authorization", "Bearer 7"),)
# Bounds a broken build only: a line is written microseconds after the status is sent.
LOG_SECONDS = 10.0

FAILURES: dict[str, Callable[[], Exception]] = {
    "missing": lambda: errors.NotFound("no such user", reason="USER_NOT_FOUND"),
    "invalid": lambda: errors.InvalidArgument(
        "the request has invalid fields",
        [
            errors.FieldViolation("email", "not an email address"),
            errors.FieldViolation("display_name", "longer than 200 characters"),
        ],
    ),
    "throttled": lambda: errors.RateLimited("too many attempts", retry_after_seconds=3),
    "bug": lambda: RuntimeError(SECRET),
    "unbuilt": NotImplementedError,
}


class FailingUserServicer(user_pb2_grpc.UserServiceServicer):
    async def GetUser(self, request: user_pb2.GetUserRequest, context: Any) -> user_pb2.User:
        failure = FAILURES.get(request.id)
        if failure is not None:
            raise failure()
        return user_pb2.User(id=request.id)


@pytest.fixture
def captured_log() -> CapturingLogger:
    return CapturingLogger()


async def anyone(token: str) -> Principal:
    return Principal(subject=f"user-{token}", expires_at=dt.datetime.now(dt.UTC), role=Role.USER)


@pytest.fixture
async def stub_channel(captured_log: CapturingLogger) -> AsyncIterator[grpc.aio.Channel]:
    log = structlog.wrap_logger(
        captured_log,
        processors=[],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )
    server = grpc.aio.server()
    pipeline = CallPipeline(
        metrics=GrpcMetrics.create(),
        access_log=AccessLog(log, level="INFO", json_lines=False),
        authenticate=anyone,
        signup_enabled=False,
        streams=StreamBudget(
            total=10, per_peer=10, lifetime_seconds=60, clients=ClientResolver(())
        ),
        logger=log,
        clients=ClientResolver(()),
    )
    registry: Any = PipelineRegistry(server, pipeline)
    user_pb2_grpc.add_UserServiceServicer_to_server(FailingUserServicer(), registry)
    health_pb2_grpc.add_HealthServicer_to_server(health_aio.HealthServicer(), registry)
    port = server.add_insecure_port("127.0.0.1:0")
    assert port != 0
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


async def get_user_failure(
    channel: grpc.aio.Channel, user_id: str, metadata: tuple[tuple[str, str], ...] = ()
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await user_pb2_grpc.UserServiceStub(channel).GetUser(
            user_pb2.GetUserRequest(id=user_id), metadata=(*CALLER, *metadata)
        )
    return failed.value


async def test_a_successful_call_passes_through_the_interceptors(
    stub_channel: grpc.aio.Channel,
) -> None:
    user = await user_pb2_grpc.UserServiceStub(stub_channel).GetUser(
        user_pb2.GetUserRequest(id="someone"), metadata=CALLER
    )

    assert user.id == "someone"


async def test_not_found_carries_error_info_with_the_domain_reason_and_request_id(
    stub_channel: grpc.aio.Channel,
) -> None:
    failure = await get_user_failure(
        stub_channel, "missing", metadata=(("x-request-id", "req-not-found-1"),)
    )

    error = rich_error(failure)
    assert error.code is grpc.StatusCode.NOT_FOUND
    assert error.message == "no such user"
    assert error.error_info.domain == "userservice"
    assert error.error_info.reason == "USER_NOT_FOUND"
    assert error.error_info.metadata["request_id"] == "req-not-found-1"


async def test_invalid_argument_lists_every_field_violation_in_bad_request(
    stub_channel: grpc.aio.Channel,
) -> None:
    error = rich_error(await get_user_failure(stub_channel, "invalid"))

    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.error_info.reason == "INVALID_ARGUMENT"
    bad_request = error.detail(error_details_pb2.BadRequest)
    assert bad_request is not None
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("email", "not an email address"),
        ("display_name", "longer than 200 characters"),
    ]


async def test_rate_limited_is_resource_exhausted_with_retry_info(
    stub_channel: grpc.aio.Channel,
) -> None:
    error = rich_error(await get_user_failure(stub_channel, "throttled"))

    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.error_info.reason == "RATE_LIMITED"
    retry = error.detail(error_details_pb2.RetryInfo)
    assert retry is not None
    assert retry.retry_delay.ToTimedelta().total_seconds() == 3.0


async def test_a_bug_is_internal_with_a_fixed_message_and_no_exception_text(
    stub_channel: grpc.aio.Channel, captured_log: CapturingLogger
) -> None:
    failure = await get_user_failure(stub_channel, "bug")

    error = rich_error(failure)
    assert error.code is grpc.StatusCode.INTERNAL
    assert failure.details() == "internal error"
    assert error.error_info.reason == "INTERNAL"
    assert "xyz" not in str(error.status)
    for key, value in [*(failure.trailing_metadata() or ()), *(failure.initial_metadata() or ())]:
        raw = value if isinstance(value, bytes) else value.encode()
        assert b"xyz" not in raw, key
    assert any(key == DETAILS_KEY for key, _ in failure.trailing_metadata() or ())


async def test_a_bug_is_logged_once_with_its_traceback(
    stub_channel: grpc.aio.Channel, captured_log: CapturingLogger
) -> None:
    await get_user_failure(stub_channel, "bug")

    reports = [call for call in captured_log.calls if call.kwargs.get("exc_info")]
    assert len(reports) == 1
    assert reports[0].kwargs["event"] == "unhandled error"
    assert reports[0].kwargs["method"] == "/userservice.v1.UserService/GetUser"


async def test_a_request_that_does_not_parse_is_invalid_argument(
    stub_channel: grpc.aio.Channel,
) -> None:
    get_user_raw = stub_channel.unary_unary(
        "/userservice.v1.UserService/GetUser",
        request_serializer=None,
        response_deserializer=None,
    )
    # Field 1 (id, a string) holding two bytes that are not UTF-8.
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await get_user_raw(b"\x0a\x02\xff\xfe")

    error = rich_error(failed.value)
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.error_info.domain == "userservice"
    assert error.error_info.reason == "MALFORMED_REQUEST"


async def test_a_method_not_built_yet_is_unimplemented_with_a_reason(
    stub_channel: grpc.aio.Channel,
) -> None:
    error = rich_error(await get_user_failure(stub_channel, "unbuilt"))

    assert error.code is grpc.StatusCode.UNIMPLEMENTED
    assert error.error_info.domain == "userservice"
    assert error.error_info.reason == "UNIMPLEMENTED"


def access_lines(captured_log: CapturingLogger) -> list[dict[str, Any]]:
    return [call.kwargs for call in captured_log.calls if call.kwargs.get("event") == "rpc"]


async def access_lines_once(captured_log: CapturingLogger, count: int) -> list[dict[str, Any]]:
    """The access lines, once there are `count` of them.

    A call's line is written when its handler ends, and a handler that aborts has sent its
    status by then: the client can see the failure before the line exists.
    """

    async def written() -> bool:
        return len(access_lines(captured_log)) >= count

    await eventually(written, within=LOG_SECONDS, what=f"{count} access lines")
    return access_lines(captured_log)


async def test_every_call_writes_one_access_line_with_its_outcome_and_caller(
    stub_channel: grpc.aio.Channel, captured_log: CapturingLogger
) -> None:
    await get_user_failure(stub_channel, "missing", metadata=(("x-request-id", "req-line-1"),))
    await user_pb2_grpc.UserServiceStub(stub_channel).GetUser(
        user_pb2.GetUserRequest(id="someone"), metadata=CALLER
    )

    failed, succeeded = await access_lines_once(captured_log, 2)
    assert failed["method"] == "/userservice.v1.UserService/GetUser"
    assert failed["code"] == "NOT_FOUND"
    assert failed["request_id"] == "req-line-1"
    assert failed["user"] == "user-7"
    assert failed["peer"].startswith(("ipv4:127.0.0.1:", "ipv6:"))
    assert failed["duration_ms"] >= 0
    assert succeeded["code"] == "OK"
    assert succeeded["request_id"] != failed["request_id"]


async def test_a_bug_is_logged_as_internal_in_the_access_line(
    stub_channel: grpc.aio.Channel, captured_log: CapturingLogger
) -> None:
    await get_user_failure(stub_channel, "bug")

    assert [line["code"] for line in await access_lines_once(captured_log, 1)] == ["INTERNAL"]


async def test_a_call_without_a_token_is_logged_unauthenticated_with_no_user(
    stub_channel: grpc.aio.Channel, captured_log: CapturingLogger
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await user_pb2_grpc.UserServiceStub(stub_channel).GetUser(
            user_pb2.GetUserRequest(id="someone")
        )

    assert failed.value.code() is grpc.StatusCode.UNAUTHENTICATED
    [line] = await access_lines_once(captured_log, 1)
    assert (line["code"], line["user"]) == ("UNAUTHENTICATED", "")


async def test_health_probes_are_not_access_logged_at_info(
    stub_channel: grpc.aio.Channel, captured_log: CapturingLogger
) -> None:
    health = health_pb2_grpc.HealthStub(stub_channel)
    await health.Check(health_pb2.HealthCheckRequest(service=""))
    with pytest.raises(grpc.aio.AioRpcError):
        await health.Check(health_pb2.HealthCheckRequest(service="nonexistent"))

    assert access_lines(captured_log) == []
