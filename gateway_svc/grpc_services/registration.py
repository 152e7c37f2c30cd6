"""Adding a service to a grpc.aio server through its generic handler only.

A generated `add_*Servicer_to_server` gives the server both a generic handler (found by the
method's name) and the same handlers as "registered methods". For registered methods grpc.aio
keeps one pending request task per method and, for every call that arrives, waits on all of
them (asyncio.wait, FIRST_COMPLETED): with the gateway's 27 methods about 10 µs of CPU a call,
against 3 µs for the one task of the generic handler. The gateway serves only generic handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc


class _GenericOnly:
    """What a generated `add_*_to_server` calls, passing on the generic handlers only."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        """Not registered: the generic handler added beside them serves the same methods."""


def add_service(
    add_to_server: Callable[[Any, Any], None], servicer: Any, server: grpc.aio.Server
) -> None:
    """`add_to_server(servicer, server)`, a generated function, with generic handlers only."""
    add_to_server(servicer, _GenericOnly(server))
