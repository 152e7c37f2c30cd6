"""The gRPC servicers: `exchange.v1.ExchangeService` and `exchange.v1.AuthService`."""

from gateway_svc.grpc_services.auth_servicer import AuthServicer
from gateway_svc.grpc_services.commands import Caller, CommandRunner
from gateway_svc.grpc_services.common import ERROR_CODE_KEY, ORDER_ID_KEY
from gateway_svc.grpc_services.exchange_servicer import ExchangeServicer

__all__ = [
    "ERROR_CODE_KEY",
    "ORDER_ID_KEY",
    "AuthServicer",
    "Caller",
    "CommandRunner",
    "ExchangeServicer",
]
