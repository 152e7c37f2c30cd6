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
import inspect
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

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

    def observe(code: str, started: float) -> None:
        seconds.observe(time.perf_counter() - started)
        counter = by_code.get(code)
        if counter is None:
            counter = by_code[code] = HANDLED.labels(method, code)
        counter.inc()

    if handler.unary_unary is not None:
        return handler._replace(  # type: ignore[attr-defined, no-any-return]
            unary_unary=_timed_call(handler.unary_unary, observe)
        )
    behavior = handler.unary_stream
    if inspect.isasyncgenfunction(behavior):
        return handler._replace(  # type: ignore[attr-defined, no-any-return]
            unary_stream=_timed_stream(behavior, observe)
        )
    return handler._replace(  # type: ignore[attr-defined, no-any-return]
        unary_stream=_timed_call(behavior, observe)  # a coroutine that writes (health's Watch)
    )


Observe = Callable[[str, float], None]


def _timed_call(behavior: Callable[..., Any], observe: Observe) -> Callable[..., Any]:
    async def timed_call(request: Any, context: Any) -> Any:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await behavior(request, context)
        except BaseException as exc:
            error = exc
            raise
        finally:
            observe(_code(context, error), started)

    return timed_call


def _timed_stream(behavior: Callable[..., Any], observe: Observe) -> Callable[..., Any]:
    async def timed_stream(request: Any, context: Any) -> AsyncIterator[Any]:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            async for response in behavior(request, context):
                yield response
        except BaseException as exc:
            error = exc
            raise
        finally:
            observe(_code(context, error), started)

    return timed_stream
