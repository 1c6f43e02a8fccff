"""TokenAuthInterceptor protecting another grpc.aio service with userservice tokens.

The protected service is a real grpc.aio server built here: a tiny `demo.v1.Demo` service (a
unary and an async-generator streaming method that report `current_token()`), plus the gRPC
health service, whose Watch is the other streaming shape (a coroutine calling context.write).
Tokens come from a real userservice, keys from its GetJwks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]

from server.app import Application
from tests.support.flows import Metadata, bearer
from tests.support.sdk import embedded_app, expired_access_token, sdk_client, signed_up
from userservice_client import (
    AsyncUserServiceClient,
    ClientJwksSource,
    LoginSession,
    TokenAuthInterceptor,
    TokenVerifier,
    current_token,
    error_from_rpc,
)

WHOAMI = "/demo.v1.Demo/WhoAmI"
WHOAMI_STREAM = "/demo.v1.Demo/WhoAmIStream"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
Context = grpc.aio.ServicerContext[Any, Any]


def _subject() -> bytes:
    token = current_token()
    return b"anonymous" if token is None else token.subject.encode()


async def whoami(request: bytes, context: Context) -> bytes:
    return _subject()


async def whoami_stream(request: bytes, context: Context) -> AsyncIterator[bytes]:
    for _ in range(2):
        yield _subject()


@dataclass(frozen=True, slots=True)
class Protected:
    """The protected service's channel, and a user of userservice with its tokens."""

    channel: grpc.aio.Channel
    app: Application
    user_id: str
    session: LoginSession

    async def whoami(self, metadata: Metadata = ()) -> bytes:
        call = self.channel.unary_unary(WHOAMI, None, None)  # raw bytes both ways
        response: bytes = await call(b"", metadata=metadata)
        return response


@pytest.fixture
async def protected(tmp_path: Path) -> AsyncIterator[Protected]:
    async with embedded_app(tmp_path) as app, sdk_client(app) as client:
        await signed_up(client, "caller")
        user_id = (await client.get_user()).id
        session = client.credentials
        assert isinstance(session, LoginSession)
        async with AsyncUserServiceClient(client.target) as keys_client:
            verifier = TokenVerifier(
                ClientJwksSource(keys_client), issuer="userservice", audience="userservice"
            )
            interceptor = TokenAuthInterceptor(verifier, public_methods={HEALTH_CHECK})
            server = grpc.aio.server(interceptors=[interceptor])
            demo = {
                "WhoAmI": grpc.unary_unary_rpc_method_handler(whoami),
                "WhoAmIStream": grpc.unary_stream_rpc_method_handler(whoami_stream),
            }
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler("demo.v1.Demo", demo),)
            )
            health_pb2_grpc.add_HealthServicer_to_server(health_aio.HealthServicer(), server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                    yield Protected(channel, app, user_id, session)
            finally:
                await server.stop(None)


async def refusal(call: Any) -> tuple[grpc.StatusCode, str, str]:
    """(code, details, ErrorInfo reason as the SDK decodes it) of a call that must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    return failed.value.code(), failed.value.details() or "", error_from_rpc(failed.value).reason


async def test_a_call_without_a_token_is_unauthenticated(protected: Protected) -> None:
    code, details, reason = await refusal(protected.whoami())
    assert code is grpc.StatusCode.UNAUTHENTICATED
    assert details == reason == "TOKEN_MISSING"


async def test_a_userservice_token_reaches_the_handler(protected: Protected) -> None:
    caller = bearer(protected.session.access_token)
    assert await protected.whoami(caller) == protected.user_id.encode()

    stream = protected.channel.unary_stream(WHOAMI_STREAM, None, None)(b"", metadata=caller)
    assert [message async for message in stream] == [protected.user_id.encode()] * 2


async def test_bad_tokens_are_refused_with_their_reason(protected: Protected) -> None:
    expired = expired_access_token(protected.app, protected.session.tokens, protected.user_id)
    _, _, reason = await refusal(protected.whoami(bearer(expired)))
    assert reason == "TOKEN_EXPIRED"
    _, details, _ = await refusal(protected.whoami((("authorization", "Basic dXNlcg=="),)))
    assert details == "TOKEN_INVALID"
    _, details, _ = await refusal(protected.whoami(bearer("not.a.token")))
    assert details == "TOKEN_INVALID"


async def test_a_public_method_passes_without_a_token(protected: Protected) -> None:
    stub = health_pb2_grpc.HealthStub(protected.channel)
    response = await stub.Check(health_pb2.HealthCheckRequest())
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_streaming_method_that_writes_to_its_context_is_protected(
    protected: Protected,
) -> None:
    stub = health_pb2_grpc.HealthStub(protected.channel)
    code, _, reason = await refusal(stub.Watch(health_pb2.HealthCheckRequest()).read())
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING")

    watch = stub.Watch(
        health_pb2.HealthCheckRequest(), metadata=bearer(protected.session.access_token)
    )
    first = await watch.read()
    watch.cancel()
    assert first.status == health_pb2.HealthCheckResponse.SERVING
