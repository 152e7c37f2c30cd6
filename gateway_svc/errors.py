"""The one error registry: each ErrorCode's gRPC status, HTTP status and default message.

The engine core rejects with the same names (without the ERROR_CODE_ prefix); where a code is
always about one request field, the entry names it (proto spelling), so an engine rejection
carries `x-error-field` / `field` like a validation error does.
tests/gateway_grpc/test_error_registry.py checks that every ErrorCode of the contract and every
core code is here exactly once, with the statuses SPEC section 3 documents.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from exchange.v1 import types_pb2


@dataclass(frozen=True)
class ErrorSpec:
    code: int
    name: str
    grpc_status: grpc.StatusCode
    http_status: int
    default_message: str
    field: str | None = None


def _spec(
    name: str,
    grpc_status: grpc.StatusCode,
    http_status: int,
    message: str,
    field: str | None = None,
) -> ErrorSpec:
    return ErrorSpec(
        types_pb2.ErrorCode.Value(f"ERROR_CODE_{name}"),
        name,
        grpc_status,
        http_status,
        message,
        field,
    )


_S = grpc.StatusCode
REGISTRY: tuple[ErrorSpec, ...] = (
    _spec("INVALID_ARGUMENT", _S.INVALID_ARGUMENT, 400, "invalid request"),
    _spec("UNKNOWN_ASSET", _S.INVALID_ARGUMENT, 400, "unknown asset"),
    _spec(
        "INVALID_LEVERAGE",
        _S.INVALID_ARGUMENT,
        400,
        "leverage must be an integer from 10 to 1000",
        "leverage",
    ),
    _spec(
        "INVALID_MARGIN",
        _S.INVALID_ARGUMENT,
        400,
        "margin must be positive with at most 4 decimals",
        "margin",
    ),
    _spec("INVALID_PRICE", _S.INVALID_ARGUMENT, 400, "price has too many decimals"),
    _spec("INSUFFICIENT_BALANCE", _S.FAILED_PRECONDITION, 400, "insufficient balance", "margin"),
    _spec("PRICE_UNAVAILABLE", _S.FAILED_PRECONDITION, 400, "no price yet for this asset"),
    _spec(
        "INVALID_STOP_LOSS",
        _S.INVALID_ARGUMENT,
        400,
        "stop loss is on the wrong side",
        "stop_loss_price",
    ),
    _spec(
        "INVALID_TAKE_PROFIT",
        _S.INVALID_ARGUMENT,
        400,
        "take profit is on the wrong side",
        "take_profit_price",
    ),
    _spec("TRADE_NOT_FOUND", _S.NOT_FOUND, 404, "trade not found", "trade_id"),
    _spec("ACCOUNT_NOT_FOUND", _S.FAILED_PRECONDITION, 400, "no engine account for this user"),
    _spec("ACCOUNT_EXISTS", _S.ALREADY_EXISTS, 400, "account already exists"),
    _spec("TOO_MANY_OPEN_TRADES", _S.RESOURCE_EXHAUSTED, 400, "too many open trades"),
    _spec("UNAUTHENTICATED", _S.UNAUTHENTICATED, 401, "authentication required"),
    _spec("RATE_LIMITED", _S.RESOURCE_EXHAUSTED, 429, "too many requests"),
    _spec("ENGINE_UNAVAILABLE", _S.UNAVAILABLE, 503, "engine unavailable"),
    _spec("ENGINE_TIMEOUT", _S.DEADLINE_EXCEEDED, 504, "engine did not answer in time"),
    _spec("INTERNAL", _S.INTERNAL, 500, "internal error"),
    # The trader's toolset (SPEC 3a): rejected with 400 like every business rejection.
    _spec("TOO_MANY_PENDING_ORDERS", _S.RESOURCE_EXHAUSTED, 400, "too many pending orders"),
    _spec(
        "INVALID_TRAILING_STOP",
        _S.INVALID_ARGUMENT,
        400,
        "trailing stop distance is out of range",
        "trailing_stop_distance",
    ),
    _spec(
        "INVALID_EXPIRY", _S.INVALID_ARGUMENT, 400, "expiry must be in the future", "expires_at_ms"
    ),
    _spec(
        "NOT_PENDING", _S.FAILED_PRECONDITION, 400, "the trade is not a pending order", "trade_id"
    ),
    _spec("NOT_OPEN", _S.FAILED_PRECONDITION, 400, "the trade is not open", "trade_id"),
    _spec(
        "DATABASE_UNAVAILABLE",
        _S.UNAVAILABLE,
        503,
        "the database is not answering: try again shortly",
    ),
    # A stream's end, never a command's answer: StreamTradeEvents could not deliver everything.
    _spec(
        "EVENTS_LOST",
        _S.ABORTED,
        409,
        "trade events were missed: re-read your trades and open the stream again",
    ),
)

BY_NAME: dict[str, ErrorSpec] = {spec.name: spec for spec in REGISTRY}
BY_CODE: dict[int, ErrorSpec] = {spec.code: spec for spec in REGISTRY}
BY_GRPC_STATUS: dict[grpc.StatusCode, ErrorSpec] = {}
for _spec_entry in REGISTRY:
    BY_GRPC_STATUS.setdefault(_spec_entry.grpc_status, _spec_entry)


def spec_for(name_or_code: str | int) -> ErrorSpec:
    """Look up by name (`"TRADE_NOT_FOUND"` or `"ERROR_CODE_TRADE_NOT_FOUND"`) or enum value."""
    if isinstance(name_or_code, int):
        return BY_CODE.get(name_or_code, BY_NAME["INTERNAL"])
    return BY_NAME.get(name_or_code.removeprefix("ERROR_CODE_"), BY_NAME["INTERNAL"])


class ApiError(Exception):
    """A rejection raised at the edge (validation, auth, limits) carrying its registry entry.

    `field` is the request field at fault; without one, the registry's for that error, if
    any. `retry_after_s` (whole seconds, at least 1) goes with RATE_LIMITED: gRPC sends it as
    `retry-after` trailing metadata, the REST facade as the Retry-After header."""

    def __init__(
        self,
        name: str,
        message: str | None = None,
        field: str | None = None,
        *,
        retry_after_s: int | None = None,
    ) -> None:
        self.spec = BY_NAME[name]
        self.field = field if field is not None else self.spec.field  # the registry's, if any
        self.message = message or self.spec.default_message
        self.retry_after_s = retry_after_s
        super().__init__(self.message)
