"""Protobuf replies of the trader's toolset -> the JSON shapes of SPEC section 3a.

Numbers as in `present`: exact decimals in units, leverage as the multiplier, optional levels
left out of command answers when not set (as the seed does) and null in list rows.
"""

from __future__ import annotations

from typing import Any

from exchange.v1 import responses_pb2, types_pb2

from gateway_svc.rest.present import leverage_display, number, pending_trade

__all__ = ["pending_trade"]  # the rows of GET /api/v1/trades/pending live in `present`

_LEVELS = (
    ("liquidationPrice", "liquidation_price"),
    ("stopLossPrice", "stop_loss_price"),
    ("takeProfitPrice", "take_profit_price"),
    ("trailingStopDistance", "trailing_stop_distance"),
)


def status(t: types_pb2.Trade) -> str:
    return str(types_pb2.TradeStatus.Name(t.status)).removeprefix("TRADE_STATUS_")


def order_type(t: types_pb2.Trade) -> str | None:
    if not t.order_type:
        return None
    return str(types_pb2.OrderType.Name(t.order_type)).removeprefix("ORDER_TYPE_")


def _set_levels(data: dict[str, Any], t: types_pb2.Trade, skip: tuple[str, ...] = ()) -> None:
    for key, field in _LEVELS:
        if field not in skip and t.HasField(field):
            data[key] = number(getattr(t, field))


def order_placed(p: responses_pb2.OrderPlaced) -> dict[str, Any]:
    t = p.trade
    data: dict[str, Any] = {
        "email": p.email,
        "tradeId": t.trade_id,
        "status": status(t),
        "asset": t.asset,
        "direction": str(types_pb2.Direction.Name(t.direction)).removeprefix("DIRECTION_"),
        "orderType": order_type(t),
        "price": number(t.order_price),
        "margin": number(t.margin),
        "leverage": leverage_display(t.leverage),
    }
    # SPEC 3a: until the fill, an order's views show no trailing stopLossPrice.
    skip = ("liquidation_price",) + (
        ("stop_loss_price",) if t.HasField("trailing_stop_distance") else ()
    )
    _set_levels(data, t, skip)
    if t.HasField("expires_at_ms"):
        data["expiresAt"] = t.expires_at_ms
    return data


def order_cancelled(c: responses_pb2.OrderCancelled) -> dict[str, Any]:
    t = c.trade
    return {
        "email": c.email,
        "tradeId": t.trade_id,
        "status": status(t),
        "marginReturned": number(c.margin_returned),
    }


def trade_modified(m: responses_pb2.TradeModified) -> dict[str, Any]:
    t = m.trade
    data: dict[str, Any] = {"email": m.email, "tradeId": t.trade_id, "status": status(t)}
    pending = t.status == types_pb2.TRADE_STATUS_PENDING
    if pending:
        data["price"] = number(t.order_price)
        if t.HasField("expires_at_ms"):
            data["expiresAt"] = t.expires_at_ms
    else:
        data["entryPrice"] = number(t.entry_price)
    _set_levels(data, t)
    return data


def remaining_margin(c: responses_pb2.TradeClosed) -> dict[str, Any]:
    """What CLOSE_TRADE's answer adds to section 3's shape."""
    return {"remainingMargin": number(c.remaining_margin) if c.HasField("remaining_margin") else 0}
