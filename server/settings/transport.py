"""Settings of the gRPC transport: proxies, overload limits, connections, TLS and shutdown."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from server.settings.base import BaseServiceSettings, Seconds

# Long enough for endpoints and client-side balancers to drop a pod that reports NOT_SERVING.
DEFAULT_PRODUCTION_DRAIN_SECONDS = 5.0


class TransportSettings(BaseServiceSettings):
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Peers (IPs or CIDRs) whose x-forwarded-for is believed; JSON list.",
    )
    shutdown_drain_seconds: float | None = Field(
        None,
        ge=0,
        description="On SIGTERM, how long to keep serving while health says NOT_SERVING, so load "
        "balancers stop sending before the port closes; unset: 5 in production, 0 in development.",
    )
    shutdown_grace_seconds: Seconds = Field(
        20.0, description="After the drain, how long in-flight calls may take to finish."
    )
    health_check_interval_seconds: Seconds = Field(
        2.0, description="How often readiness re-checks the database and schema."
    )
    # Transport limits (server/transport.py), chosen for a service behind a mesh or a balancer.
    max_receive_message_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request message accepted (RESOURCE_EXHAUSTED)."
    )
    max_metadata_bytes: int = Field(
        16 * 1024,
        ge=1024,
        description="Largest request metadata (headers) accepted; a call with more is refused.",
    )
    max_concurrent_streams: int = Field(
        100, ge=1, description="HTTP/2 streams (calls) open at once on one connection."
    )
    max_concurrent_rpcs: int = Field(
        2000,
        ge=1,
        description="Slots for unary calls (Health/Check included) that streaming calls never "
        "take; past this plus MAX_STREAMING_CALLS grpc answers RESOURCE_EXHAUSTED.",
    )
    max_streaming_calls: int = Field(
        512,
        ge=1,
        description="Streaming calls (e.g. Health/Watch) open at once; past it, "
        "RESOURCE_EXHAUSTED TOO_MANY_STREAMS.",
    )
    max_streaming_calls_per_peer: int = Field(
        32,
        ge=1,
        description="Streaming calls open at once per client address (x-forwarded-for from "
        "TRUSTED_PROXIES; an IPv6 client by its /64). Behind a mesh sidecar, trust it, or "
        "every client counts as one.",
    )
    streaming_call_lifetime_seconds: Seconds = Field(
        60.0,
        description="A streaming call ends cleanly (OK) after 90-100% of this, so clients "
        "re-open it, maybe on another replica; keep it at most MAX_CONNECTION_AGE_GRACE_SECONDS.",
    )
    max_connection_age_seconds: Seconds = Field(
        300.0,
        description="A connection gets GOAWAY after this (grpc adds ±10% jitter), so clients "
        "reconnect and spread over new replicas.",
    )
    max_connection_age_grace_seconds: Seconds = Field(
        60.0, description="How long calls may finish on a connection past its age before it closes."
    )
    keepalive_time_seconds: Seconds = Field(
        60.0, description="The server pings a connection after this long without activity."
    )
    keepalive_timeout_seconds: Seconds = Field(
        20.0, description="A ping unanswered for this long closes the connection."
    )
    keepalive_min_time_seconds: int = Field(
        10,
        ge=1,
        description="Least interval between client pings tolerated; each faster ping is a strike.",
    )
    keepalive_permit_without_calls: bool = Field(
        True, description="Clients may ping a connection with no call open (the SDK does)."
    )
    keepalive_max_ping_strikes: int = Field(
        2, ge=0, description="Strikes tolerated before GOAWAY too_many_pings; 0 = unlimited."
    )
    tls_cert_file: Path | None = Field(None, description="Server certificate (PEM); enables TLS.")
    tls_key_file: Path | None = Field(None, description="Server private key (PEM).")
    tls_client_ca_file: Path | None = Field(
        None, description="CA bundle for client certificates; when set, mutual TLS is required."
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("USERSERVICE_TLS_CERT_FILE and USERSERVICE_TLS_KEY_FILE go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("USERSERVICE_TLS_CLIENT_CA_FILE needs USERSERVICE_TLS_CERT_FILE")
        return self

    @property
    def drain_seconds(self) -> float:
        if self.shutdown_drain_seconds is None:
            return DEFAULT_PRODUCTION_DRAIN_SECONDS if self.is_production else 0.0
        return self.shutdown_drain_seconds
