"""The facade's one gRPC channel to the gateway's own server, and the stubs on it.

The channel is opened lazily on first use as well as at startup: grpc.aio binds a channel to
the running event loop, and in-process test clients (httpx's ASGITransport) do not run the
lifespan, so "first use" is the moment a loop is known to exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
from exchange.v1 import auth_service_pb2_grpc, exchange_service_pb2_grpc
from grpc_health.v1 import health_pb2_grpc

from gateway_svc.rest.envelope import from_rpc_error

ChannelFactory = Callable[[], grpc.aio.Channel]
Metadata = Sequence[tuple[str, str]]

# Headroom over the engine's own deadline, so the gRPC server's ENGINE_TIMEOUT (with its
# order id) reaches us before our own deadline cuts the call short.
_DEADLINE_HEADROOM_S = 2.0


class GrpcClients:
    def __init__(self, target: str, factory: ChannelFactory | None, engine_timeout_ms: int):
        self._factory = factory or (lambda: grpc.aio.insecure_channel(target))
        self._channel: grpc.aio.Channel | None = None
        self.timeout_s = engine_timeout_ms / 1000 + _DEADLINE_HEADROOM_S
        self._exchange: exchange_service_pb2_grpc.ExchangeServiceStub | None = None
        self._auth: auth_service_pb2_grpc.AuthServiceStub | None = None
        self._health: health_pb2_grpc.HealthStub | None = None

    def open(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = self._factory()
            self._exchange = exchange_service_pb2_grpc.ExchangeServiceStub(self._channel)
            self._auth = auth_service_pb2_grpc.AuthServiceStub(self._channel)
            self._health = health_pb2_grpc.HealthStub(self._channel)
        return self._channel

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close()

    @property
    def exchange(self) -> exchange_service_pb2_grpc.ExchangeServiceStub:
        self.open()
        assert self._exchange is not None
        return self._exchange

    @property
    def auth(self) -> auth_service_pb2_grpc.AuthServiceStub:
        self.open()
        assert self._auth is not None
        return self._auth

    @property
    def health(self) -> health_pb2_grpc.HealthStub:
        self.open()
        assert self._health is not None
        return self._health

    async def call(self, method: Callable[..., Any], request: Any, metadata: Metadata = ()) -> Any:
        """One unary call; a failure becomes a `RestError` from the registry."""
        try:
            if not isinstance(metadata, tuple):
                metadata = tuple(metadata)
            return await method(request, metadata=metadata, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err, _method_name(method)) from None


def _method_name(method: Callable[..., Any]) -> str:
    """A stub's method path ("/exchange.v1.ExchangeService/GetPrice"), for log lines: grpc.aio
    keeps it on the callable (not a public attribute: "" if a version moves it)."""
    path = getattr(method, "_method", b"")
    return path.decode() if isinstance(path, bytes) else str(path)
