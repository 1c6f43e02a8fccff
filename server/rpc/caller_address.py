"""The caller's address and user agent, believing x-forwarded-for only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import unquote

from server.domain import ClientInfo
from server.rpc.call_context import ServicerContext

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def peer_address(peer: str) -> str:
    """The address in grpc's peer string, without the port.

    'ipv4:1.2.3.4:5678' → '1.2.3.4'; 'ipv6:%5B::1%5D:5678' (grpc percent-encodes the brackets)
    or 'ipv6:[::1]:5678' → '::1'; anything else (a unix socket) as given.
    """
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        host = unquote(rest)
        if host.startswith("["):
            return host[1 : host.find("]")] if "]" in host else host[1:]
        return host
    return peer


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


class ClientResolver:
    """Who is calling: the peer's address, or the client a trusted proxy forwarded for."""

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(p, strict=False) for p in trusted_proxies
        )

    def _is_trusted(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self._trusted)

    def resolve(self, context: ServicerContext) -> ClientInfo:
        peer = peer_address(context.peer())
        forwarded, user_agent = "", ""
        for key, value in context.invocation_metadata() or ():
            if key == "x-forwarded-for":
                forwarded = str(value)
            elif key == "user-agent":
                user_agent = str(value)
        ip = peer
        if forwarded and self._is_trusted(_address(peer)):
            # The nearest hop that is not one of our proxies is the client.
            for hop in reversed(forwarded.split(",")):
                address = _address(hop)
                if address is None:
                    break
                ip = str(address)
                if not self._is_trusted(address):
                    break
        return ClientInfo(ip=ip, user_agent=user_agent[:512])
