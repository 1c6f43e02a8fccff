"""Transport security: TLS, mutual TLS, and a certificate rotated while the server runs.

Certificates come from throwaway authorities (trustme). Clients are plain grpcio channels that
trust one authority each; every channel keeps its own subchannel pool, so a "new channel" is a
new connection and a new handshake, never one borrowed from an earlier channel.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.app import Application, running_application
from server.config import Settings
from tests.support.backends import Backend, backend_named
from tests.support.process import embedded_env, run_userservice, running_service
from tests.support.servers import settings_for_test

SERVING = health_pb2.HealthCheckResponse.SERVING
# Bounds a broken build: a refused handshake answers UNAVAILABLE at once, well inside this.
CALL_TIMEOUT_SECONDS = 5.0
SERVER_NAME = "localhost"


@dataclass(frozen=True, slots=True)
class Authority:
    """A certificate authority and the PEM file a client or server trusts it through."""

    ca: trustme.CA
    pem: Path


@dataclass(frozen=True, slots=True)
class KeyPair:
    cert: Path
    key: Path


def authority(directory: Path, name: str) -> Authority:
    ca = trustme.CA(organization_name=name)
    pem = directory / f"{name}.pem"
    ca.cert_pem.write_to_path(str(pem))
    return Authority(ca, pem)


def issue(issuer: Authority, directory: Path, name: str, *identities: str) -> KeyPair:
    leaf = issuer.ca.issue_cert(*identities)
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    leaf.cert_chain_pems[0].write_to_path(str(pair.cert))
    leaf.private_key_pem.write_to_path(str(pair.key))
    return pair


def server_pair(issuer: Authority, directory: Path, name: str = "server") -> KeyPair:
    return issue(issuer, directory, name, SERVER_NAME, "127.0.0.1")


def replace_in_place(target: Path, source: Path, *, mtime: float) -> None:
    """As a certificate manager rotates a file: a staged copy renamed over it, a later mtime."""
    staged = target.with_name(f".{target.name}.staged")
    staged.write_bytes(source.read_bytes())
    os.replace(staged, target)
    # Explicit, so coarse filesystem timestamps cannot leave the mtime as it was.
    os.utime(target, (mtime, mtime))


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Backend]:
    async with backend_named("embedded", str(tmp_path / "userservice.db")) as backend:
        yield backend


@asynccontextmanager
async def tls_server(
    backend: Backend, workdir: Path, pair: KeyPair, **overrides: Any
) -> AsyncIterator[Application]:
    settings: Settings = settings_for_test(
        backend, workdir, tls_cert_file=pair.cert, tls_key_file=pair.key, **overrides
    )
    async with running_application(settings, shutdown_grace=1.0) as app:
        yield app


def secure_channel(
    port: int, trusted: Authority, client: KeyPair | None = None
) -> grpc.aio.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=trusted.pem.read_bytes(),
        private_key=client.key.read_bytes() if client else None,
        certificate_chain=client.cert.read_bytes() if client else None,
    )
    return grpc.aio.secure_channel(
        f"{SERVER_NAME}:{port}", credentials, options=[("grpc.use_local_subchannel_pool", 1)]
    )


def plaintext_channel(port: int) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
    )


async def server_health(channel: grpc.aio.Channel) -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_SECONDS
    )
    return response.status


async def refusal(channel: grpc.aio.Channel) -> grpc.StatusCode:
    """The status of a health check that must fail; the test fails if it succeeds."""
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await server_health(channel)
    return failed.value.code()


# --- TLS ---------------------------------------------------------------------------------------


async def test_a_client_trusting_the_servers_authority_is_served_over_tls(
    embedded: Backend, tmp_path: Path
) -> None:
    issuer = authority(tmp_path, "server-ca")
    async with (
        tls_server(embedded, tmp_path, server_pair(issuer, tmp_path)) as app,
        secure_channel(app.port, issuer) as channel,
    ):
        assert await server_health(channel) == SERVING


async def test_a_plaintext_client_cannot_talk_to_the_tls_port(
    embedded: Backend, tmp_path: Path
) -> None:
    issuer = authority(tmp_path, "server-ca")
    async with (
        tls_server(embedded, tmp_path, server_pair(issuer, tmp_path)) as app,
        plaintext_channel(app.port) as channel,
    ):
        assert await refusal(channel) is grpc.StatusCode.UNAVAILABLE


async def test_a_client_trusting_another_authority_rejects_the_server(
    embedded: Backend, tmp_path: Path
) -> None:
    issuer = authority(tmp_path, "server-ca")
    stranger = authority(tmp_path, "stranger-ca")
    async with (
        tls_server(embedded, tmp_path, server_pair(issuer, tmp_path)) as app,
        secure_channel(app.port, stranger) as channel,
    ):
        assert await refusal(channel) is grpc.StatusCode.UNAVAILABLE


# --- Mutual TLS --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MutualTls:
    port: int
    server_ca: Authority
    client_ca: Authority
    workdir: Path


@pytest.fixture
async def mutual_tls(embedded: Backend, tmp_path: Path) -> AsyncIterator[MutualTls]:
    """A server whose certificate comes from one authority and its clients' from another."""
    server_ca = authority(tmp_path, "server-ca")
    client_ca = authority(tmp_path, "client-ca")
    async with tls_server(
        embedded, tmp_path, server_pair(server_ca, tmp_path), tls_client_ca_file=client_ca.pem
    ) as app:
        yield MutualTls(app.port, server_ca, client_ca, tmp_path)


async def test_mutual_tls_refuses_a_client_without_a_certificate(mutual_tls: MutualTls) -> None:
    async with secure_channel(mutual_tls.port, mutual_tls.server_ca) as channel:
        assert await refusal(channel) is grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_refuses_a_client_certificate_from_another_authority(
    mutual_tls: MutualTls,
) -> None:
    stranger = authority(mutual_tls.workdir, "stranger-ca")
    impostor = issue(stranger, mutual_tls.workdir, "impostor", "billing.internal")

    async with secure_channel(mutual_tls.port, mutual_tls.server_ca, impostor) as channel:
        assert await refusal(channel) is grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_serves_a_client_certificate_from_the_client_authority(
    mutual_tls: MutualTls,
) -> None:
    client = issue(mutual_tls.client_ca, mutual_tls.workdir, "client", "billing.internal")

    async with secure_channel(mutual_tls.port, mutual_tls.server_ca, client) as channel:
        assert await server_health(channel) == SERVING


# --- Rotation ----------------------------------------------------------------------------------


async def test_a_rotated_certificate_serves_new_connections_while_open_ones_keep_working(
    embedded: Backend, tmp_path: Path
) -> None:
    first_ca = authority(tmp_path, "first-ca")
    second_ca = authority(tmp_path, "second-ca")
    served = server_pair(first_ca, tmp_path)
    rotated = server_pair(second_ca, tmp_path, "rotated")

    async with (
        tls_server(embedded, tmp_path, served) as app,
        secure_channel(app.port, first_ca) as opened_before,
    ):
        assert await server_health(opened_before) == SERVING

        later = max(served.cert.stat().st_mtime, served.key.stat().st_mtime) + 60
        replace_in_place(served.key, rotated.key, mtime=later)
        replace_in_place(served.cert, rotated.cert, mtime=later)

        # No waiting: the files are read again at the very next handshake.
        async with secure_channel(app.port, second_ca) as trusting_the_new:
            assert await server_health(trusting_the_new) == SERVING
        async with secure_channel(app.port, first_ca) as trusting_the_old:
            assert await refusal(trusting_the_old) is grpc.StatusCode.UNAVAILABLE
        assert await server_health(opened_before) == SERVING


# --- The real process --------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_health_command_checks_a_tls_server_with_its_ca_file(tmp_path: Path) -> None:
    issuer = authority(tmp_path, "server-ca")
    pair = server_pair(issuer, tmp_path)
    env = embedded_env(tmp_path, tls_cert_file=str(pair.cert), tls_key_file=str(pair.key))

    with running_service(env, cwd=tmp_path) as service:
        over_tls = run_userservice(
            ["health", "--address", f"{SERVER_NAME}:{service.port}", "--ca-file", str(issuer.pem)],
            {},
            cwd=tmp_path,
        )
        in_plaintext = run_userservice(
            ["health", "--address", f"127.0.0.1:{service.port}", "--timeout", "3"],
            {},
            cwd=tmp_path,
        )

    assert over_tls.returncode == 0, over_tls.stderr
    assert over_tls.stdout.strip() == "(server): SERVING"
    assert in_plaintext.returncode == 2, in_plaintext.stderr
    assert "UNAVAILABLE" in in_plaintext.stderr
    assert "SERVING" not in in_plaintext.stdout
    [listening] = service.events("listening")
    assert listening["tls"] is True
