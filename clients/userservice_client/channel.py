"""The gRPC channel the clients use: load balancing, retry policy, keepalive, optional (m)TLS.

Load balancing is `round_robin` over every address the target resolves to: with a headless
Kubernetes Service (`dns:///userservice-grpc.NAMESPACE.svc:50051`) each pod is one address, and
the server's `max_connection_age` makes the client re-resolve now and then, so replicas added by
a scale-out get their share. With a single address it behaves as pick_first would.

Retries are left to gRPC's own retry machinery (a service config), which only resends a call
the server never started processing or answered UNAVAILABLE. Only methods that are safe to
repeat are listed: reads, and introspection. Writes are never retried here; CreateUser carries a
`request_id` so a caller that retries it deliberately gets the first result back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import grpc
import grpc.aio

ChannelOption = tuple[str, str | int]

USER_SERVICE: Final = "userservice.v1.UserService"
AUTH_SERVICE: Final = "userservice.v1.AuthService"

# (service, method) pairs that have no side effects, so a resend cannot do harm.
RETRYABLE_METHODS: Final[tuple[tuple[str, str], ...]] = (
    (USER_SERVICE, "GetUser"),
    (USER_SERVICE, "ListUsers"),
    (AUTH_SERVICE, "ValidateToken"),
    (AUTH_SERVICE, "GetJwks"),
    (AUTH_SERVICE, "ListSessions"),
)

RETRY_POLICY: Final[Mapping[str, object]] = {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


def service_config() -> str:
    """The gRPC service config (JSON): round_robin over the resolved addresses, and retries on
    UNAVAILABLE for the safe methods only."""
    names = [{"service": service, "method": method} for service, method in RETRYABLE_METHODS]
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "methodConfig": [{"name": names, "retryPolicy": dict(RETRY_POLICY)}],
        }
    )


def default_options() -> dict[str, str | int]:
    """Channel arguments set by default; `create_channel(options=...)` overrides them by key."""
    return {
        "grpc.service_config": service_config(),
        "grpc.enable_retries": 1,
        # Find dead connections (a dropped NAT entry, a vanished pod) within ~40 s. The server
        # tolerates pings every 10 s (USERSERVICE_KEEPALIVE_MIN_TIME_SECONDS), also without a
        # call open, so 30 s stays well clear of its too-many-pings GOAWAY.
        "grpc.keepalive_time_ms": 30_000,
        "grpc.keepalive_timeout_ms": 10_000,
        "grpc.keepalive_permit_without_calls": 1,
        "grpc.http2.max_pings_without_data": 0,
        "grpc.primary_user_agent": "userservice-client-python",
    }


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """TLS for the channel: the CA that signed the server, and a client pair for mutual TLS.

    Attributes:
        ca_file: PEM bundle of trusted CAs; None uses the system roots.
        cert_file: client certificate chain (PEM), for mutual TLS; needs `key_file`.
        key_file: client private key (PEM), for mutual TLS; needs `cert_file`.
        server_name_override: the name to check the server certificate against, when it
            differs from the target's host (tests, IP targets). Not for production use.
    """

    ca_file: Path | str | None = None
    cert_file: Path | str | None = None
    key_file: Path | str | None = None
    server_name_override: str | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("TlsOptions: cert_file and key_file go together (mutual TLS)")

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """The grpc credentials these options describe (files are read now)."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file),
            private_key=_read(self.key_file),
            certificate_chain=_read(self.cert_file),
        )


def _read(path: Path | str | None) -> bytes | None:
    return None if path is None else Path(path).read_bytes()


def create_channel(
    target: str,
    *,
    tls: TlsOptions | None = None,
    options: Sequence[ChannelOption] = (),
) -> grpc.aio.Channel:
    """A grpc.aio channel to userservice at `target` ("host:port", "dns:///name:port",
    "ipv4:10.0.0.1:50051,10.0.0.2:50051", ...), balanced round_robin over its addresses.

    Insecure unless `tls` is given. `options` are extra channel arguments; one with the same
    name as a default replaces it. Call it inside the event loop that will use the channel.
    """
    merged = default_options()
    if tls is not None and tls.server_name_override:
        merged["grpc.ssl_target_name_override"] = tls.server_name_override
    merged.update(dict(options))
    channel_args = list(merged.items())
    if tls is None:
        return grpc.aio.insecure_channel(target, options=channel_args)
    return grpc.aio.secure_channel(target, tls.channel_credentials(), options=channel_args)


__all__ = ["ChannelOption", "TlsOptions", "create_channel", "default_options", "service_config"]
