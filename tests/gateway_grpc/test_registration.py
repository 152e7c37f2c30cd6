"""Services reach the gateway's gRPC servers through their generic handler only (one request
task for the server to wait on per call, not one per method)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from exchange.v1 import exchange_service_pb2_grpc

from gateway_svc.grpc_services.registration import add_service


class RecordingServer:
    def __init__(self) -> None:
        self.generic: list[grpc.GenericRpcHandler] = []
        self.registered: list[str] = []

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.registered.append(service)


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


def test_a_service_is_added_as_a_generic_handler_only() -> None:
    server = RecordingServer()
    servicer = exchange_service_pb2_grpc.ExchangeServiceServicer()
    add_service(
        exchange_service_pb2_grpc.add_ExchangeServiceServicer_to_server,
        servicer,
        server,  # type: ignore[arg-type]
    )
    assert server.registered == []
    assert len(server.generic) == 1
    (handler,) = server.generic
    found = handler.service(Details("/exchange.v1.ExchangeService/CreateTrade"))
    assert found is not None and found.unary_unary is not None
    assert handler.service(Details("/exchange.v1.ExchangeService/NoSuchMethod")) is None
    # Without the adapter the generated function registers every method as well.
    plain = RecordingServer()
    exchange_service_pb2_grpc.add_ExchangeServiceServicer_to_server(servicer, plain)
    assert plain.registered == ["exchange.v1.ExchangeService"]
