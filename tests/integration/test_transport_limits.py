"""The transport limits, as a client meets them: oversized messages and metadata are refused
RESOURCE_EXHAUSTED (and a call just inside the limit passes); a client that pings more often
than the keepalive policy allows gets GOAWAY too_many_pings (the SDK's own keepalive stays
within the policy: tests/unit/test_transport_options.py). The storage backend plays no part
here: embedded only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.app import Application
from tests.support.backends import backend_named
from tests.support.servers import serving, settings_for_test
from userservice.v1 import user_pb2, user_pb2_grpc

MESSAGE_LIMIT = 64 * 1024
METADATA_LIMIT = 8 * 1024
LIVENESS = health_pb2.HealthCheckRequest(service="")


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Application, grpc.aio.Channel]]:
    async with backend_named("embedded", str(tmp_path / "userservice.db")) as backend:
        settings = settings_for_test(
            backend,
            tmp_path,
            max_receive_message_bytes=MESSAGE_LIMIT,
            max_metadata_bytes=METADATA_LIMIT,
        )
        async with serving(settings) as pair:
            yield pair


async def test_a_message_over_the_limit_is_refused(
    served: tuple[Application, grpc.aio.Channel],
) -> None:
    _, channel = served
    request = user_pb2.CreateUserRequest(display_name="x" * MESSAGE_LIMIT)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await user_pb2_grpc.UserServiceStub(channel).CreateUser(request)

    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in (refused.value.details() or "")


async def test_metadata_over_the_limit_is_refused_every_time(
    served: tuple[Application, grpc.aio.Channel],
) -> None:
    _, channel = served
    health = health_pb2_grpc.HealthStub(channel)
    inside = (("x-padding", "y" * (METADATA_LIMIT // 2)),)
    assert (await health.Check(LIVENESS, metadata=inside)).status == 1

    # Soft and hard limits are one value: not a random share, every oversized call is refused.
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await health.Check(LIVENESS, metadata=(("x-padding", "y" * METADATA_LIMIT),))
        assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_client_pinging_too_often_gets_goaway_too_many_pings(
    served: tuple[Application, grpc.aio.Channel],
) -> None:
    app, _ = served
    pings_every_50_ms = [
        ("grpc.keepalive_time_ms", 50),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.use_local_subchannel_pool", 1),
    ]
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{app.port}", options=pings_every_50_ms
    ) as abusive:
        call = health_pb2_grpc.HealthStub(abusive).Watch(LIVENESS)
        with pytest.raises(grpc.aio.AioRpcError) as closed:
            async for _ in call:
                pass  # the stream stays open until the server closes the connection

    assert closed.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "too many pings" in (closed.value.details() or "").lower()
