"""Streaming calls have a budget of their own: a flood of anonymous Health/Watch streams, from
several connections and client addresses, is refused past the budget while probes, reads and
logins keep answering; and a stream ends cleanly at its lifetime.

The storage backend plays no part here, so these run on the embedded one only. Client addresses
are told apart the way a trusted proxy tells them: 127.0.0.1 is trusted and each connection
sends its own x-forwarded-for.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.app import Application
from server.config import Settings
from tests.support.backends import backend_named
from tests.support.flows import create_user, login
from tests.support.rich_errors import rich_error
from tests.support.servers import serving, settings_for_test
from tests.support.waiting import eventually
from userservice.v1 import auth_pb2, auth_pb2_grpc

STREAMS = 12
PER_PEER = 4
UNARY = 8  # grpc's own limit is UNARY + STREAMS: held streams must leave all 8 to unary calls
LIVENESS = health_pb2.HealthCheckRequest(service="")
OK, EXHAUSTED = grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED
# Streams opened by the hundred at once: grpc cancels a few (~1.5%) before they reach any
# handler, with a plain grpc.aio server as well. They are neither admitted nor refused.
TRANSPORT_CANCELLED = grpc.StatusCode.CANCELLED


@asynccontextmanager
async def running(tmp_path: Path, **overrides: Any) -> AsyncIterator[Application]:
    async with backend_named("embedded", str(tmp_path / "userservice.db")) as backend:
        settings: Settings = settings_for_test(
            backend,
            tmp_path,
            max_streaming_calls=STREAMS,
            max_streaming_calls_per_peer=PER_PEER,
            max_concurrent_rpcs=UNARY,
            trusted_proxies=["127.0.0.1"],
            **overrides,
        )
        async with serving(settings) as (app, _):
            yield app


def connection(app: Application) -> grpc.aio.Channel:
    """A channel with a connection of its own (not shared through the global subchannel pool)."""
    return grpc.aio.insecure_channel(
        f"127.0.0.1:{app.port}", options=[("grpc.use_local_subchannel_pool", 1)]
    )


def watch(channel: grpc.aio.Channel, client_ip: str) -> Any:
    return health_pb2_grpc.HealthStub(channel).Watch(
        LIVENESS, metadata=(("x-forwarded-for", client_ip),)
    )


async def opened(call: Any) -> bool:
    """True once the stream delivered its first status; False when it was refused."""
    try:
        first = await call.read()
    except grpc.aio.AioRpcError:
        assert await call.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        return False
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    return True


async def outcome(call: Any) -> grpc.StatusCode:
    """OK once the stream delivered its first status, else the code it ended with."""
    try:
        await call.read()
    except grpc.aio.AioRpcError:
        return await call.code()
    return grpc.StatusCode.OK


def sample(app: Application, name: str, labels: dict[str, str] | None = None) -> float | None:
    return app.metrics.registry.get_sample_value(name, labels or {})


async def test_a_watch_flood_is_refused_while_checks_reads_and_logins_still_answer(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as app, AsyncExitStack() as stack:
        fresh = await stack.enter_async_context(connection(app))
        account = await create_user(fresh)
        # Six connections, six client addresses, four streams each, released together.
        channels = [await stack.enter_async_context(connection(app)) for _ in range(6)]
        calls = [watch(ch, f"10.0.0.{i}") for i, ch in enumerate(channels) for _ in range(4)]
        codes = Counter(await asyncio.gather(*(outcome(call) for call in calls)))

        assert set(codes) <= {OK, EXHAUSTED, TRANSPORT_CANCELLED}, codes
        assert codes[OK] == STREAMS
        assert sample(app, "userservice_streams_active") == STREAMS
        # Refused by the budget; with the tight unary limit here, grpc's own limit (unary +
        # streams) may refuse a few of the burst first, also RESOURCE_EXHAUSTED.
        refused = sample(app, "userservice_streams_refused_total", {"limit": "total"})
        assert refused is not None
        assert 1 <= refused <= codes[EXHAUSTED]

        # One more, from a new address: refused by the budget, with its reason and RetryInfo.
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await watch(fresh, "10.0.1.1").read()
        error = rich_error(failed.value)
        assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.error_info.reason == "TOO_MANY_STREAMS"
        assert error.detail(error_details_pb2.RetryInfo) is not None

        # With every stream slot held, the unary slots are all still free, all at once.
        health = health_pb2_grpc.HealthStub(fresh)
        checks = [health.Check(LIVENESS) for _ in range(UNARY - 2)]
        jwks = auth_pb2_grpc.AuthServiceStub(fresh).GetJwks(auth_pb2.GetJwksRequest())
        answers = await asyncio.gather(*checks, jwks, login(fresh, account.email))
        assert all(a.status == health_pb2.HealthCheckResponse.SERVING for a in answers[:-2])
        assert answers[-2].keys
        assert answers[-1].access_token

        for call in calls:
            call.cancel()


async def test_one_client_address_gets_only_its_share(tmp_path: Path) -> None:
    async with running(tmp_path) as app, connection(app) as channel:
        held = [watch(channel, "10.0.0.1") for _ in range(PER_PEER)]
        assert all(await asyncio.gather(*(opened(call) for call in held)))

        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await watch(channel, "10.0.0.1").read()
        assert rich_error(failed.value).error_info.reason == "TOO_MANY_STREAMS"
        assert sample(app, "userservice_streams_refused_total", {"limit": "per_peer"}) == 1
        # Another address still gets a stream, and one released is one given back.
        other = watch(channel, "10.0.0.2")
        assert await opened(other)
        held[0].cancel()

        async def released() -> bool:
            return sample(app, "userservice_streams_active") == PER_PEER

        await eventually(released, within=5, what="the cancelled stream's slot released")
        assert await opened(watch(channel, "10.0.0.1"))


async def test_a_stream_past_its_lifetime_ends_cleanly(tmp_path: Path) -> None:
    async with (
        running(tmp_path, streaming_call_lifetime_seconds=0.3) as app,
        connection(app) as channel,
    ):
        call = watch(channel, "10.0.0.1")
        statuses = [response.status async for response in call]

        assert statuses == [health_pb2.HealthCheckResponse.SERVING]
        assert await call.code() is grpc.StatusCode.OK
        assert sample(app, "userservice_streams_ended_at_lifetime_total") == 1
        assert sample(app, "userservice_streams_active") == 0


async def test_the_reported_flood_at_its_size_against_the_default_settings(
    tmp_path: Path,
) -> None:
    """26 plain connections x 100 Watch streams, no credentials, from one address."""
    async with backend_named("embedded", str(tmp_path / "userservice.db")) as backend:
        settings = settings_for_test(backend, tmp_path)
        async with serving(settings) as (app, _), AsyncExitStack() as stack:
            channels = [await stack.enter_async_context(connection(app)) for _ in range(26)]
            stubs = [health_pb2_grpc.HealthStub(channel) for channel in channels]
            calls = [stub.Watch(LIVENESS) for stub in stubs for _ in range(100)]
            codes = Counter(await asyncio.gather(*(outcome(call) for call in calls)))

            assert set(codes) <= {OK, EXHAUSTED, TRANSPORT_CANCELLED}, codes
            assert codes[OK] == settings.max_streaming_calls_per_peer
            refused = sample(app, "userservice_streams_refused_total", {"limit": "per_peer"})
            assert refused == codes[EXHAUSTED]

            fresh = await stack.enter_async_context(connection(app))
            account = await create_user(fresh)
            health = health_pb2_grpc.HealthStub(fresh)
            jwks = auth_pb2_grpc.AuthServiceStub(fresh).GetJwks(auth_pb2.GetJwksRequest())
            check, keys, tokens = await asyncio.gather(
                health.Check(LIVENESS), jwks, login(fresh, account.email)
            )
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            assert keys.keys
            assert tokens.access_token
            for call in calls:
                call.cancel()
