"""Per-IP limits count an IPv4 address, or the /64 an IPv6 client holds."""

from __future__ import annotations

import ipaddress

from hypothesis import assume, given
from hypothesis import strategies as st

from server.cache.rate_limit import ip_subject


def test_an_ipv4_address_is_its_own_subject() -> None:
    assert ip_subject("192.0.2.1") == "192.0.2.1"
    assert ip_subject("192.0.2.1") != ip_subject("192.0.2.2")


def test_ipv6_addresses_in_one_64_share_a_subject() -> None:
    assert ip_subject("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert ip_subject("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert ip_subject("2001:db8:1:3::1") == "2001:db8:1:3::/64"


def test_spellings_of_one_ipv6_address_are_one_subject() -> None:
    assert ip_subject("2001:DB8:0001:0002:0:0:0:1") == ip_subject("2001:db8:1:2::1")
    assert ip_subject("fe80::1%eth0") == ip_subject("fe80::1") == "fe80::/64"


def test_an_ipv4_mapped_ipv6_address_counts_as_the_ipv4_address() -> None:
    assert ip_subject("::ffff:192.0.2.1") == "192.0.2.1"
    assert ip_subject("::ffff:c000:201") == "192.0.2.1"


def test_a_peer_that_is_not_an_address_is_kept_as_given() -> None:
    assert ip_subject("unix:/run/userservice.sock") == "unix:/run/userservice.sock"


ipv6 = st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None)


@given(ipv6, st.integers(min_value=0, max_value=2**64 - 1))
def test_any_two_addresses_of_a_64_share_the_subject(
    address: ipaddress.IPv6Address, host: int
) -> None:
    neighbour = ipaddress.IPv6Address((int(address) >> 64 << 64) | host)
    assume(neighbour.ipv4_mapped is None)  # ::ffff:0:0/96 lies in ::/64 and counts as IPv4

    assert ip_subject(str(address)) == ip_subject(str(neighbour))
    assert ipaddress.IPv6Network(ip_subject(str(address))).prefixlen == 64


@given(ipv6, ipv6)
def test_addresses_of_different_64s_have_different_subjects(
    first: ipaddress.IPv6Address, second: ipaddress.IPv6Address
) -> None:
    same_64 = int(first) >> 64 == int(second) >> 64
    assert (ip_subject(str(first)) == ip_subject(str(second))) is same_64


@given(st.ip_addresses(v=4))
def test_every_ipv4_address_and_its_mapped_form_are_one_subject(
    address: ipaddress.IPv4Address,
) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")

    assert ip_subject(str(address)) == ip_subject(str(mapped)) == str(address)
