"""How every RPC fails: an `ApiError` becomes the registry's gRPC status and message, with
`x-error-code` (the ErrorCode name), `x-error-field` (the request field at fault, when there is
one), `retry-after` (seconds, on RATE_LIMITED) and, once the call has one, `x-order-id` as
trailing metadata. Anything unexpected is logged with its stack and answered INTERNAL, so
internals never leak to the caller."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, NoReturn, TypeVar

import grpc

from gateway_svc.db.database import unavailable as database_unavailable
from gateway_svc.errors import ApiError
from mesh.error_text import describe

log = logging.getLogger(__name__)

ERROR_CODE_KEY = "x-error-code"
ERROR_FIELD_KEY = "x-error-field"
ORDER_ID_KEY = "x-order-id"
RETRY_AFTER_KEY = "retry-after"

Req = TypeVar("Req")
Resp = TypeVar("Resp")
S = TypeVar("S")


def order_id_of(error: ApiError) -> str | None:
    return getattr(error, "order_id", None)


def with_order_id(error: ApiError, order_id: str) -> ApiError:
    """Attach the call's order id (kept if one is already there)."""
    if order_id_of(error) is None:
        error.order_id = order_id  # type: ignore[attr-defined]
    return error


def without_order_id(error: ApiError) -> ApiError:
    """Forget the id of a call the gateway made on its own behalf (a lookup under an id of
    its own), so that `for_order` gives the error the id of the caller's request."""
    if order_id_of(error) is not None:
        del error.order_id  # type: ignore[attr-defined]
    return error


@contextlib.contextmanager
def for_order(order_id: str) -> Iterator[None]:
    """Errors raised inside carry `order_id`, so the caller can match them to its request."""
    try:
        yield
    except ApiError as error:
        raise with_order_id(error, order_id) from None


def error_metadata(error: ApiError) -> tuple[tuple[str, str], ...]:
    metadata = [(ERROR_CODE_KEY, error.spec.name)]
    # Field names are ours (proto field names), but metadata must be printable ASCII: check.
    if error.field and error.field.isascii() and error.field.isprintable():
        metadata.append((ERROR_FIELD_KEY, error.field))
    if error.retry_after_s is not None:
        metadata.append((RETRY_AFTER_KEY, str(max(1, error.retry_after_s))))
    order_id = order_id_of(error)
    if order_id:
        metadata.append((ORDER_ID_KEY, order_id))
    return tuple(metadata)


async def abort(context: grpc.aio.ServicerContext, error: ApiError) -> NoReturn:
    await context.abort(
        error.spec.grpc_status, error.message, trailing_metadata=error_metadata(error)
    )
    raise AssertionError("context.abort returned")  # pragma: no cover


async def _fail(context: grpc.aio.ServicerContext, name: str, exc: Exception) -> NoReturn:
    if isinstance(exc, ApiError):
        await abort(context, exc)
    if database_unavailable(exc):  # away or slow: a 503 that says so, not an INTERNAL
        log.warning("%s failed: the database is unavailable (%s)", name, describe(exc))
        await abort(context, ApiError("DATABASE_UNAVAILABLE"))
    log.exception("%s failed", name)
    await abort(context, ApiError("INTERNAL"))


def unary(
    method: Callable[[S, Req, grpc.aio.ServicerContext], Awaitable[Resp]],
) -> Callable[[S, Req, grpc.aio.ServicerContext], Awaitable[Resp]]:
    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _fail(context, method.__name__, exc)

    return wrapper


def streaming(
    method: Callable[[S, Req, grpc.aio.ServicerContext], AsyncIterator[Resp]],
) -> Callable[[S, Req, grpc.aio.ServicerContext], AsyncIterator[Resp]]:
    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: grpc.aio.ServicerContext) -> Any:
        try:
            async for item in method(self, request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _fail(context, method.__name__, exc)

    return wrapper
