"""One way to wrap a gRPC method's behavior, for the gateway's interceptor (stream caps,
undecodable requests, call metrics): `before` runs first and may abort the call, `after`
hears how it ended. grpc.aio takes three shapes of behavior for a method with one request: a
coroutine, an async generator (our streams), or a coroutine that writes (health's Watch); the
wrapper keeps the shape it was given.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

Before = Callable[[Any, Any], Awaitable[Any]]
"""(request, context) -> what `after` is handed; raises (an abort) to end the call."""
After = Callable[[Any, Any, BaseException | None], None]
"""(context, what `before` returned, the error the call ended with or None)."""


def around(behavior: Callable[..., Any], before: Before, after: After | None = None) -> Any:
    if inspect.isasyncgenfunction(behavior):

        async def generator(request: Any, context: Any) -> AsyncIterator[Any]:
            token = await before(request, context)
            error: BaseException | None = None
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as exc:
                error = exc
                raise
            finally:
                if after is not None:
                    after(context, token, error)

        return generator

    async def call(request: Any, context: Any) -> Any:
        token = await before(request, context)
        error: BaseException | None = None
        try:
            return await behavior(request, context)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if after is not None:
                after(context, token, error)

    return call


def with_behavior(
    handler: grpc.RpcMethodHandler, wrap: Callable[[Callable[..., Any]], Any], **fields: Any
) -> grpc.RpcMethodHandler:
    """`handler` with its behavior wrapped (and `fields` replaced). A streaming-request
    method's wrapper is handed the request iterator where the others get the request."""
    for kind in ("unary_unary", "unary_stream", "stream_stream", "stream_unary"):
        behavior = getattr(handler, kind)
        if behavior is not None:
            return handler._replace(  # type: ignore[attr-defined, no-any-return]
                **{kind: wrap(behavior)}, **fields
            )
    return handler
