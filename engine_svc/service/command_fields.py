"""Reading a command's fields from protobuf at the engine's scales: the shared checks (a
malformed command, an exact rescale, a direction) and the commands of the trader's toolset
(SPEC 3a). `convert` builds every command from these; the core never sees protobuf."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from exchange.v1 import commands_pb2, types_pb2

from engine_svc.core import types as core
from mesh import fixed

USD_SCALE = core.USD_SCALE


class MalformedCommand(ValueError):
    """A command the gateway should never have sent (the edge validates); answered, not applied."""


def rescale(value: types_pb2.Decimal, scale: int, what: str) -> int:
    """Exact conversion of a proto Decimal to integer units at `scale`; never rounds."""
    try:
        return fixed.rescale(value.units, value.scale, scale, what)
    except fixed.FixedPointError as error:
        raise MalformedCommand(str(error)) from None


DIRECTIONS = {
    types_pb2.DIRECTION_LONG: core.Direction.LONG,
    types_pb2.DIRECTION_SHORT: core.Direction.SHORT,
}
ORDER_TYPES = {
    types_pb2.ORDER_TYPE_LIMIT: core.OrderType.LIMIT,
    types_pb2.ORDER_TYPE_STOP: core.OrderType.STOP,
}


def optional_price(msg: Any, field: str, scale: int | None, what: str) -> core.Price | None:
    """An optional price field at the asset's `scale` (None: the asset is unknown, and the
    core answers UNKNOWN_ASSET)."""
    if scale is None or not msg.HasField(field):
        return None
    return core.Price(rescale(getattr(msg, field), scale, what))


def _place_order(msg: commands_pb2.PlaceOrder, assets: Mapping[str, int]) -> core.PlaceOrder:
    direction = DIRECTIONS.get(msg.direction)
    if direction is None:
        raise MalformedCommand("direction must be LONG or SHORT")
    order_type = ORDER_TYPES.get(msg.order_type)
    if order_type is None:
        raise MalformedCommand("order_type must be LIMIT or STOP")
    scale = assets.get(msg.asset)
    price = optional_price(msg, "price", scale, "price")
    if price is None and scale is not None:
        raise MalformedCommand("price is required")
    return core.PlaceOrder(
        asset=msg.asset,
        direction=direction,
        order_type=order_type,
        price=price if price is not None else core.Price(0),
        margin=core.Usd(rescale(msg.margin, USD_SCALE, "margin")),
        leverage=msg.leverage or core.DEFAULT_LEVERAGE,
        stop_loss=optional_price(msg, "stop_loss_price", scale, "stop loss price"),
        take_profit=optional_price(msg, "take_profit_price", scale, "take profit price"),
        trailing_distance=optional_price(
            msg, "trailing_stop_distance", scale, "trailing stop distance"
        ),
        expires_at_ms=msg.expires_at_ms if msg.HasField("expires_at_ms") else None,
    )


def _cancel_order(msg: commands_pb2.CancelOrder, assets: Mapping[str, int]) -> core.CancelOrder:
    return core.CancelOrder(msg.trade_id)


def _change(msg: Any, field: str, scale: int | None, what: str) -> core.Price | core.Keep | None:
    """A PriceChange: absent keeps the level, empty removes it, a value sets it."""
    if not msg.HasField(field):
        return core.KEEP
    change = getattr(msg, field)
    if not change.HasField("value"):
        return None
    if scale is None:
        raise MalformedCommand(f"{what}: the trade's asset is needed to read a price")
    return core.Price(rescale(change.value, scale, what))


def _modify_trade(msg: commands_pb2.ModifyTrade, assets: Mapping[str, int]) -> core.ModifyTrade:
    """Prices are read at the decimals of `msg.asset`, which the gateway fills from the
    engine's own view of the trade (decoding runs without engine state, and a trade's asset
    never changes)."""
    scale = assets.get(msg.asset)
    price: core.Price | core.Keep = core.KEEP
    if msg.HasField("price"):
        if scale is None:
            raise MalformedCommand("price: the trade's asset is needed to read a price")
        price = core.Price(rescale(msg.price, scale, "price"))
    expires: int | core.Keep | None = core.KEEP
    if msg.HasField("expires_at"):
        change = msg.expires_at
        expires = change.expires_at_ms if change.HasField("expires_at_ms") else None
    return core.ModifyTrade(
        trade_id=msg.trade_id,
        stop_loss=_change(msg, "stop_loss_price", scale, "stop loss price"),
        take_profit=_change(msg, "take_profit_price", scale, "take profit price"),
        trailing_distance=_change(msg, "trailing_stop_distance", scale, "trailing stop distance"),
        price=price,
        expires_at_ms=expires,
    )


TOOLSET_BODIES = (core.PlaceOrder, core.CancelOrder, core.ModifyTrade)
TOOLSET_FROM_PROTO: dict[str, Callable[[Any, Mapping[str, int]], core.CommandBody]] = {
    "place_order": _place_order,
    "cancel_order": _cancel_order,
    "modify_trade": _modify_trade,
}
