"""IPv6 callers: a server bound on [::1] records the plain address (grpc percent-encodes the
brackets of its peer string), believes a trusted IPv6 proxy's x-forwarded-for, and counts
per-IP limits by each client's /64."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from server.app import Application, running_application
from tests.support.backends import Backend
from tests.support.flows import PASSWORD, auth, bearer, create_user, unique_email
from tests.support.rich_errors import rich_error
from tests.support.servers import settings_for_test
from userservice.v1 import auth_pb2


def ipv6_loopback_problem() -> str | None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        return f"no IPv6 loopback on this machine ({exc})"
    return None


pytestmark = pytest.mark.skipif(
    ipv6_loopback_problem() is not None, reason=ipv6_loopback_problem() or ""
)


@asynccontextmanager
async def serving_on_ipv6(
    backend: Backend, tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[Application, grpc.aio.Channel]]:
    settings = settings_for_test(backend, tmp_path, host="::1", **overrides)
    async with (
        running_application(settings, shutdown_grace=1.0) as app,
        grpc.aio.insecure_channel(f"[::1]:{app.port}") as channel,
    ):
        yield app, channel


async def login_outcome(
    channel: grpc.aio.Channel, email: str, password: str, forwarded: str
) -> str:
    metadata = (("x-forwarded-for", forwarded),) if forwarded else ()
    try:
        await auth(channel).Login(
            auth_pb2.LoginRequest(email=email, password=password), metadata=metadata
        )
    except grpc.aio.AioRpcError as failed:
        return rich_error(failed).error_info.reason
    return "OK"


async def session_address(channel: grpc.aio.Channel, email: str, forwarded: str = "") -> str:
    metadata = (("x-forwarded-for", forwarded),) if forwarded else ()
    pair = await auth(channel).Login(
        auth_pb2.LoginRequest(email=email, password=PASSWORD), metadata=metadata
    )
    sessions = await auth(channel).ListSessions(
        auth_pb2.ListSessionsRequest(user_id="me"), metadata=bearer(pair.access_token)
    )
    return {s.id: s.client_ip for s in sessions.sessions}[pair.session_id]


async def test_an_ipv6_callers_session_records_its_plain_address(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving_on_ipv6(backend, tmp_path) as (_, channel):
        account = await create_user(channel)

        address = await session_address(channel, account.email)
        # Not trusted: what an untrusted peer claims to forward for is ignored.
        claimed = await session_address(channel, account.email, forwarded="2001:db8::9")

    assert address == "::1"
    assert claimed == "::1"


async def test_a_trusted_ipv6_proxys_x_forwarded_for_is_believed(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving_on_ipv6(backend, tmp_path, trusted_proxies=["::1"]) as (_, channel):
        account = await create_user(channel)

        forwarded = await session_address(channel, account.email, forwarded="2001:db8:1:2::7")
        chained = await session_address(channel, account.email, forwarded="192.0.2.1, ::1")

    assert forwarded == "2001:db8:1:2::7"
    assert chained == "192.0.2.1"  # ::1 is our own proxy; the hop before it is the client


async def test_clients_behind_an_ipv6_proxy_are_throttled_by_their_own_64(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving_on_ipv6(
        backend,
        tmp_path,
        trusted_proxies=["::1"],
        login_failures_per_ip=2,
        login_failures_per_account=100,
    ) as (_, channel):
        wrong = "wrong-password-entirely-1"
        # Two addresses of one /64 share a counter; another /64 and the proxy itself do not.
        same_64 = [
            await login_outcome(channel, unique_email(), wrong, "2001:db8:1:2::7"),
            await login_outcome(channel, unique_email(), wrong, "2001:db8:1:2::8"),
            await login_outcome(channel, unique_email(), wrong, "2001:db8:1:2::9"),
        ]
        other_64 = await login_outcome(channel, unique_email(), wrong, "2001:db8:1:3::7")
        account = await create_user(channel)
        proxy_itself = await login_outcome(channel, account.email, PASSWORD, "")

    assert same_64 == ["INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "RATE_LIMITED"]
    assert other_64 == "INVALID_CREDENTIALS"
    assert proxy_itself == "OK"
