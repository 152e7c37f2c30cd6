"""Validation of `POST /api/v1/engine` bodies: the edge check, done once, before any gRPC call.

Every failure is an `ApiError` whose message starts with the field it is about, so a client
(or the web page) can point at the wrong input.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from gateway_svc.errors import ApiError
from gateway_svc.rest.numbers import exact_int, exact_units
from mesh.assets import ASSET_DECIMALS, USD_SCALE

COMMANDS = ("CREATE_ACCOUNT", "GET_USD_BALANCE", "GET_BALANCE", "CREATE_TRADE", "CLOSE_TRADE")
DIRECTIONS = ("LONG", "SHORT")
LEVERAGE_MIN, LEVERAGE_MAX, LEVERAGE_DEFAULT = 10, 1000, 10
# Bounds well inside int64 units; far above any real margin or price, so they only stop abuse.
MAX_MARGIN_USD = 1_000_000_000
MAX_PRICE = 1_000_000_000
# Ids are UUIDs in their 36-character form. Spelled with explicit ASCII classes, not \d or
# uuid.UUID(), which take other scripts' digits (int("\uff10", 16) == 0), braces and "urn:uuid:".
UUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
UUID_RE = re.compile(UUID_PATTERN)
TRADE_ID_PATTERN = UUID_PATTERN
# Printable ASCII other than '@' on both sides of one '@': no controls, spaces, look-alikes,
# zero-width or bidi characters, lone surrogates. The gRPC server checks the full syntax
# (gateway_svc.validation.email); this is the same rule an OpenAPI (ECMA) pattern can state.
_EMAIL_CHAR = r"[\x21-\x3f\x41-\x7e]"
EMAIL_PATTERN = f"^{_EMAIL_CHAR}+@{_EMAIL_CHAR}+$"
EMAIL_RE = re.compile(EMAIL_PATTERN)
MAX_EMAIL_CHARS = 254  # RFC 5321's limit on a forward path

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
    ),
    "CLOSE_TRADE": (*_COMMON, "tradeId"),
}


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


def parse_order_id(value: Any) -> str | None:
    """A client-chosen order id makes a retry idempotent; it must be a UUID."""
    if value is None:
        return None
    if not isinstance(value, str) or not UUID_RE.fullmatch(value):
        raise ApiError("INVALID_ARGUMENT", "orderId must be a UUID string", field="orderId")
    return str(uuid.UUID(value))


def parse_asset(value: Any) -> str:
    if not isinstance(value, str) or value not in ASSET_DECIMALS:
        supported = ", ".join(ASSET_DECIMALS)
        raise ApiError("UNKNOWN_ASSET", f"asset must be one of {supported}", field="asset")
    return value


def _price(body: dict[str, Any], field: str, scale: int) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    return exact_units(value, field, scale, "INVALID_PRICE", MAX_PRICE)


def _create_trade(body: dict[str, Any], order_id: str | None) -> EngineCommand:
    if "asset" not in body:
        raise ApiError("UNKNOWN_ASSET", "asset is required", field="asset")
    asset = parse_asset(body["asset"])
    direction = body.get("direction")
    if direction not in DIRECTIONS:
        raise ApiError("INVALID_ARGUMENT", "direction must be LONG or SHORT", field="direction")
    if body.get("margin") is None:
        raise ApiError("INVALID_MARGIN", "margin is required", field="margin")
    margin = exact_units(body["margin"], "margin", USD_SCALE, "INVALID_MARGIN", MAX_MARGIN_USD)
    leverage = LEVERAGE_DEFAULT
    if body.get("leverage") is not None:
        leverage = exact_int(
            body["leverage"], "leverage", "INVALID_LEVERAGE", LEVERAGE_MIN, LEVERAGE_MAX
        )
    scale = ASSET_DECIMALS[asset]
    return EngineCommand(
        command="CREATE_TRADE",
        order_id=order_id,
        asset=asset,
        direction=direction,
        margin_units=margin,
        leverage=leverage,
        stop_loss_units=_price(body, "stopLossPrice", scale),
        take_profit_units=_price(body, "takeProfitPrice", scale),
    )


def _close_trade(body: dict[str, Any], order_id: str | None) -> EngineCommand:
    trade_id = body.get("tradeId")
    if not isinstance(trade_id, str) or not UUID_RE.fullmatch(trade_id):
        raise ApiError("INVALID_ARGUMENT", "tradeId must be a UUID string", field="tradeId")
    return EngineCommand(command="CLOSE_TRADE", order_id=order_id, trade_id=trade_id.lower())


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
    if command == "CREATE_TRADE":
        return _create_trade(body, order_id)
    if command == "CLOSE_TRADE":
        return _close_trade(body, order_id)
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
    if not isinstance(email, str):
        raise ApiError("INVALID_ARGUMENT", "email is required", field="email")
    if len(email) > MAX_EMAIL_CHARS or not EMAIL_RE.fullmatch(email):
        raise ApiError("INVALID_ARGUMENT", "email is not a valid address", field="email")
    return email
