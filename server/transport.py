"""The grpc.aio server: explicit options and a checked bind."""

from __future__ import annotations

import grpc
import grpc.aio

from server.config import Settings


class PortUnavailable(RuntimeError):
    """The address could not be bound (taken, or not ours to bind)."""


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def server_options(settings: Settings, *, reuse_port: bool) -> list[tuple[str, int]]:
    """Every transport limit, from settings (README, Configuration)."""
    return [
        # On by default in grpcio: a second server would silently share the port. Only workers of
        # one `serve --workers N` share it on purpose.
        ("grpc.so_reuseport", int(reuse_port)),
        ("grpc.max_receive_message_length", settings.max_receive_message_bytes),
        # grpc refuses metadata above the soft limit only at random (up to the hard limit, 1.25x
        # by default); the same value for both makes the limit exact.
        ("grpc.max_metadata_size", settings.max_metadata_bytes),
        ("grpc.absolute_max_metadata_size", settings.max_metadata_bytes),
        ("grpc.max_concurrent_streams", settings.max_concurrent_streams),
        # Load balancing: a client pinned to one replica moves after a GOAWAY, so a scale-out
        # gets traffic; in-flight calls get the grace (streams end at their lifetime before it).
        ("grpc.max_connection_age_ms", _ms(settings.max_connection_age_seconds)),
        ("grpc.max_connection_age_grace_ms", _ms(settings.max_connection_age_grace_seconds)),
        # Ping idle clients to find dead connections; refuse clients that ping too eagerly
        # (GOAWAY ENHANCE_YOUR_CALM "too_many_pings" after the strikes).
        ("grpc.keepalive_time_ms", _ms(settings.keepalive_time_seconds)),
        ("grpc.keepalive_timeout_ms", _ms(settings.keepalive_timeout_seconds)),
        ("grpc.keepalive_permit_without_calls", int(settings.keepalive_permit_without_calls)),
        (
            "grpc.http2.min_ping_interval_without_data_ms",
            settings.keepalive_min_time_seconds * 1000,
        ),
        ("grpc.http2.max_ping_strikes", settings.keepalive_max_ping_strikes),
    ]


def concurrent_rpc_limit(settings: Settings) -> int:
    """grpc's own limit counts streaming calls too: raised by their budget (enforced by the call
    pipeline, server/rpc/streams.py), streams can never take the unary calls' slots."""
    return settings.max_concurrent_rpcs + settings.max_streaming_calls


def create_server(settings: Settings, *, reuse_port: bool) -> grpc.aio.Server:
    return grpc.aio.server(
        options=server_options(settings, reuse_port=reuse_port),
        maximum_concurrent_rpcs=concurrent_rpc_limit(settings),
    )


def listen_address(host: str, port: int) -> str:
    """`host:port`, with an IPv6 host in brackets (USERSERVICE_HOST=:: or ::1 as written)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def _refusal(address: str) -> str:
    return (
        f"USERSERVICE_PORT: cannot listen on {address}: address in use or not available "
        "(set USERSERVICE_PORT or --port, USERSERVICE_HOST or --host)"
    )


def bind(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    """Binds `address` and returns the bound port; raises PortUnavailable with the address."""
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError as exc:  # grpcio raises on newer versions...
        raise PortUnavailable(_refusal(address)) from exc
    if port == 0:  # ...and returns 0 on older ones
        raise PortUnavailable(_refusal(address))
    return port
