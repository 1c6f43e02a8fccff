"""Every transport limit comes from a setting, and the SDK's defaults agree with the server's
(keepalive within its ping policy, round_robin with the retry policy kept)."""

from __future__ import annotations

import json

from server.config import Settings
from server.transport import concurrent_rpc_limit, server_options
from userservice_client.channel import default_options


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_every_transport_limit_is_a_setting() -> None:
    chosen = settings(
        max_receive_message_bytes=2048,
        max_metadata_bytes=4096,
        max_concurrent_streams=7,
        max_connection_age_seconds=30,
        max_connection_age_grace_seconds=5,
        keepalive_time_seconds=11,
        keepalive_timeout_seconds=3,
        keepalive_min_time_seconds=4,
        keepalive_permit_without_calls=False,
        keepalive_max_ping_strikes=9,
    )
    options = dict(server_options(chosen, reuse_port=False))

    assert options == {
        "grpc.so_reuseport": 0,
        "grpc.max_receive_message_length": 2048,
        "grpc.max_metadata_size": 4096,
        "grpc.absolute_max_metadata_size": 4096,
        "grpc.max_concurrent_streams": 7,
        "grpc.max_connection_age_ms": 30_000,
        "grpc.max_connection_age_grace_ms": 5_000,
        "grpc.keepalive_time_ms": 11_000,
        "grpc.keepalive_timeout_ms": 3_000,
        "grpc.keepalive_permit_without_calls": 0,
        "grpc.http2.min_ping_interval_without_data_ms": 4_000,
        "grpc.http2.max_ping_strikes": 9,
    }


def test_streams_have_slots_of_their_own_above_the_unary_limit() -> None:
    chosen = settings(max_concurrent_rpcs=100, max_streaming_calls=30)
    assert concurrent_rpc_limit(chosen) == 130


def test_the_sdk_keepalive_stays_within_the_servers_default_ping_policy() -> None:
    server, client = settings(), default_options()
    assert isinstance(client["grpc.keepalive_time_ms"], int)
    assert client["grpc.keepalive_time_ms"] >= server.keepalive_min_time_seconds * 1000
    if client["grpc.keepalive_permit_without_calls"]:
        assert server.keepalive_permit_without_calls


def test_a_stream_ends_at_its_lifetime_before_its_connection_is_closed() -> None:
    server = settings()
    assert server.streaming_call_lifetime_seconds <= server.max_connection_age_grace_seconds


def test_the_sdk_balances_round_robin_and_keeps_its_retry_policy() -> None:
    config = json.loads(str(default_options()["grpc.service_config"]))
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    [method_config] = config["methodConfig"]
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert {"service": "userservice.v1.UserService", "method": "GetUser"} in method_config["name"]
