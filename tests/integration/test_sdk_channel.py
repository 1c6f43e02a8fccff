"""The SDK channel: its retry policy, and TLS / mutual TLS through `TlsOptions`.

For retries, a real grpc.aio server built here plays a flaky replica: it answers userservice
method names with UNAVAILABLE a set number of times and counts the attempts it sees, so the tests
observe what gRPC's retry machinery actually sends. TLS runs against the real userservice with
certificates from a throwaway authority (trustme).
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import trustme

from tests.support.backends import backend_named
from tests.support.servers import serving, settings_for_test
from userservice.v1 import auth_pb2, user_pb2
from userservice_client import AsyncUserServiceClient, TlsOptions, UnavailableError

SERVER_NAME = "userservice.internal"


class FlakyReplica(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Fails each method with UNAVAILABLE `failures` times, then answers it."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts: collections.Counter[str] = collections.Counter()

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        method = handler_call_details.method

        async def behave(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            self.attempts[method] += 1
            if self.attempts[method] <= self.failures:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "replica restarting")
            if method.endswith("/GetUser") or method.endswith("/CreateUser"):
                return user_pb2.User(id="u-1").SerializeToString()
            return auth_pb2.TokenPair(access_token="t").SerializeToString()

        return grpc.unary_unary_rpc_method_handler(behave)


@pytest.fixture
async def replica() -> AsyncIterator[tuple[FlakyReplica, str]]:
    handler = FlakyReplica(failures=2)
    server = grpc.aio.server(handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield handler, f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_a_safe_read_is_retried_on_unavailable(replica: tuple[FlakyReplica, str]) -> None:
    handler, target = replica
    async with AsyncUserServiceClient(target) as client:
        user = await client.get_user("u-1")
    assert user.id == "u-1"
    assert handler.attempts["/userservice.v1.UserService/GetUser"] == 3


async def test_writes_and_logins_are_not_retried(replica: tuple[FlakyReplica, str]) -> None:
    handler, target = replica
    async with AsyncUserServiceClient(target) as client:
        with pytest.raises(UnavailableError):
            await client.create_user("someone@example.com", "quiet-harbour-lantern-47")
        with pytest.raises(UnavailableError):
            await client.login("someone@example.com", "quiet-harbour-lantern-47")
    assert handler.attempts["/userservice.v1.UserService/CreateUser"] == 1
    assert handler.attempts["/userservice.v1.AuthService/Login"] == 1


async def test_retries_stop_after_four_attempts() -> None:
    handler = FlakyReplica(failures=10)
    server = grpc.aio.server(handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with AsyncUserServiceClient(f"127.0.0.1:{port}") as client:
            with pytest.raises(UnavailableError):
                await client.get_user("u-1")
    finally:
        await server.stop(None)
    assert handler.attempts["/userservice.v1.UserService/GetUser"] == 4


def pem_pair(leaf: trustme.LeafCert, directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    return cert, key


async def test_mutual_tls_with_tls_options(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_cert, server_key = pem_pair(ca.issue_cert(SERVER_NAME), tmp_path, "server")
    client_cert, client_key = pem_pair(ca.issue_cert("billing"), tmp_path, "client")
    async with backend_named("embedded", str(tmp_path / "userservice.db")) as backend:
        settings = settings_for_test(
            backend,
            tmp_path,
            tls_cert_file=server_cert,
            tls_key_file=server_key,
            tls_client_ca_file=ca_file,
        )
        async with serving(settings) as (app, _):
            target = f"127.0.0.1:{app.port}"
            mutual = TlsOptions(
                ca_file=ca_file,
                cert_file=client_cert,
                key_file=client_key,
                server_name_override=SERVER_NAME,
            )
            async with AsyncUserServiceClient(target, tls=mutual) as client:
                assert (await client.get_jwks()).keys

            anonymous = TlsOptions(ca_file=ca_file, server_name_override=SERVER_NAME)
            async with AsyncUserServiceClient(target, tls=anonymous, timeout=2.0) as client:
                with pytest.raises(UnavailableError):
                    await client.get_jwks()


def test_a_client_certificate_needs_its_key() -> None:
    with pytest.raises(ValueError, match="cert_file and key_file"):
        TlsOptions(cert_file="client.crt")
