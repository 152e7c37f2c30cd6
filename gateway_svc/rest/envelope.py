"""The response envelope of SPEC section 3, and gRPC errors turned into it.

Every error the facade returns, from a bad body to an engine timeout, has the one shape
`{"success": false, "error", "code", "orderId", "engineResponse": {...}, "latency"}`, so the web
page and clients parse one thing. A 429 also carries `Retry-After` (whole seconds), taken from
the gRPC server's `retry-after` trailing metadata.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import grpc
from starlette.requests import HTTPConnection

from gateway_svc.errors import BY_NAME, ApiError, ErrorSpec, spec_for
from gateway_svc.rest.commands import PROTO_TO_JSON, words_renamed
from gateway_svc.rest.jsonio import DecimalJSONResponse

log = logging.getLogger(__name__)

STARTED_KEY = "exchange.started"
ORDER_ID_KEY = "exchange.order_id"

# A gRPC failure without `x-error-code` is a transport problem, not a business rejection.
_STATUS_FALLBACK: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAVAILABLE: "ENGINE_UNAVAILABLE",
    grpc.StatusCode.DEADLINE_EXCEEDED: "ENGINE_TIMEOUT",
    grpc.StatusCode.UNAUTHENTICATED: "UNAUTHENTICATED",
    grpc.StatusCode.NOT_FOUND: "TRADE_NOT_FOUND",
    grpc.StatusCode.INVALID_ARGUMENT: "INVALID_ARGUMENT",
    grpc.StatusCode.FAILED_PRECONDITION: "INVALID_ARGUMENT",
    grpc.StatusCode.OUT_OF_RANGE: "INVALID_ARGUMENT",
    grpc.StatusCode.ALREADY_EXISTS: "ACCOUNT_EXISTS",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "RATE_LIMITED",
    grpc.StatusCode.CANCELLED: "ENGINE_UNAVAILABLE",
}
# Without an x-error-code, their gRPC details are about sockets and stack traces (the
# transport's, not our server's words): not something to show a trader.
_HIDE_DETAILS = frozenset({"INTERNAL", "ENGINE_UNAVAILABLE", "ENGINE_TIMEOUT"})
# Retry-After when the server named none (RESOURCE_EXHAUSTED from elsewhere), and a cap so a
# confused upstream cannot tell clients to go away for a year.
DEFAULT_RETRY_AFTER_S = 1
MAX_RETRY_AFTER_S = 3600
# The gRPC server names proto fields; a REST client knows them by the JSON names: body
# fields as commands.PROTO_TO_JSON spells them, then the query parameters and the session.
_REST_NAMES = {
    **PROTO_TO_JSON,
    "page_token": "cursor",
    "start_time_ms": "startTime",
    "end_time_ms": "endTime",
    "authorization": "authToken",
}


class RestError(ApiError):
    """An `ApiError` that may carry the engine's order id and a non-registry HTTP status
    (413 for an oversize body, 404/405 from routing)."""

    def __init__(
        self,
        name: str,
        message: str | None = None,
        field: str | None = None,
        order_id: str | None = None,
        http_status: int | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(name, message, field, retry_after_s=retry_after_s)
        self.order_id = order_id
        self.http_status = http_status or self.spec.http_status


def _metadata_value(err: grpc.aio.AioRpcError, key: str) -> str | None:
    for metadata in (err.trailing_metadata(), err.initial_metadata()):
        for item_key, value in metadata or ():
            if item_key == key:
                return value.decode() if isinstance(value, bytes) else str(value)
    return None


def _retry_after(err: grpc.aio.AioRpcError) -> int | None:
    value = _metadata_value(err, "retry-after")
    if value is None or not value.isdigit() or len(value) > 9:
        return None
    return min(max(int(value), 1), MAX_RETRY_AFTER_S)


def _field(err: grpc.aio.AioRpcError) -> str | None:
    value = _metadata_value(err, "x-error-field")
    if not value:
        return None
    return _REST_NAMES.get(value, value[:64])


def from_rpc_error(err: grpc.aio.AioRpcError, method: str = "") -> RestError:
    """Map a failed call to the registry entry named by `x-error-code`, else by its status.
    `method`: the gRPC method, for the log line of a failure whose details are hidden."""
    code = _metadata_value(err, "x-error-code")
    fallback = BY_NAME[_STATUS_FALLBACK.get(err.code(), "INTERNAL")]
    spec: ErrorSpec = spec_for(code) if code else fallback
    details = err.details() or ""
    # A failure our server named (x-error-code) says what it chose to say, an INTERNAL aside;
    # one it did not name (the transport's) may say where things run: never shown.
    hidden = spec.name == "INTERNAL" or (not code and spec.name in _HIDE_DETAILS)
    if hidden or not details:
        if hidden:
            log.warning("gRPC call %s failed: %s %s", method or "?", err.code().name, details)
        message = spec.default_message
    else:
        message = details
    field = _field(err)
    if field:
        message = words_renamed(message, _REST_NAMES)  # fields named as the request names them
    return RestError(
        spec.name,
        message,
        field=field,
        order_id=_metadata_value(err, "x-order-id"),
        retry_after_s=_retry_after(err),
    )


def order_id_of(conn: HTTPConnection) -> str:
    """The request's order id: the client's or the engine's when known, else a fresh uuid4."""
    current = conn.scope.get(ORDER_ID_KEY)
    if not current:
        current = str(uuid.uuid4())
        conn.scope[ORDER_ID_KEY] = current
    return str(current)


def set_order_id(conn: HTTPConnection, order_id: str | None) -> None:
    if order_id:
        conn.scope[ORDER_ID_KEY] = order_id


def latency_ms(conn: HTTPConnection) -> float:
    started = conn.scope.get(STARTED_KEY)
    if started is None:
        return 0.0
    return round((time.perf_counter() - started) * 1000, 3)


def success(conn: HTTPConnection, data: Any, message: str) -> DecimalJSONResponse:
    return DecimalJSONResponse(
        {
            "success": True,
            "orderId": order_id_of(conn),
            "engineResponse": {"status": "success", "data": data, "message": message},
            "latency": latency_ms(conn),
        }
    )


def error_body(
    message: str, code: str, order_id: str, latency: float, field: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "success": False,
        "error": message,
        "code": code,
        "orderId": order_id,
        "engineResponse": {"status": "error", "data": None, "message": message},
        "latency": latency,
    }
    if field:
        body["field"] = field
    return body


def error_response(conn: HTTPConnection, exc: ApiError) -> DecimalJSONResponse:
    order_id = getattr(exc, "order_id", None)
    set_order_id(conn, order_id)
    status = getattr(exc, "http_status", None) or exc.spec.http_status
    body = error_body(exc.message, exc.spec.name, order_id_of(conn), latency_ms(conn), exc.field)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 429:
        headers["Retry-After"] = str(exc.retry_after_s or DEFAULT_RETRY_AFTER_S)
    return DecimalJSONResponse(body, status_code=status, headers=headers or None)
