"""grpc's peer strings become plain addresses: IPv4, IPv6 (percent-encoded brackets), others."""

from __future__ import annotations

import pytest

from server.cache.rate_limit import ip_subject
from server.rpc.caller_address import peer_address


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:127.0.0.1:50432", "127.0.0.1"),
        ("ipv4:192.0.2.7:1", "192.0.2.7"),
        ("ipv6:%5B::1%5D:50432", "::1"),
        ("ipv6:%5B2001:db8:1:2::7%5D:443", "2001:db8:1:2::7"),
        ("ipv6:[::1]:50432", "::1"),
        ("ipv6:%5Bfe80::1%25eth0%5D:50432", "fe80::1%eth0"),
        ("ipv6:%5B::ffff:192.0.2.7%5D:50432", "::ffff:192.0.2.7"),
        ("unix:/run/userservice.sock", "unix:/run/userservice.sock"),
    ],
)
def test_the_peer_string_becomes_the_address_without_port_or_brackets(
    peer: str, address: str
) -> None:
    assert peer_address(peer) == address


def test_an_ipv6_peer_is_counted_by_its_64() -> None:
    assert ip_subject(peer_address("ipv6:%5B2001:db8:1:2::7%5D:443")) == "2001:db8:1:2::/64"
    assert ip_subject(peer_address("ipv6:%5B::ffff:192.0.2.7%5D:1")) == "192.0.2.7"
