"""The gateway's one server interceptor: each method's handler shaped once, kept, and handed
out for every call of that method. Shaping: a request that does not decode is refused as bad
input (`undecodable`), a server stream is opened only within its caps (`stream_caps`, where the
server has caps: the REST facade's own has none), and every call is counted and timed
(`call_metrics`).

One interceptor, not one per concern: grpc.aio awaits every interceptor on every call, and
the shaped handler of a method is the same for all of its calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

from gateway_svc.grpc_services.call_metrics import timed
from gateway_svc.grpc_services.stream_caps import StreamCaps
from gateway_svc.grpc_services.undecodable import tolerant

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]]


class GatewayInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, caps: StreamCaps | None) -> None:
        self._caps = caps
        # method -> (the handler grpc gave, its shaped form); only methods that exist.
        self._shaped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler  # no such method: grpc answers UNIMPLEMENTED
        kept = self._shaped.get(details.method)
        if kept is not None and kept[0] is handler:
            return kept[1]
        shaped = tolerant(handler)
        if self._caps is not None:
            shaped = self._caps.capped(shaped)
        shaped = timed(shaped, details.method)
        self._shaped[details.method] = (handler, shaped)
        return shaped
