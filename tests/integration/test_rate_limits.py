"""Brute-force limits: failed logins per account and per client IP, sign-ups per IP, and the
client IP itself (x-forwarded-for believed only from a trusted proxy).

Each test runs a server with small limits on each backend. Outcomes are read as a client reads
them: the status code, the ErrorInfo reason and the RetryInfo delay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from google.rpc import error_details_pb2

from tests.support.backends import Backend
from tests.support.flows import (
    PASSWORD,
    auth,
    bearer,
    create_user,
    rpc_failure,
    signed_in_admin,
    unique_email,
    users,
)
from tests.support.rich_errors import RichError, rich_error
from tests.support.servers import serving, settings_for_test
from userservice.v1 import auth_pb2, user_pb2

WINDOW_SECONDS = 120
SIGNUP_WINDOW_SECONDS = 600
WRONG = "wrong-password-entirely-1"
OK = "OK"
LIMITED = "RATE_LIMITED"
DENIED = "INVALID_CREDENTIALS"


def limited_settings(backend: Backend, tmp_path: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "login_failures_per_account": 3,
        "login_failures_per_ip": 50,
        "login_failure_window_seconds": WINDOW_SECONDS,
        "signups_per_ip": 5,
        "signup_window_seconds": SIGNUP_WINDOW_SECONDS,
    }
    values.update(overrides)
    return settings_for_test(backend, tmp_path, **values)


async def attempt(
    channel: grpc.aio.Channel, email: str, password: str, *, forwarded_for: str = ""
) -> RichError | auth_pb2.TokenPair:
    metadata = (("x-forwarded-for", forwarded_for),) if forwarded_for else ()
    try:
        return await auth(channel).Login(
            auth_pb2.LoginRequest(email=email, password=password), metadata=metadata
        )
    except grpc.aio.AioRpcError as failed:
        return rich_error(failed)


def outcome(result: RichError | auth_pb2.TokenPair) -> str:
    """OK for a token pair, else the ErrorInfo reason (checked against its status code)."""
    if isinstance(result, auth_pb2.TokenPair):
        return OK
    reason = result.error_info.reason
    expected = {
        LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
        DENIED: grpc.StatusCode.UNAUTHENTICATED,
    }
    assert result.code is expected.get(reason, result.code), (reason, result.code)
    return reason


async def outcomes(
    channel: grpc.aio.Channel, email: str, password: str, times: int, *, forwarded_for: str = ""
) -> list[str]:
    return [
        outcome(await attempt(channel, email, password, forwarded_for=forwarded_for))
        for _ in range(times)
    ]


def retry_delay_seconds(error: RichError) -> float:
    retry = error.detail(error_details_pb2.RetryInfo)
    assert retry is not None, f"no RetryInfo in {error.status}"
    return retry.retry_delay.ToTimedelta().total_seconds()


async def test_the_attempt_after_three_failures_is_throttled_even_with_the_right_password(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving(limited_settings(backend, tmp_path)) as (_, channel):
        account = await create_user(channel)

        failures = await outcomes(channel, account.email, WRONG, 3)
        throttled = await attempt(channel, account.email, PASSWORD)

        assert failures == [DENIED] * 3
        assert isinstance(throttled, RichError)
        assert (throttled.code, throttled.error_info.reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            LIMITED,
        )
        assert 0 < retry_delay_seconds(throttled) <= WINDOW_SECONDS


async def test_an_unknown_email_is_throttled_exactly_like_a_known_one(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving(limited_settings(backend, tmp_path)) as (_, channel):
        known = (await create_user(channel)).email
        unknown = unique_email("nobody")

        known_results = [await attempt(channel, known, WRONG) for _ in range(4)]
        unknown_results = [await attempt(channel, unknown, WRONG) for _ in range(4)]

        assert [outcome(r) for r in known_results] == [DENIED] * 3 + [LIMITED]
        assert [outcome(r) for r in unknown_results] == [DENIED] * 3 + [LIMITED]
        errors = [r for r in known_results + unknown_results if isinstance(r, RichError)]
        denials = {(e.code, e.message, e.error_info.reason) for e in errors[:3] + errors[4:7]}
        assert len(denials) == 1
        for throttled in (errors[3], errors[7]):
            assert 0 < retry_delay_seconds(throttled) <= WINDOW_SECONDS


async def test_a_successful_login_resets_the_account_counter(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving(limited_settings(backend, tmp_path)) as (_, channel):
        account = await create_user(channel)

        before = await outcomes(channel, account.email, WRONG, 2)
        success = await outcomes(channel, account.email, PASSWORD, 1)
        # Without the reset, the second of these would be the fourth failure: throttled.
        after = await outcomes(channel, account.email, WRONG, 4)

        assert before == [DENIED] * 2
        assert success == [OK]
        assert after == [DENIED] * 3 + [LIMITED]


async def test_failures_over_many_emails_exhaust_the_client_ip(
    backend: Backend, tmp_path: Path
) -> None:
    settings = limited_settings(
        backend, tmp_path, login_failures_per_account=100, login_failures_per_ip=4
    )
    async with serving(settings) as (_, channel):
        account = await create_user(channel)

        spread = [
            outcome(await attempt(channel, unique_email(f"spray{i}"), WRONG)) for i in range(4)
        ]
        throttled = await attempt(channel, account.email, PASSWORD)

        assert spread == [DENIED] * 4
        assert outcome(throttled) == LIMITED
        assert isinstance(throttled, RichError)
        assert 0 < retry_delay_seconds(throttled) <= WINDOW_SECONDS


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(
    backend: Backend, tmp_path: Path
) -> None:
    settings = limited_settings(
        backend, tmp_path, login_failures_per_account=100, login_failures_per_ip=2
    )
    async with serving(settings) as (_, channel):
        account = await create_user(channel)

        spoofed = [
            outcome(await attempt(channel, unique_email(), WRONG, forwarded_for="1.2.3.4"))
            for _ in range(2)
        ]
        # A new forwarded address changes nothing: the peer, 127.0.0.1, is what is counted.
        elsewhere = await attempt(channel, account.email, PASSWORD, forwarded_for="5.6.7.8")
        direct = await attempt(channel, account.email, PASSWORD)

        assert spoofed == [DENIED] * 2
        assert outcome(elsewhere) == LIMITED
        assert outcome(direct) == LIMITED


async def test_x_forwarded_for_from_a_trusted_proxy_gives_each_client_its_own_counter(
    backend: Backend, tmp_path: Path
) -> None:
    settings = limited_settings(
        backend,
        tmp_path,
        login_failures_per_account=100,
        login_failures_per_ip=2,
        trusted_proxies=["127.0.0.1"],
    )
    async with serving(settings) as (_, channel):
        account = await create_user(channel)

        first = await outcomes(channel, unique_email(), WRONG, 3, forwarded_for="1.2.3.4")
        second = await outcomes(channel, unique_email(), WRONG, 3, forwarded_for="5.6.7.8")
        # The proxy's own address has a counter of its own, untouched by its clients'.
        proxy = await attempt(channel, account.email, PASSWORD)
        # The nearest untrusted hop is the client; what it claims about hops before is not.
        chained = await attempt(channel, account.email, PASSWORD, forwarded_for="1.2.3.4, 9.9.9.9")

        assert first == [DENIED, DENIED, LIMITED]
        assert second == [DENIED, DENIED, LIMITED]
        assert outcome(proxy) == OK
        assert isinstance(chained, auth_pb2.TokenPair)
        sessions = await auth(channel).ListSessions(
            auth_pb2.ListSessionsRequest(user_id="me"), metadata=bearer(chained.access_token)
        )
        addresses = {s.id: s.client_ip for s in sessions.sessions}
        assert addresses[chained.session_id] == "9.9.9.9"


async def test_anonymous_sign_ups_past_the_limit_per_ip_are_throttled(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving(limited_settings(backend, tmp_path, signups_per_ip=3)) as (app, channel):
        for _ in range(3):
            await create_user(channel)

        error = await rpc_failure(create_user(channel))

        assert (error.code, error.error_info.reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            LIMITED,
        )
        assert 0 < retry_delay_seconds(error) <= SIGNUP_WINDOW_SECONDS
        # An administrator creating accounts is not a sign-up and is not throttled.
        admin = await signed_in_admin(app, channel)
        created = await users(channel).CreateUser(
            user_pb2.CreateUserRequest(email=unique_email("by-admin"), password=PASSWORD),
            metadata=admin.metadata,
        )
        assert created.id


async def test_with_sign_up_closed_an_anonymous_create_user_needs_a_token(
    backend: Backend, tmp_path: Path
) -> None:
    async with serving(limited_settings(backend, tmp_path, signup_enabled=False)) as (
        app,
        channel,
    ):
        error = await rpc_failure(create_user(channel))

        assert (error.code, error.error_info.reason) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "TOKEN_MISSING",
        )
        admin = await signed_in_admin(app, channel)
        created = await users(channel).CreateUser(
            user_pb2.CreateUserRequest(email=unique_email("by-admin"), password=PASSWORD),
            metadata=admin.metadata,
        )
        assert created.id


async def test_every_rate_limit_key_in_redis_expires(
    postgres_backend: Backend, tmp_path: Path
) -> None:
    settings = limited_settings(postgres_backend, tmp_path, signups_per_ip=2)
    async with serving(settings) as (app, channel):
        await throttle_everything(channel)

        prefix = f"{settings.redis_key_prefix}rl:"
        keys = [key async for key in app.redis.scan_iter(match=f"{prefix}*", count=500)]
        names = [key.decode() if isinstance(key, bytes) else key for key in keys]
        assert {name.removeprefix(prefix).split(":")[0] for name in names} == {
            "login_account",
            "login_account_ip",
            "login_ip",
            "signup_ip",
        }
        limits = {"signup_ip": SIGNUP_WINDOW_SECONDS}
        for name in names:
            ttl = await app.redis.ttl(name)
            window = limits.get(name.removeprefix(prefix).split(":")[0], WINDOW_SECONDS)
            assert 0 < ttl <= window, (name, ttl)


async def throttle_everything(channel: grpc.aio.Channel) -> None:
    """Drives every limiter through its paths: counted, refused, reset."""
    account = await create_user(channel)
    await create_user(channel)
    assert (await rpc_failure(create_user(channel))).error_info.reason == LIMITED
    assert await outcomes(channel, account.email, WRONG, 2) == [DENIED] * 2
    assert await outcomes(channel, account.email, PASSWORD, 1) == [OK]
    assert await outcomes(channel, account.email, WRONG, 4) == [DENIED] * 3 + [LIMITED]
    assert await outcomes(channel, unique_email("nobody"), WRONG, 4) == [DENIED] * 3 + [LIMITED]
