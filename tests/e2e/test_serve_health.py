"""`userservice serve` answering health checks, `userservice health`, and grpcurl by reflection."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import grpc
import grpc.aio
import pytest

from tests.support.ports import free_port
from tests.support.process import embedded_env, grpcurl_command, run_health, running_service

pytestmark = pytest.mark.e2e


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

        server = run_health(address, tmp_path)
        assert server.returncode == 0, server.stderr
        assert server.stdout.strip() == "(server): SERVING"

        users = run_health(address, tmp_path, "--service", "userservice.v1.UserService")
        assert users.returncode == 0, users.stderr
        assert users.stdout.strip() == "userservice.v1.UserService: SERVING"

    [listening] = service.events("listening")
    assert listening["environment"] == "development"
    assert listening["ready"] is True


def test_the_health_command_fails_when_nothing_listens(tmp_path: Path) -> None:
    result = run_health(f"127.0.0.1:{free_port()}", tmp_path)

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
