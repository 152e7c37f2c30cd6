"""Which address a gRPC call comes from, for per-client limits.

The REST facade passes the browser's address in `x-forwarded-for`, but any direct gRPC client
can send that header too. So it is believed only when the connection itself comes from a
trusted proxy: a Unix socket (the facade's own, in a directory only the gateway's user can
enter) or an address in TRUSTED_PROXIES (loopback by default); otherwise the key is the gRPC
peer address, which a client cannot choose.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import unquote

from mesh.config import IpNetwork

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

FORWARDED_FOR_KEY = "x-forwarded-for"
# A chain longer than this is not a real proxy path; stop reading (and working) there.
MAX_HOPS = 16
MAX_KEY_CHARS = 64


def peer_ip(peer: str) -> IpAddress | None:
    """The IP of a grpc peer string: `ipv4:1.2.3.4:5678`, `ipv6:[::1]:5678` (grpc may
    percent-encode the brackets); None for anything else, such as `unix:/path`."""
    kind, _, rest = unquote(peer or "").partition(":")
    if kind == "ipv4":
        host = rest.rsplit(":", 1)[0]
    elif kind == "ipv6":
        host = rest.rsplit(":", 1)[0].removeprefix("[").removesuffix("]")
    else:
        return None
    return _ip(host)


def _ip(text: str) -> IpAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d: compare it as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IpAddress, networks: Sequence[IpNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def _forwarded_hops(metadata: Iterable[Any] | None) -> list[str]:
    values = []
    for key, value in metadata or ():
        if key.lower() == FORWARDED_FOR_KEY:
            values.append(value.decode("ascii", "replace") if isinstance(value, bytes) else value)
    hops = [hop.strip() for hop in ",".join(values).split(",") if hop.strip()]
    return hops[-MAX_HOPS:]


def client_address(metadata: Iterable[Any] | None, peer: str, trusted: Sequence[IpNetwork]) -> str:
    """The client's address as a limiter key.

    Behind trusted proxies, the client is the last hop of `x-forwarded-for` (read from the
    right) that is not itself a trusted proxy: hops to its left were written by the client
    and prove nothing. A hop that is not an IP ends the walk at the last address known good.
    """
    address = peer_ip(peer)
    if address is None and not unix_peer(peer):
        return (peer or "unknown")[:MAX_KEY_CHARS]
    for hop in reversed(_forwarded_hops(metadata)):
        if address is not None and not _trusted(address, trusted):
            break
        hop_address = _ip(hop)
        if hop_address is None:
            break
        address = hop_address
    return str(address) if address is not None else peer[:MAX_KEY_CHARS]


def unix_peer(peer: str | None) -> bool:
    """A Unix-socket peer is a process of this host allowed into the socket's directory: the
    REST facade beside the server, whose forwarded address is believed."""
    return (peer or "").startswith("unix:")
