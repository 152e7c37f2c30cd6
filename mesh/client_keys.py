"""How per-client limits name a client: by its address, an IPv6 one by its /64 (a subscriber
usually holds a whole /64 and can pick any address in it, so keyed by the address alone it
would get a fresh limit per request). Shared by every limit of the gateway: the sign-in and
sign-up limits, the gRPC stream caps and the WebSocket caps."""

from __future__ import annotations

import ipaddress

IPV6_CLIENT_PREFIX = 64


def address_key(address: str) -> str:
    """The limiter key of a client address: IPv4 as is, IPv6 by its /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a Unix socket peer): one key for the lot
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)
