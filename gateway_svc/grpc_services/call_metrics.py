"""The gRPC API's own metrics, on the gateway's `/metrics` beside the HTTP ones: calls by
method and status code (`grpc_server_handled_total`), and how long each method took
(`grpc_server_handling_seconds`; a stream's whole life). Rate-limit refusals show as
RESOURCE_EXHAUSTED, an engine that did not answer as DEADLINE_EXCEEDED or UNAVAILABLE.

Defined once per process, in prometheus_client's default registry: in a gateway with several
workers it runs in multiprocess mode, and the facade's `/metrics` sums every worker's. Labels
stay a small set: the methods that exist (an unknown one never reaches a handler) and the
status codes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from gateway_svc.grpc_services.around import around, with_behavior

HANDLED = Counter(
    "grpc_server_handled_total", "gRPC calls by method and status code", ["method", "code"]
)
HANDLING = Histogram(
    "grpc_server_handling_seconds", "gRPC call duration by method (a stream's whole life)",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip


def _code(context: Any, error: BaseException | None) -> str:
    if error is None:
        return "OK"
    code = context.code()  # what the call was aborted with
    if isinstance(code, grpc.StatusCode):
        return code.name
    return "CANCELLED" if isinstance(error, asyncio.CancelledError) else "UNKNOWN"


def timed(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    """`handler` with each call counted by its outcome and timed (the unary-request kinds:
    every method of ours and health's; reflection's stream of requests is left as it is)."""
    if handler.request_streaming:
        return handler
    seconds = HANDLING.labels(method)
    by_code: dict[str, Any] = {}

    async def start(request: Any, context: Any) -> float:
        return time.perf_counter()

    def observe(context: Any, started: float, error: BaseException | None) -> None:
        seconds.observe(time.perf_counter() - started)
        code = _code(context, error)
        counter = by_code.get(code)
        if counter is None:
            counter = by_code[code] = HANDLED.labels(method, code)
        counter.inc()

    return with_behavior(handler, lambda behavior: around(behavior, start, observe))
