"""Edge validation of the trader's toolset (SPEC 3a): PlaceOrder, CancelOrder, ModifyTrade and
CloseTrade with a margin. Same contract as `gateway_svc.validation` (whose field rules these
call): a request by proto field names, failures naming the field, amounts in engine units.

A MODIFY_TRADE does not name its trade's asset, so its prices are checked twice: here against
the finest decimals any asset has (positive, bounded, exact), and by `change_units` against the
trade's own asset once the gRPC server has looked it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from exchange.v1 import types_pb2
from google.protobuf.message import Message

from gateway_svc import validation
from gateway_svc.errors import ApiError
from mesh.limits import ASSET_DECIMALS, MAX_PRICE, MAX_TIME_MS, USD_SCALE

ORDER_TYPES = {types_pb2.ORDER_TYPE_LIMIT: "LIMIT", types_pb2.ORDER_TYPE_STOP: "STOP"}
FINEST_DECIMALS = max(ASSET_DECIMALS.values())
# What a MODIFY_TRADE price may have before its trade's asset is known.
ANY_ASSETS_DECIMALS = (
    "at most its trade's asset's decimals ("
    + ", ".join(f"{asset} {decimals}" for asset, decimals in ASSET_DECIMALS.items())
    + ")"
)


class Keep(Enum):
    """MODIFY_TRADE's "absent": the field stays as it is (None removes it, a value sets it)."""

    KEEP = "KEEP"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class PendingOrder:
    """A validated PlaceOrderRequest, amounts in engine units."""

    order_id: str
    asset: str
    direction: int
    order_type: int  # types_pb2.OrderType, LIMIT or STOP
    price_units: int
    margin_units: int
    leverage: int
    stop_loss_units: int | None
    take_profit_units: int | None
    trailing_units: int | None
    expires_at_ms: int | None

    def wire_fields(self) -> dict[str, Any]:
        """The fields PlaceOrderRequest (REST -> gRPC) and the engine's PlaceOrder command
        (gRPC -> stream) share, amounts as proto Decimals at the engine's scales."""
        scale = ASSET_DECIMALS[self.asset]
        return {
            "asset": self.asset,
            "direction": self.direction,
            "order_type": self.order_type,
            "price": _wire(self.price_units, scale),
            "margin": _wire(self.margin_units, USD_SCALE),
            "leverage": self.leverage,
            "stop_loss_price": _wire(self.stop_loss_units, scale),
            "take_profit_price": _wire(self.take_profit_units, scale),
            "trailing_stop_distance": _wire(self.trailing_units, scale),
            "expires_at_ms": self.expires_at_ms,
        }


def _wire(units: int | None, scale: int) -> types_pb2.Decimal | None:
    return None if units is None else types_pb2.Decimal(units=units, scale=scale)


@dataclass(frozen=True)
class CloseRequest:
    order_id: str
    trade_id: str
    margin_units: int | None  # None closes all of it


@dataclass(frozen=True)
class TradeChange:
    """A validated ModifyTradeRequest. Prices are units at FINEST_DECIMALS until
    `change_units` reads them at the trade's asset."""

    order_id: str
    trade_id: str
    stop_loss: int | Keep | None
    take_profit: int | Keep | None
    trailing: int | Keep | None
    price: int | Keep
    expires_at_ms: int | Keep | None

    @property
    def has_prices(self) -> bool:
        levels = (self.stop_loss, self.take_profit, self.trailing, self.price)
        return any(isinstance(level, int) for level in levels)


def order_type(value: object, field: str = "order_type") -> int:
    if type(value) is not int or value not in ORDER_TYPES:
        raise ApiError("INVALID_ARGUMENT", f"{field} must be LIMIT or STOP", field=field)
    return value


def trailing(value: object, asset_name: str, field: str = "trailing_stop_distance") -> int | None:
    if value is None:
        return None
    return validation.price(value, asset_name, field, code="INVALID_TRAILING_STOP")


def expiry(value: object, field: str = "expires_at_ms") -> int | None:
    """Milliseconds since the epoch; None is good till cancelled. Whether it is still in the
    future is the engine's to say (its clock is the one that expires orders)."""
    if value is None:
        return None
    return validation.integer(value, field, "INVALID_EXPIRY", 1, MAX_TIME_MS)


def _one_stop(stop_loss: object, trailing_distance: object) -> None:
    """SPEC 3a: a trade has a trailing stop or a fixed stop loss, not both."""
    if stop_loss is not None and trailing_distance is not None:
        raise ApiError(
            "INVALID_TRAILING_STOP",
            "trailing_stop_distance cannot be set with stop_loss_price",
            field="trailing_stop_distance",
        )


def create_trade_trailing(request: Message | validation.Values, asset_name: str) -> int | None:
    """CreateTrade's trailing stop (the rest is `validation.create_trade`)."""
    values = validation.request_values(request)
    _one_stop(values.get("stop_loss_price"), values.get("trailing_stop_distance"))
    return trailing(values.get("trailing_stop_distance"), asset_name)


def place_order(request: Message | validation.Values) -> PendingOrder:
    values = validation.request_values(request)
    asset = validation.asset(values.get("asset"))
    order_id = validation.client_order_id(values.get("order_id"))
    direction = validation.direction(values.get("direction"))
    kind = order_type(values.get("order_type"))
    price = validation.price(values.get("price"), asset, "price")
    margin = validation.margin(values.get("margin"))
    leverage = validation.leverage(values.get("leverage"))
    stop_loss = validation.optional_price(values.get("stop_loss_price"), asset, "stop_loss_price")
    take_profit = validation.optional_price(
        values.get("take_profit_price"), asset, "take_profit_price"
    )
    _one_stop(stop_loss, values.get("trailing_stop_distance"))
    return PendingOrder(
        order_id=order_id,
        asset=asset,
        direction=direction,
        order_type=kind,
        price_units=price,
        margin_units=margin,
        leverage=leverage,
        stop_loss_units=stop_loss,
        take_profit_units=take_profit,
        trailing_units=trailing(values.get("trailing_stop_distance"), asset),
        expires_at_ms=expiry(values.get("expires_at_ms")),
    )


def cancel_order(request: Message | validation.Values) -> tuple[str, str]:
    """(order id, trade id)."""
    values = validation.request_values(request)
    return (
        validation.client_order_id(values.get("order_id")),
        validation.trade_id(values.get("trade_id")),
    )


def close_trade(request: Message | validation.Values) -> CloseRequest:
    values = validation.request_values(request)
    part = values.get("margin")
    return CloseRequest(
        order_id=validation.client_order_id(values.get("order_id")),
        trade_id=validation.trade_id(values.get("trade_id")),
        margin_units=None if part is None else validation.margin(part),
    )


def _present(request: Message | validation.Values) -> validation.Values:
    """MODIFY_TRADE tells absent (keep) from empty (remove): a proto request gives only the
    fields it has, a PriceChange or ExpiryChange unwrapped to its value or None."""
    if not isinstance(request, Message):
        return request
    values: dict[str, object] = {}
    for field, value in request.ListFields():
        if isinstance(value, types_pb2.PriceChange):
            values[field.name] = value.value if value.HasField("value") else None
        elif isinstance(value, types_pb2.ExpiryChange):
            present = value.HasField("expires_at_ms")
            values["expires_at_ms"] = value.expires_at_ms if present else None
        else:
            values[field.name] = value
    return values


def _level(values: validation.Values, field: str, code: str) -> int | Keep | None:
    if field not in values:
        return KEEP
    value = values[field]
    if value is None:
        return None
    return validation.amount(value, field, FINEST_DECIMALS, code, MAX_PRICE, ANY_ASSETS_DECIMALS)


CHANGEABLE = (
    "stop_loss_price",
    "take_profit_price",
    "trailing_stop_distance",
    "price",
    "expires_at_ms",
)
"""What a MODIFY_TRADE may change (SPEC 3a); it must name at least one."""


def modify_trade(request: Message | validation.Values) -> TradeChange:
    values = _present(request)
    order_id = validation.client_order_id(values.get("order_id"))
    trade_id = validation.trade_id(values.get("trade_id"))
    if not any(field in values for field in CHANGEABLE):
        # Refused here, not journaled as a change of nothing (an event, an audit row).
        raise ApiError(
            "INVALID_ARGUMENT",
            "nothing to change: the request names no stop loss, take profit, trailing "
            "distance, price or expiry",
        )
    if "stop_loss_price" in values and "trailing_stop_distance" in values:
        _one_stop(values["stop_loss_price"], values["trailing_stop_distance"])
    price = _level(values, "price", "INVALID_PRICE")
    if price is None:
        raise ApiError("INVALID_PRICE", "price cannot be removed", field="price")
    return TradeChange(
        order_id=order_id,
        trade_id=trade_id,
        stop_loss=_level(values, "stop_loss_price", "INVALID_PRICE"),
        take_profit=_level(values, "take_profit_price", "INVALID_PRICE"),
        trailing=_level(values, "trailing_stop_distance", "INVALID_TRAILING_STOP"),
        price=price,
        expires_at_ms=KEEP if "expires_at_ms" not in values else expiry(values["expires_at_ms"]),
    )


def change_units(units: int, asset_name: str, field: str, code: str = "INVALID_PRICE") -> int:
    """A MODIFY_TRADE price (units at FINEST_DECIMALS) at the trade's asset's decimals."""
    wire = types_pb2.Decimal(units=units, scale=FINEST_DECIMALS)
    return validation.price(wire, asset_name, field, code=code)
