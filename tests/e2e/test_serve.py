"""`userservice serve`, `health` and `migrate` as an operator runs them: the real process."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import asyncpg
import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.repositories.migrations import head_revision
from tests.support.backends import REDIS_URL, postgres_database, redis_prefix
from tests.support.process import (
    embedded_env,
    grpcurl_command,
    run_userservice,
    running_service,
)
from userservice.v1 import auth_pb2, auth_pb2_grpc, user_pb2, user_pb2_grpc

pytestmark = pytest.mark.e2e

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
GRACE_SECONDS = 2.0
# How long, beyond the grace period, closing pools and exiting may take.
EXIT_MARGIN_SECONDS = 5.0


def free_port() -> int:
    """A port nothing listens on right now (bound to 0, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def health(address: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_userservice(["health", "--address", address, "--timeout", "3", *extra], {}, cwd=cwd)


def grpcurl(
    address: str, *args: str, flags: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`grpcurl -plaintext [flags] address [args]`."""
    return subprocess.run(
        [*grpcurl_command(), "-plaintext", "-max-time", "10", *flags, address, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_embedded_default_serves_and_the_health_command_says_so(tmp_path: Path) -> None:
    with running_service(embedded_env(tmp_path), cwd=tmp_path) as service:
        address = f"127.0.0.1:{service.port}"

        server = health(address, tmp_path)
        assert server.returncode == 0, server.stderr
        assert server.stdout.strip() == "(server): SERVING"

        users = health(address, tmp_path, "--service", "userservice.v1.UserService")
        assert users.returncode == 0, users.stderr
        assert users.stdout.strip() == "userservice.v1.UserService: SERVING"

    [listening] = service.events("listening")
    assert listening["environment"] == "development"
    assert listening["ready"] is True


def test_the_health_command_fails_when_nothing_listens(tmp_path: Path) -> None:
    result = health(f"127.0.0.1:{free_port()}", tmp_path)

    assert result.returncode == 2
    assert "UNAVAILABLE" in result.stderr
    assert "SERVING" not in result.stdout


def test_grpcurl_finds_every_service_by_reflection(tmp_path: Path) -> None:
    with running_service(embedded_env(tmp_path), cwd=tmp_path) as service:
        address = f"127.0.0.1:{service.port}"

        listed = grpcurl(address, "list")
        check = grpcurl(address, "grpc.health.v1.Health/Check")
        described = grpcurl(address, "describe", "userservice.v1.UserService")

    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) >= {
        "userservice.v1.UserService",
        "userservice.v1.AuthService",
        "userservice.v1.ServiceAccountService",
        "userservice.v1.EventService",
        "grpc.health.v1.Health",
    }
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout) == {"status": "SERVING"}
    assert described.returncode == 0, described.stderr
    assert "service UserService {" in described.stdout
    assert "rpc GetUser ( .userservice.v1.GetUserRequest )" in described.stdout


def test_issue_service_token_with_unknown_credentials_answers_with_error_info(
    tmp_path: Path,
) -> None:
    # IssueServiceToken is public: no token is needed to reach the servicer, whose answer to
    # credentials it does not know is UNAUTHENTICATED with ErrorInfo.
    with running_service(embedded_env(tmp_path), cwd=tmp_path) as service:
        result = grpcurl(
            f"127.0.0.1:{service.port}",
            "userservice.v1.AuthService/IssueServiceToken",
            flags=(
                "-format-error",
                "-d",
                '{"client_id": "svc_unknown", "client_secret": "not-a-secret"}',
            ),
        )

    assert result.returncode == 64 + grpc.StatusCode.UNAUTHENTICATED.value[0], result.stderr
    status = json.loads(result.stderr)  # grpcurl writes the formatted error to stderr
    assert status["code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    [info] = status["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["reason"] == "INVALID_CREDENTIALS"
    assert info["domain"] == "userservice"


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


def test_a_taken_port_is_refused_naming_the_address(tmp_path: Path) -> None:
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    with running_service(embedded_env(first_dir), cwd=first_dir) as first:
        address = f"127.0.0.1:{first.port}"

        second = run_userservice(
            ["serve", "--host", "127.0.0.1", "--port", str(first.port)],
            embedded_env(second_dir),
            cwd=second_dir,
            timeout=15,
        )

        assert second.returncode == 2, second.stderr
        assert "cannot listen" in second.stderr
        assert address in second.stderr
        still_there = health(address, first_dir)
        assert still_there.returncode == 0, still_there.stderr
        assert first.process.poll() is None


@pytest.mark.parametrize(
    ("setting", "overrides"),
    [
        ("USERSERVICE_DATABASE_URL", {"environment": "production"}),
        ("USERSERVICE_PORT", {"port": "notanumber"}),
    ],
)
def test_invalid_configuration_exits_2_naming_the_setting(
    tmp_path: Path, setting: str, overrides: dict[str, str]
) -> None:
    # No --port on the command line: the port comes from the environment.
    result = run_userservice(
        ["serve", "--host", "127.0.0.1"],
        embedded_env(tmp_path, **overrides),
        cwd=tmp_path,
        timeout=15,
    )

    assert result.returncode == 2
    assert "invalid configuration" in result.stderr
    assert setting in result.stderr


def test_workers_with_the_in_process_store_are_refused(tmp_path: Path) -> None:
    result = run_userservice(
        ["serve", "--host", "127.0.0.1", "--port", str(free_port()), "--workers", "2"],
        embedded_env(tmp_path),
        cwd=tmp_path,
        timeout=15,
    )

    assert result.returncode == 2
    assert "USERSERVICE_REDIS_URL" in result.stderr


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
                answer = await asyncio.to_thread(health, address, tmp_path, *extra)
                assert answer.returncode == 0, answer.stderr
                assert answer.stdout.strip().endswith(": SERVING")

            service.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(service.wait, GRACE_SECONDS + EXIT_MARGIN_SECONDS)

        assert code == 0, service.stderr
        assert len(service.events("stopped")) == 2, service.stderr


@pytest.mark.postgres
async def test_migrate_brings_a_fresh_postgres_database_to_head_and_can_run_again(
    tmp_path: Path,
) -> None:
    async with postgres_database() as database_url:
        env = embedded_env(tmp_path, database_url=database_url)

        first = await asyncio.to_thread(run_userservice, ["migrate"], env, cwd=tmp_path)
        second = await asyncio.to_thread(run_userservice, ["migrate"], env, cwd=tmp_path)

        connection = await asyncpg.connect(database_url.replace("+asyncpg", "", 1), timeout=5)
        try:
            revision = await connection.fetchval("SELECT version_num FROM alembic_version")
        finally:
            await connection.close()

    for result in (first, second):
        assert result.returncode == 0, result.stderr
        assert f"schema at {head_revision()}" in result.stdout
    assert revision == head_revision()
