"""The `userservice` command: serve, migrate, health, keys generate, create-admin,
service-accounts."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import NoReturn

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import ValidationError

from server import cli_service_accounts
from server.cli_offline import run_offline
from server.config import Settings, SigningAlgorithm
from server.observability.logging import configure_logging
from server.repositories import migrations
from server.repositories.database import create_engine
from server.runner import run_loop, serve, serve_workers
from server.security.keys import generate_key
from server.startup_failures import report
from server.tls import channel_credentials
from server.wiring import Services


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, or exit 2 naming what is wrong."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = "USERSERVICE_" + "_".join(str(p) for p in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")
            lines.append(message if message.startswith("USERSERVICE_") else f"{name}: {message}")
        print("userservice: invalid configuration:\n  " + "\n  ".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


def _serve(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = load_settings(**overrides)
    configure_logging(level=settings.log_level, json_logs=settings.json_logs)
    if args.workers > 1:
        if settings.uses_memory_redis:
            print(
                "userservice: --workers above 1 needs a shared Redis: memory:// lives inside one "
                "process and would split revocations and rate limits between workers; "
                "set USERSERVICE_REDIS_URL",
                file=sys.stderr,
            )
            return 2
        if settings.port == 0:
            print("userservice: --workers above 1 needs a fixed --port", file=sys.stderr)
            return 2
        return serve_workers(settings, args.workers)
    return run_loop(serve(settings))


def _migrate(_args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(level=settings.log_level, json_logs=settings.json_logs)

    async def upgrade() -> int:
        engine = create_engine(settings)
        try:
            await migrations.upgrade_to_head(engine)
            print(f"schema at {await migrations.current_revision(engine)}")
        except Exception as exc:  # an operator's problem is one line; a bug keeps its trace
            if (status := report(exc, settings)) is None:
                raise
            return status
        finally:
            await engine.dispose()
        return 0

    return asyncio.run(upgrade())


async def check_health(
    address: str,
    service: str,
    timeout_seconds: float,
    credentials: grpc.ChannelCredentials | None = None,
    server_name: str | None = None,
) -> int:
    """0 when SERVING; 1 when not; 2 when the server could not be asked (grpc_health_probe-like)."""
    channel = (
        grpc.aio.insecure_channel(address)
        if credentials is None
        else grpc.aio.secure_channel(
            address,
            credentials,
            options=[("grpc.ssl_target_name_override", server_name)] if server_name else None,
        )
    )
    async with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = await stub.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_seconds
            )
        except grpc.aio.AioRpcError as exc:
            print(f"health check failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 2
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(f"{service or '(server)'}: {status}")
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1


def _keys_generate(args: argparse.Namespace) -> int:
    settings = load_settings()
    algorithm = SigningAlgorithm(args.algorithm) if args.algorithm else settings.jwt_algorithm
    directory = Path(args.dir) if args.dir else settings.keys_dir
    path = generate_key(directory, algorithm, now=dt.datetime.now(dt.UTC))
    print(f"wrote {path} ({algorithm.value}); it signs new tokens from the next start")
    return 0


def _read_password(env_name: str) -> str:
    """From the environment, else stdin (a prompt on a terminal); never from a flag."""
    if password := os.environ.get(env_name):
        return password
    if sys.stdin.isatty():
        try:
            first = getpass.getpass("Password: ")
            again = getpass.getpass("Again: ")
        except EOFError:  # Ctrl-D at the prompt
            if sys.stderr.isatty():
                print(file=sys.stderr)  # end the prompt's line
            _exit_with(2, f"no password given: type it, pipe it on stdin or set {env_name}")
        if first != again:
            _exit_with(2, "the passwords differ")
        return first
    line = sys.stdin.readline()
    if not line:
        _exit_with(2, f"no password given: pipe it on stdin or set {env_name}")
    return line.rstrip("\r\n")


def _exit_with(status: int, message: str) -> NoReturn:
    print(f"userservice: {message}", file=sys.stderr)
    raise SystemExit(status)


def _create_admin(args: argparse.Namespace) -> int:
    settings = load_settings()
    password = _read_password("USERSERVICE_ADMIN_PASSWORD")

    async def create(services: Services) -> None:
        user = await services.users.bootstrap_admin(
            email=args.email, password=password, display_name=args.display_name
        )
        print(f"created administrator {user.email} ({user.id})")

    return run_offline(settings, create)


def _health(args: argparse.Namespace) -> int:
    credentials = None
    if args.tls or args.ca_file or args.cert_file:
        credentials = channel_credentials(
            Path(args.ca_file) if args.ca_file else None,
            Path(args.cert_file) if args.cert_file else None,
            Path(args.key_file) if args.key_file else None,
        )
    return asyncio.run(
        check_health(args.address, args.service, args.timeout, credentials, args.server_name)
    )


def _version() -> str:
    """The installed distribution's version (pyproject.toml), as pip and operators see it."""
    try:
        return metadata.version("userservice")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="userservice", description="User and authentication service over gRPC."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser("serve", help="run the gRPC server")
    serve_cmd.add_argument("--host", help="bind address (default: USERSERVICE_HOST)")
    serve_cmd.add_argument("--port", type=int, help="port; 0 picks one (default: USERSERVICE_PORT)")
    serve_cmd.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    serve_cmd.set_defaults(run=_serve)

    migrate_cmd = commands.add_parser("migrate", help="apply database migrations up to head")
    migrate_cmd.set_defaults(run=_migrate)

    health_cmd = commands.add_parser("health", help="ask a server's health; exit 0 when SERVING")
    health_cmd.add_argument("--address", default="127.0.0.1:50051")
    health_cmd.add_argument(
        "--service", default="", help='service name; "" (default) is the server as a whole'
    )
    health_cmd.add_argument("--timeout", type=float, default=3.0, help="seconds")
    health_cmd.add_argument("--tls", action="store_true", help="use TLS (system roots)")
    health_cmd.add_argument("--ca-file", help="TLS: CA bundle that signed the server certificate")
    health_cmd.add_argument("--cert-file", help="mutual TLS: client certificate")
    health_cmd.add_argument("--key-file", help="mutual TLS: client private key")
    health_cmd.add_argument(
        "--server-name", help="TLS: the name the certificate must carry, if not the address's host"
    )
    health_cmd.set_defaults(run=_health)

    keys_cmd = commands.add_parser("keys", help="signing keys")
    keys_sub = keys_cmd.add_subparsers(dest="keys_command", required=True)
    generate_cmd = keys_sub.add_parser("generate", help="write a new signing key (the new signer)")
    generate_cmd.add_argument("--algorithm", choices=[a.value for a in SigningAlgorithm])
    generate_cmd.add_argument("--dir", help="directory (default: USERSERVICE_KEYS_DIR)")
    generate_cmd.set_defaults(run=_keys_generate)

    admin_cmd = commands.add_parser(
        "create-admin",
        help="create an administrator; password from USERSERVICE_ADMIN_PASSWORD or stdin",
    )
    admin_cmd.add_argument("--email", required=True)
    admin_cmd.add_argument("--display-name", default="Administrator")
    admin_cmd.set_defaults(run=_create_admin)
    cli_service_accounts.add_parser(commands, load_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
