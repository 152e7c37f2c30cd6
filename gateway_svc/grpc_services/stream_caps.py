"""Caps on open server streams: per client address and in total (GRPC_MAX_STREAMS_PER_PEER,
GRPC_MAX_STREAMS), answered RESOURCE_EXHAUSTED (RATE_LIMITED) past them.

A stream costs a task, a queue and a subscription for as long as the client keeps it open,
and `StreamPrices` needs no session: without a cap, one client could open them until the
process runs out of memory or file descriptors. The cap is applied by a server interceptor, so
every server-streaming method (StreamPrices, StreamTradeEvents, health's Watch, reflection's
ServerReflectionInfo, any added later) is covered without each remembering to count.

The client is the gRPC peer, an IPv6 one by its /64 (one subscriber holds a whole /64 and can
pick any address in it). A trusted proxy (TRUSTED_PROXIES) is believed about the address it
forwards, as for the sign-in limits; one that forwards none counts against the total only.
Counts are per gateway process. The public server's interceptor (`interceptor.py`) applies the
caps; the REST facade's own server (its Unix socket: the WebSockets' price and trade streams)
has none, as WS_MAX_CONNECTIONS and WS_MAX_CONNECTIONS_PER_IP bound those, and public gRPC
clients filling the total must not cut every browser off its feed (grpc_server.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import grpc

from gateway_svc.errors import ApiError
from gateway_svc.grpc_services.around import around, with_behavior
from gateway_svc.grpc_services.client_address import client_address
from gateway_svc.grpc_services.common import abort
from mesh.client_keys import address_key
from mesh.config import IpNetwork


class StreamSlots:
    """Open streams per client key and in total; a key with none open is forgotten, so memory
    follows open streams. `None` as a key counts in the total only."""

    def __init__(self, per_peer: int, total: int) -> None:
        self.per_peer = per_peer
        self.total = total
        self._open: dict[str, int] = {}
        self.count = 0

    def claim(self, key: str | None) -> str | None:
        """Take a slot, or return why not (and take nothing)."""
        if self.count >= self.total:
            return f"the server has {self.total} open streams, its limit: try again later"
        if key is not None and self._open.get(key, 0) >= self.per_peer:
            return f"too many open streams from your address (at most {self.per_peer})"
        if key is not None:
            self._open[key] = self._open.get(key, 0) + 1
        self.count += 1
        return None

    def release(self, key: str | None) -> None:
        if key is not None:
            left = self._open.get(key, 0) - 1
            if left > 0:
                self._open[key] = left
            else:
                self._open.pop(key, None)
        self.count = max(0, self.count - 1)

    def open_for(self, key: str) -> int:
        return self._open.get(key, 0)


def stream_key(metadata: Any, peer: str, trusted: Sequence[IpNetwork]) -> str | None:
    """The client a stream counts against, or None for the total only (see the module doc)."""
    text = client_address(metadata, peer, trusted)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if any(address.version == net.version and address in net for net in trusted):
        return None
    return address_key(text)


class StreamCaps:
    def __init__(self, slots: StreamSlots, trusted: Sequence[IpNetwork]) -> None:
        self.slots = slots
        self.trusted = tuple(trusted)

    def capped(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """A server-streaming method's handler (reflection's stream of requests too), each of
        its streams inside a slot; any other handler as it is."""
        if not handler.response_streaming:
            return handler
        return with_behavior(handler, self._capped)

    def _capped(self, behavior: Any) -> Any:
        return around(behavior, self._claim, self._release)

    async def _claim(self, request: Any, context: grpc.aio.ServicerContext) -> str | None:
        key = stream_key(context.invocation_metadata(), context.peer(), self.trusted)
        refused = self.slots.claim(key)
        if refused is not None:
            await abort(context, ApiError("RATE_LIMITED", refused, retry_after_s=1))
        return key

    def _release(self, context: Any, key: str | None, error: BaseException | None) -> None:
        self.slots.release(key)
