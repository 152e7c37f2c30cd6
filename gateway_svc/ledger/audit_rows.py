"""An engine CommandAudit as its `orders` row, the shape the gateway used to write itself.

`command` is the name the REST API uses (CREATE_TRADE, ...); `error_code` the registry name
(gateway_svc.errors); `request` the command's fields as JSON, amounts as exact decimal text at
the scale the command carried them (margin "100.5000", prices "238.000000"), absent optional
fields left out, None for commands without fields. `latency_us` is the ENGINE's latency: from
reading the command off its stream to publishing the answer, journal commit included; the
client's round trip (gateway, network) is not in it.
"""

from __future__ import annotations

from typing import Any

from exchange.v1 import audit_pb2, commands_pb2, types_pb2

from gateway_svc.db import OrderRow
from gateway_svc.db.trade_ledger import DIRECTION_NAMES
from gateway_svc.errors import spec_for

COMMAND_NAMES = {
    "create_account": "CREATE_ACCOUNT",
    "get_usd_balance": "GET_USD_BALANCE",
    "get_balance": "GET_BALANCE",
    "create_trade": "CREATE_TRADE",
    "close_trade": "CLOSE_TRADE",
    "get_open_trades": "GET_OPEN_TRADES",
    "get_account": "GET_ACCOUNT",
    "place_order": "PLACE_ORDER",
    "cancel_order": "CANCEL_ORDER",
    "modify_trade": "MODIFY_TRADE",
    "get_pending_orders": "GET_PENDING_ORDERS",
}
_TOOLSET = frozenset({"place_order", "cancel_order", "modify_trade"})
_ENUM_PREFIXES = {"Direction": "DIRECTION_", "OrderType": "ORDER_TYPE_"}


def order_row(audit: audit_pb2.CommandAudit) -> OrderRow:
    """ValueError for a record that cannot be a real engine answer."""
    command, result = audit.command, audit.result
    body = command.WhichOneof("body")
    if body is None:
        raise ValueError("audited command has no body")
    if not command.order_id or not command.user_id:
        raise ValueError("audited command lacks order_id or user_id")
    if result.error_code:
        spec = spec_for(result.error_code)
        status, code, message = "error", spec.name, result.message or spec.default_message
    else:
        status, code, message = "success", None, result.message
    return OrderRow(
        order_id=command.order_id,
        user_id=command.user_id,
        command=COMMAND_NAMES[body],
        status=status,
        error_code=code,
        message=message,
        latency_us=max(0, audit.engine_latency_us),
        trade_id=_trade_id(command, result) or None,
        created_at_ms=command.ts_ms or audit.answered_at_ms,
        request=request_json(command),
        engine_seq=result.engine_seq,
    )


def request_json(command: commands_pb2.Command) -> dict[str, Any] | None:
    body = command.WhichOneof("body")
    if body == "close_trade" or body in _TOOLSET:
        return _present_fields(getattr(command, body))
    if body != "create_trade":
        return None
    trade = command.create_trade
    fields: dict[str, Any] = {
        "asset": trade.asset,
        "direction": DIRECTION_NAMES.get(trade.direction, "UNSPECIFIED"),
        "margin": plain(trade.margin),
        "leverage": trade.leverage,
    }
    for name in ("stop_loss_price", "take_profit_price", "trailing_stop_distance"):
        if trade.HasField(name):
            fields[name] = plain(getattr(trade, name))
    return fields


def _present_fields(body: Any) -> dict[str, Any]:
    """The fields a command carries: amounts as `plain` text, enums by name, a MODIFY_TRADE
    change as its value or None (a removal); absent fields (kept ones) left out."""
    fields: dict[str, Any] = {}
    for field, value in body.ListFields():
        if isinstance(value, types_pb2.Decimal):
            fields[field.name] = plain(value)
        elif isinstance(value, types_pb2.PriceChange):
            fields[field.name] = plain(value.value) if value.HasField("value") else None
        elif isinstance(value, types_pb2.ExpiryChange):
            present = value.HasField("expires_at_ms")
            fields["expires_at_ms"] = value.expires_at_ms if present else None
        elif field.enum_type is not None:
            name = field.enum_type.values_by_number[value].name
            fields[field.name] = name.removeprefix(_ENUM_PREFIXES.get(field.enum_type.name, ""))
        else:
            fields[field.name] = value
    return fields


def plain(value: types_pb2.Decimal) -> str:
    """Exact decimal text with `scale` decimals: units 1005000 at scale 4 -> "100.5000"."""
    units, scale = value.units, value.scale
    sign, digits = ("-", str(-units)) if units < 0 else ("", str(units))
    if scale <= 0:
        return sign + digits + "0" * -scale
    digits = digits.rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def _trade_id(command: commands_pb2.Command, result: Any) -> str:
    kind = result.WhichOneof("data")
    if kind == "trade_opened":
        return str(result.trade_opened.trade.trade_id)
    if kind in ("trade_closed", "order_placed", "order_cancelled", "trade_modified"):
        return str(getattr(result, kind).trade.trade_id)
    body = command.WhichOneof("body")
    if body in ("close_trade", "cancel_order", "modify_trade"):
        return str(getattr(command, body).trade_id)
    return ""
