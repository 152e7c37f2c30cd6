"""A request whose bytes are no valid message is bad input: INVALID_ARGUMENT, with its
`x-error-code`, like any other.

grpc.aio decodes a request before any handler runs, and when the decoder raises it answers
UNKNOWN with the exception's text (a Python class name and the parser's words) and no error
code, which a client's retry logic may take for a passing fault. Here, for the methods that take
one request, the decoder hands back an `Undecodable` instead, and the method is answered
INVALID_ARGUMENT before its handler sees it. Methods that take a stream of requests (reflection)
keep grpc's own decoding.
"""

from __future__ import annotations

import inspect
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from gateway_svc.errors import ApiError
from gateway_svc.grpc_services.around import around, with_behavior
from gateway_svc.grpc_services.common import abort


class Undecodable:
    """What a request that did not decode becomes."""

    __slots__ = ("message_name",)

    def __init__(self, message_name: str) -> None:
        self.message_name = message_name

    def error(self) -> ApiError:
        return ApiError("INVALID_ARGUMENT", f"the request is not a valid {self.message_name}")


def tolerant(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """`handler` with a decoder that does not raise, and a behavior that refuses what it could
    not decode. Built once per method (the gateway's interceptor keeps them)."""
    decode = handler.request_deserializer
    behavior = handler.unary_unary or handler.unary_stream
    if handler.request_streaming or decode is None or not _asynchronous(behavior):
        return handler  # a synchronous handler (none today) keeps grpc's own decoding
    message = getattr(getattr(decode, "__self__", None), "DESCRIPTOR", None)
    name = message.full_name if message is not None else "request"

    def decoded(data: bytes) -> Any:
        try:
            return decode(data)
        except DecodeError:
            return Undecodable(name)

    def refusing(behavior: Any) -> Any:
        return around(behavior, _refuse_undecodable)

    return with_behavior(handler, refusing, request_deserializer=decoded)


def _asynchronous(behavior: Any) -> bool:
    return inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior)


async def _refuse_undecodable(request: Any, context: Any) -> None:
    if type(request) is Undecodable:
        await abort(context, request.error())
