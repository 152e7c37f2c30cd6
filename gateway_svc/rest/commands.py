"""Validation of `POST /api/v1/engine` bodies: the edge check, done once, before any gRPC call.

Every failure is an `ApiError` whose message starts with the field it is about, so a client
(or the web page) can point at the wrong input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from exchange.v1 import types_pb2

from gateway_svc import validation, validation_orders
from gateway_svc.errors import ApiError
from mesh.limits import LEVERAGE_DEFAULT

COMMANDS = (
    "CREATE_ACCOUNT",
    "GET_USD_BALANCE",
    "GET_BALANCE",
    "CREATE_TRADE",
    "CLOSE_TRADE",
    "PLACE_ORDER",
    "CANCEL_ORDER",
    "MODIFY_TRADE",
)
DIRECTIONS = {"LONG": types_pb2.DIRECTION_LONG, "SHORT": types_pb2.DIRECTION_SHORT}
ORDER_TYPES = {"LIMIT": types_pb2.ORDER_TYPE_LIMIT, "STOP": types_pb2.ORDER_TYPE_STOP}
TRADE_ID_PATTERN = validation.UUID_PATTERN
# Printable ASCII other than '@' on both sides of one '@': no controls, spaces, look-alikes,
# zero-width or bidi characters, lone surrogates. The gRPC server checks the full syntax
# (gateway_svc.validation.email); this is the same rule an OpenAPI (ECMA) pattern can state.
_EMAIL_CHAR = r"[\x21-\x3f\x41-\x7e]"
EMAIL_PATTERN = f"^{_EMAIL_CHAR}+@{_EMAIL_CHAR}+$"
EMAIL_RE = re.compile(EMAIL_PATTERN)
MAX_EMAIL_CHARS = validation.MAX_EMAIL_CHARS

# JSON name -> proto name, for every field a body may carry. The rules are gateway_svc.validation's
# (keyed by proto names); a rejection is renamed back to the JSON spelling.
JSON_TO_PROTO: dict[str, str] = {
    "orderId": "order_id",
    "tradeId": "trade_id",
    "asset": "asset",
    "direction": "direction",
    "margin": "margin",
    "leverage": "leverage",
    "stopLossPrice": "stop_loss_price",
    "takeProfitPrice": "take_profit_price",
    "trailingStopDistance": "trailing_stop_distance",
    "orderType": "order_type",
    "price": "price",
    "expiresAt": "expires_at_ms",
}
PROTO_TO_JSON = {proto: json for json, proto in JSON_TO_PROTO.items()}

_COMMON = ("command", "orderId")
FIELDS: dict[str, tuple[str, ...]] = {
    "CREATE_ACCOUNT": _COMMON,
    "GET_USD_BALANCE": _COMMON,
    "GET_BALANCE": _COMMON,
    "CREATE_TRADE": (
        *_COMMON,
        "asset",
        "direction",
        "margin",
        "leverage",
        "stopLossPrice",
        "takeProfitPrice",
        "trailingStopDistance",
    ),
    "CLOSE_TRADE": (*_COMMON, "tradeId", "margin"),
    "PLACE_ORDER": (
        *_COMMON,
        "asset",
        "direction",
        "orderType",
        "price",
        "margin",
        "leverage",
        "stopLossPrice",
        "takeProfitPrice",
        "trailingStopDistance",
        "expiresAt",
    ),
    "CANCEL_ORDER": (*_COMMON, "tradeId"),
    "MODIFY_TRADE": (
        *_COMMON,
        "tradeId",
        "stopLossPrice",
        "takeProfitPrice",
        "trailingStopDistance",
        "price",
        "expiresAt",
    ),
}

T = TypeVar("T")


@dataclass(frozen=True)
class EngineCommand:
    command: str
    order_id: str | None = None
    asset: str = ""
    direction: str = ""
    margin_units: int = 0
    leverage: int = LEVERAGE_DEFAULT
    stop_loss_units: int | None = None
    take_profit_units: int | None = None
    trade_id: str = ""
    trailing_units: int | None = None
    close_margin_units: int | None = None
    """CLOSE_TRADE's part of the margin; None closes it all."""
    toolset: validation_orders.PendingOrder | validation_orders.TradeChange | None = None
    """PLACE_ORDER's order or MODIFY_TRADE's change, as validated."""


def json_named(field: str, message: str) -> tuple[str, str]:
    """A proto field and a message about it, as the JSON body spells them: the field and every
    field the message names ("trailing_stop_distance", "trailing_stop_distance cannot be set
    with stop_loss_price") -> ("trailingStopDistance", "trailingStopDistance cannot be set with
    stopLossPrice"). Names without a JSON spelling stay as they are."""
    return PROTO_TO_JSON.get(field, field), words_renamed(message, PROTO_TO_JSON)


def words_renamed(message: str, names: Mapping[str, str]) -> str:
    """`message` with each whole word that is a key of `names` spelled as its value. For
    messages of the exchange's own (a field's rule), never for text a client wrote."""
    if not names:
        return message
    pattern = r"\b(?:" + "|".join(map(re.escape, names)) + r")\b"
    return re.sub(pattern, lambda found: names[found[0]], message)


def _renamed(error: ApiError) -> ApiError:
    """`error` with its field (and the message's first word) as the JSON body spells it:
    `stop_loss_price allows ...` -> `stopLossPrice allows ...`."""
    if error.field is None or error.field not in PROTO_TO_JSON:
        return error
    name, message = json_named(error.field, error.message)
    return ApiError(error.spec.name, message, field=name)


@contextmanager
def json_names() -> Iterator[None]:
    """Re-raise a validation error in the body's names (see `_renamed`)."""
    try:
        yield
    except ApiError as error:
        raise _renamed(error) from None


def proto_values(body: dict[str, Any]) -> validation.Values:
    """A JSON body's fields by proto name, as validation reads them: a direction's or an
    order type's name becomes its enum value. Anything else is refused there: an unknown name
    as it is, and a number as text, since REST takes the names only (a proto enum's number
    would otherwise pass as its name: `"direction": 1` as LONG)."""
    values: dict[str, object] = {JSON_TO_PROTO[k]: v for k, v in body.items() if k in JSON_TO_PROTO}
    direction = values.get("direction")
    if direction is not None:
        values["direction"] = _enum_value(DIRECTIONS, direction)
    kind = values.get("order_type")
    if kind is not None:
        values["order_type"] = _enum_value(ORDER_TYPES, kind)
    return values


def _enum_value(names: dict[str, int], value: object) -> object:
    return names.get(value, value) if isinstance(value, str) else repr(value)


def checked(rule: Callable[[validation.Values], T], body: dict[str, Any]) -> T:
    """`rule` (a gateway_svc.validation request check) on a JSON body, errors in JSON names."""
    try:
        return rule(proto_values(body))
    except ApiError as error:  # a plain try: this is every trade's path
        raise _renamed(error) from None


def parse_order_id(value: Any) -> str | None:
    """A client-chosen order id makes a retry idempotent; it must be a UUID."""
    if value is None:
        return None
    with json_names():
        return validation.order_id(value)


def _create_trade(body: dict[str, Any], order_id: str | None) -> EngineCommand:
    order = checked(validation.create_trade, body)
    trailing = None
    if body.get("trailingStopDistance") is not None:  # rare: kept off the hot path
        with json_names():
            trailing = validation_orders.create_trade_trailing(proto_values(body), order.asset)
    return EngineCommand(
        trailing_units=trailing,
        command="CREATE_TRADE",
        order_id=order_id,
        asset=order.asset,
        direction=validation.DIRECTIONS[order.direction],
        margin_units=order.margin_units,
        leverage=order.leverage,
        stop_loss_units=order.stop_loss_units,
        take_profit_units=order.take_profit_units,
    )


def _close_trade(body: dict[str, Any], order_id: str | None) -> EngineCommand:
    close = checked(validation_orders.close_trade, body)
    return EngineCommand(
        command="CLOSE_TRADE",
        order_id=order_id,
        trade_id=close.trade_id,
        close_margin_units=close.margin_units,
    )


def _place_order(body: dict[str, Any], order_id: str | None) -> EngineCommand:
    order = checked(validation_orders.place_order, body)
    return EngineCommand(command="PLACE_ORDER", order_id=order_id, toolset=order)


def _cancel_order(body: dict[str, Any], order_id: str | None) -> EngineCommand:
    _, trade_id = checked(validation_orders.cancel_order, body)
    return EngineCommand(command="CANCEL_ORDER", order_id=order_id, trade_id=trade_id)


def _modify_trade(body: dict[str, Any], order_id: str | None) -> EngineCommand:
    change = checked(validation_orders.modify_trade, body)
    return EngineCommand(
        command="MODIFY_TRADE", order_id=order_id, trade_id=change.trade_id, toolset=change
    )


_PARSERS = {
    "CREATE_TRADE": _create_trade,
    "CLOSE_TRADE": _close_trade,
    "PLACE_ORDER": _place_order,
    "CANCEL_ORDER": _cancel_order,
    "MODIFY_TRADE": _modify_trade,
}


def parse_command(body: Any) -> EngineCommand:
    """A parsed JSON body -> a valid `EngineCommand`, or an `ApiError` naming the field."""
    if not isinstance(body, dict):
        raise ApiError("INVALID_ARGUMENT", "request body must be a JSON object")
    command = body.get("command")
    if not isinstance(command, str) or command not in FIELDS:
        raise ApiError(
            "INVALID_ARGUMENT", f"command must be one of {', '.join(COMMANDS)}", field="command"
        )
    allowed = FIELDS[command]
    for key in body:
        if key not in allowed:
            shown = key if len(key) <= 40 else key[:40] + "..."
            raise ApiError("INVALID_ARGUMENT", f"{shown} is not a field of {command}", field=shown)
    order_id = parse_order_id(body.get("orderId"))
    parse = _PARSERS.get(command)
    if parse is not None:
        return parse(body, order_id)
    return EngineCommand(command=command, order_id=order_id)


def parse_email(body: Any) -> str:
    """The body of signup/signin: exactly `{"email": "<address>"}`."""
    if not isinstance(body, dict):
        raise ApiError("INVALID_ARGUMENT", "request body must be a JSON object")
    for key in body:
        if key != "email":
            shown = key if len(key) <= 40 else key[:40] + "..."
            raise ApiError("INVALID_ARGUMENT", f"{shown} is not a known field", field=shown)
    email = body.get("email")
    if email is None:
        raise ApiError("INVALID_ARGUMENT", "email is required", field="email")
    if not isinstance(email, str):
        raise ApiError("INVALID_ARGUMENT", "email must be a string", field="email")
    if len(email) > MAX_EMAIL_CHARS or not EMAIL_RE.fullmatch(email):
        raise ApiError("INVALID_ARGUMENT", "email is not a valid address", field="email")
    validation.email(email)  # the full rule, the one the gRPC server applies
    return email
