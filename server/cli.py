"""The `userservice` command: serve, migrate, health."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import ValidationError

from server.config import Settings
from server.observability.logging import configure_logging
from server.repositories import migrations
from server.repositories.database import create_engine
from server.runner import run_loop, serve, serve_workers


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
        finally:
            await engine.dispose()
        return 0

    return asyncio.run(upgrade())


async def check_health(address: str, service: str, timeout_seconds: float) -> int:
    """0 when SERVING; 1 when not; 2 when the server could not be asked (grpc_health_probe-like)."""
    async with grpc.aio.insecure_channel(address) as channel:
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


def _health(args: argparse.Namespace) -> int:
    return asyncio.run(check_health(args.address, args.service, args.timeout))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="userservice", description="User and authentication service over gRPC."
    )
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
    health_cmd.set_defaults(run=_health)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
