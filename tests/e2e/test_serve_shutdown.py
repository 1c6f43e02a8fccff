"""`userservice serve` stopping on SIGTERM: health drains first, calls in flight complete."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.backends import REDIS_URL, postgres_database, redis_prefix
from tests.support.ports import free_port
from tests.support.process import embedded_env, run_health, running_service
from userservice.v1 import auth_pb2, auth_pb2_grpc, user_pb2, user_pb2_grpc

pytestmark = pytest.mark.e2e

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
GRACE_SECONDS = 2.0
# How long, beyond the grace period, closing pools and exiting may take.
EXIT_MARGIN_SECONDS = 5.0


async def test_sigterm_reports_not_serving_refuses_new_calls_and_exits_zero(
    tmp_path: Path,
) -> None:
    env = embedded_env(tmp_path, shutdown_grace_seconds=str(GRACE_SECONDS))
    with running_service(env, cwd=tmp_path) as service:
        address = f"127.0.0.1:{service.port}"
        async with grpc.aio.insecure_channel(address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            first = await asyncio.wait_for(watch.read(), 5)
            assert first.status == SERVING

            service.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            second = await asyncio.wait_for(watch.read(), 5)
            assert second.status == NOT_SERVING

            async with grpc.aio.insecure_channel(address) as fresh:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await health_pb2_grpc.HealthStub(fresh).Check(
                        health_pb2.HealthCheckRequest(), timeout=3
                    )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

            # The Watch stream was still open: the server ends it cleanly (OK) as it stops,
            # rather than letting it hold the grace period.
            code = await asyncio.to_thread(service.wait, GRACE_SECONDS + EXIT_MARGIN_SECONDS)
            elapsed = time.monotonic() - signalled
            assert await asyncio.wait_for(watch.code(), 5) == grpc.StatusCode.OK

    assert code == 0, service.stderr
    assert elapsed < GRACE_SECONDS + EXIT_MARGIN_SECONDS
    [stopping] = service.events("stopping")
    assert stopping["grace_seconds"] == GRACE_SECONDS
    assert service.events("stopped"), service.stderr


async def test_a_call_in_flight_at_sigterm_completes_and_the_process_exits_zero(
    tmp_path: Path,
) -> None:
    # A slow Login (argon2 with many passes) is the call in flight; "rpc started" (a debug
    # line) says when the server has it, so SIGTERM lands mid-call without guessing.
    env = embedded_env(
        tmp_path,
        shutdown_grace_seconds="10",
        argon2_time_cost="30",
        log_level="DEBUG",
    )
    credentials = {"email": "inflight@example.com", "password": "a long enough passphrase"}
    with running_service(env, cwd=tmp_path) as service:
        address = f"127.0.0.1:{service.port}"
        async with grpc.aio.insecure_channel(address) as channel:
            await user_pb2_grpc.UserServiceStub(channel).CreateUser(
                user_pb2.CreateUserRequest(**credentials), timeout=30
            )
            login = asyncio.ensure_future(
                auth_pb2_grpc.AuthServiceStub(channel).Login(
                    auth_pb2.LoginRequest(**credentials), timeout=30
                )
            )
            started = await asyncio.to_thread(service.wait_for_events, "rpc started", 2, 15)
            assert started[-1]["method"].endswith("/Login")
            assert not login.done()

            service.send_signal(signal.SIGTERM)
            pair = await login

            async with grpc.aio.insecure_channel(address) as fresh:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await health_pb2_grpc.HealthStub(fresh).Check(
                        health_pb2.HealthCheckRequest(), timeout=3
                    )
            code = await asyncio.to_thread(service.wait, 15)

    assert pair.access_token
    assert pair.token_type == "Bearer"
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert code == 0, service.stderr
    [login_line] = [e for e in service.events("rpc") if e["method"].endswith("/Login")]
    assert login_line["code"] == "OK"


async def test_calls_sent_just_before_sigterm_complete_while_health_drains_first(
    tmp_path: Path,
) -> None:
    # Two-phase shutdown: NOT_SERVING while still serving for the drain, then stop accepting.
    # grpc's stop alone cancels calls that have not reached a handler yet (most of these).
    env = embedded_env(
        tmp_path,
        shutdown_drain_seconds="1.5",
        shutdown_grace_seconds="10",
        login_failures_per_account_and_ip="1000",
        login_failures_per_account="1000",
        # Every login sent is to complete, not to be refused by the hashing pool's admission.
        hashing_queue_per_thread="1000",
    )
    credentials = {"email": "drain@example.com", "password": "a long enough passphrase"}
    with running_service(env, cwd=tmp_path) as service:
        address = f"127.0.0.1:{service.port}"
        async with grpc.aio.insecure_channel(address) as channel:
            await user_pb2_grpc.UserServiceStub(channel).CreateUser(
                user_pb2.CreateUserRequest(**credentials), timeout=30
            )
            logins = [
                asyncio.ensure_future(
                    auth_pb2_grpc.AuthServiceStub(channel).Login(
                        auth_pb2.LoginRequest(**credentials), timeout=30
                    )
                )
                for _ in range(30)
            ]
            await asyncio.sleep(0.001)
            service.send_signal(signal.SIGTERM)

            # During the drain a new connection is still answered: health says NOT_SERVING
            # (once the signal is handled), and an ordinary call is served.
            async with grpc.aio.insecure_channel(address) as fresh:
                health = health_pb2_grpc.HealthStub(fresh)
                status = SERVING
                async with asyncio.timeout(1.0):
                    while status != NOT_SERVING:
                        status = (await health.Check(health_pb2.HealthCheckRequest())).status
                jwks = await auth_pb2_grpc.AuthServiceStub(fresh).GetJwks(
                    auth_pb2.GetJwksRequest(), timeout=3
                )
            answers = await asyncio.gather(*logins, return_exceptions=True)
            code = await asyncio.to_thread(service.wait, 20)

    failed = [a for a in answers if isinstance(a, BaseException)]
    assert failed == []
    assert jwks.keys
    assert code == 0, service.stderr
    assert service.events("draining")


@pytest.mark.postgres
async def test_two_workers_on_postgres_and_redis_share_the_port_and_stop_on_sigterm(
    tmp_path: Path,
) -> None:
    async with postgres_database() as database_url, redis_prefix() as prefix:
        env = embedded_env(
            tmp_path,
            database_url=database_url,
            redis_url=REDIS_URL,
            redis_key_prefix=prefix,
            migrate_on_start="true",
            shutdown_grace_seconds=str(GRACE_SECONDS),
        )
        port = free_port()
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
        with running_service(env, args, cwd=tmp_path, listening=2) as service:
            assert [entry["port"] for entry in service.events("listening")] == [port, port]
            address = f"127.0.0.1:{port}"
            for extra in ((), ("--service", "userservice.v1.UserService")):
                answer = await asyncio.to_thread(run_health, address, tmp_path, *extra)
                assert answer.returncode == 0, answer.stderr
                assert answer.stdout.strip().endswith(": SERVING")

            service.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(service.wait, GRACE_SECONDS + EXIT_MARGIN_SECONDS)

        assert code == 0, service.stderr
        assert len(service.events("stopped")) == 2, service.stderr
