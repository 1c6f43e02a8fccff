"""The README's protected-service example works as written, against a real userservice.

tests/typing/readme_example.py holds the code README.md shows; here its `serve` runs with a
tiny `demo.v1.Demo/WhoAmI` method whose handler answers with `caller_email`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from tests.support.flows import bearer
from tests.support.ports import free_port
from tests.support.sdk import embedded_app, sdk_client, signed_up, target
from tests.typing.readme_example import caller_email, serve
from userservice_client import AsyncUserServiceClient, LoginSession

WHOAMI = "/demo.v1.Demo/WhoAmI"
CALL_TIMEOUT_SECONDS = 10.0


async def test_the_readme_service_knows_its_caller_and_reads_its_profile(tmp_path: Path) -> None:
    async with embedded_app(tmp_path) as app, sdk_client(app) as client:
        email = await signed_up(client, "reader")
        session = client.credentials
        assert isinstance(session, LoginSession)
        servers: list[grpc.aio.Server] = []

        def add_servicers(server: grpc.aio.Server, users: AsyncUserServiceClient) -> None:
            async def whoami(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
                return (await caller_email(users, context)).encode()

            handlers = {"WhoAmI": grpc.unary_unary_rpc_method_handler(whoami)}
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler("demo.v1.Demo", handlers),)
            )
            servers.append(server)

        address = f"127.0.0.1:{free_port()}"
        serving = asyncio.create_task(serve(target(app), address, add_servicers))
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                call = channel.unary_unary(WHOAMI, None, None)  # raw bytes both ways
                answer = await call(
                    b"",
                    metadata=bearer(session.access_token),
                    wait_for_ready=True,
                    timeout=CALL_TIMEOUT_SECONDS,
                )
                with pytest.raises(grpc.aio.AioRpcError) as anonymous:
                    await call(b"", timeout=CALL_TIMEOUT_SECONDS)
        finally:
            for server in servers:
                await server.stop(None)
            await asyncio.wait_for(serving, CALL_TIMEOUT_SECONDS)

    assert answer == email.encode()
    assert anonymous.value.code() is grpc.StatusCode.UNAUTHENTICATED
