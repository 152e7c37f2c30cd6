"""The REST/JSON facade: the documented HTTP API (SPEC section 3) as calls to the gateway's
own gRPC server, plus the WebSocket, /healthz, /metrics and the web page."""

from gateway_svc.rest.app import create_app

__all__ = ["create_app"]
