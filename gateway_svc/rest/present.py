"""Protobuf replies -> the JSON shapes of SPEC section 3.

Money and prices become exact `Decimal` JSON numbers in units (235.95, 5000); leverage is shown
as the multiplier (L10 1000 -> 100). Only `/price` and WebSocket ticks keep the seed's string of
integer units beside `decimal`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchange.v1 import events_pb2, exchange_service_pb2, prices_pb2, responses_pb2, types_pb2

from gateway_svc.rest.jsonio import plain_decimal
from mesh.assets import ASSET_DECIMALS


def number(value: types_pb2.Decimal) -> Decimal:
    return plain_decimal(value.units, value.scale)


def optional_number(message: Any, field: str) -> Decimal | None:
    """Absent optional levels (a 1x LONG's liquidation price) are null, not 0."""
    return number(getattr(message, field)) if message.HasField(field) else None


def leverage_display(l10: int) -> Decimal:
    return plain_decimal(l10, 1)


def _enum_suffix(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix)


def integer_units(value: types_pb2.Decimal, scale: int) -> int:
    """Re-express a price at the asset's own decimals (the server should already send that)."""
    if value.scale == scale:
        return int(value.units)
    if value.scale < scale:
        return int(value.units) * 10 ** (scale - value.scale)
    return int(value.units) // 10 ** (value.scale - scale)


def price(tick: prices_pb2.PriceTick) -> dict[str, Any]:
    scale = ASSET_DECIMALS.get(tick.asset, tick.ask.scale)
    ask = integer_units(tick.ask, scale)
    bid = integer_units(tick.bid, scale)
    return {
        "asset": tick.asset,
        "price": str(ask),
        "decimal": scale,
        "bid": str(bid),
        "ask": str(ask),
        "ts": tick.ts_us // 1000,  # the tick's time: how old the quote is
    }


def price_event(tick: prices_pb2.PriceTick) -> dict[str, Any]:
    body = price(tick)
    return {
        "type": "price",
        "asset": body["asset"],
        "bid": body["bid"],
        "ask": body["ask"],
        "decimal": body["decimal"],
        "ts": body["ts"],
    }


def candle(c: exchange_service_pb2.Candle) -> dict[str, Any]:
    return {
        "time": c.time_ms,
        "open": number(c.open),
        "high": number(c.high),
        "low": number(c.low),
        "close": number(c.close),
    }


def open_trade(t: types_pb2.Trade) -> dict[str, Any]:
    return {
        "tradeId": t.trade_id,
        "asset": t.asset,
        "direction": _enum_suffix(types_pb2.Direction, t.direction, "DIRECTION_"),
        "margin": number(t.margin),
        "leverage": leverage_display(t.leverage),
        "entryPrice": number(t.entry_price),
        "liquidationPrice": optional_number(t, "liquidation_price"),
        "stopLossPrice": optional_number(t, "stop_loss_price"),
        "takeProfitPrice": optional_number(t, "take_profit_price"),
        "unrealizedPnl": optional_number(t, "unrealized_pnl"),
        "openedAt": t.opened_at_ms,
        # SPEC 3a: a trailing stop shows where it stands as stopLossPrice, beside its distance.
        "trailingStopDistance": optional_number(t, "trailing_stop_distance"),
        **_from_order(t),
    }


def _from_order(t: types_pb2.Trade) -> dict[str, Any]:
    """A trade that came from an order (SPEC 3a: its TRADE_OPENED event says so), or an order
    that ended unfilled: the order's type and price. Nothing for a market trade."""
    if not t.order_type:
        return {}
    return {
        "orderType": _enum_suffix(types_pb2.OrderType, t.order_type, "ORDER_TYPE_"),
        "price": optional_number(t, "order_price"),
    }


def pending_trade(t: types_pb2.Trade) -> dict[str, Any]:
    """A pending order's row (GET /api/v1/trades/pending, order events on the WebSocket)."""
    row = open_trade(t)
    del row["unrealizedPnl"]
    row.update(
        status=_enum_suffix(types_pb2.TradeStatus, t.status, "TRADE_STATUS_"),
        orderType=_enum_suffix(types_pb2.OrderType, t.order_type, "ORDER_TYPE_")
        if t.order_type
        else None,
        price=optional_number(t, "order_price"),
        expiresAt=t.expires_at_ms if t.HasField("expires_at_ms") else None,
    )
    return row


def closed_trade(t: types_pb2.Trade) -> dict[str, Any]:
    row = open_trade(t)
    del row["unrealizedPnl"]
    row.update(
        status=_enum_suffix(types_pb2.TradeStatus, t.status, "TRADE_STATUS_"),
        exitPrice=optional_number(t, "exit_price"),
        pnl=optional_number(t, "pnl"),
        totalReturn=optional_number(t, "total_return"),
        closedAt=t.closed_at_ms or None,
        partial=t.partial,  # SPEC 3a: the part of a partial close is a row of its own
    )
    if t.reason:
        row["reason"] = t.reason  # why an order ended REJECTED
    if t.reason_code:  # and its code, as the same rejection at open would carry (SPEC 3a)
        row["reasonCode"] = _enum_suffix(types_pb2.ErrorCode, t.reason_code, "ERROR_CODE_")
    return row


def order(o: exchange_service_pb2.Order) -> dict[str, Any]:
    return {
        "orderId": o.order_id,
        "command": o.command,
        "status": o.status,
        "errorCode": _enum_suffix(types_pb2.ErrorCode, o.error_code, "ERROR_CODE_")
        if o.error_code
        else None,
        "message": o.message,
        "latencyMs": plain_decimal(o.latency_us, 3),
        "createdAt": o.created_at_ms,
        "tradeId": o.trade_id or None,
    }


def account(a: responses_pb2.AccountSummary) -> dict[str, Any]:
    return {
        "balance": number(a.balance),
        "equity": number(a.equity),
        "usedMargin": number(a.used_margin),
        "reservedMargin": number(a.reserved_margin),
        "freeMargin": number(a.free_margin),
        "marginLevel": optional_number(a, "margin_level"),
        "unrealizedPnl": number(a.unrealized_pnl),
    }


def account_created(a: responses_pb2.AccountCreated) -> dict[str, Any]:
    return {
        "email": a.email,
        "initialUsdBalance": number(a.initial_usd_balance),
        "assets": list(a.assets),
    }


def usd_balance(b: responses_pb2.UsdBalance) -> dict[str, Any]:
    return {"email": b.email, "usdBalance": number(b.usd_balance)}


def balances(b: responses_pb2.Balances) -> dict[str, Any]:
    return {"email": b.email, "balances": {k: number(v) for k, v in sorted(b.balances.items())}}


def trade_opened(o: responses_pb2.TradeOpened) -> dict[str, Any]:
    t = o.trade
    data: dict[str, Any] = {
        "email": o.email,
        "tradeId": t.trade_id,
        "entryPrice": number(t.entry_price),
    }
    # The seed omits the optional levels when they are not set.
    for key, field in (
        ("liquidationPrice", "liquidation_price"),
        ("stopLossPrice", "stop_loss_price"),
        ("takeProfitPrice", "take_profit_price"),
        # SPEC 3a: a trailing stop's answer shows its distance beside the stop.
        ("trailingStopDistance", "trailing_stop_distance"),
    ):
        if t.HasField(field):
            data[key] = number(getattr(t, field))
    data["margin"] = number(t.margin)
    data["leverage"] = leverage_display(t.leverage)
    return data


def trade_closed(c: responses_pb2.TradeClosed) -> dict[str, Any]:
    t = c.trade
    return {
        "email": c.email,
        "tradeId": t.trade_id,
        "asset": t.asset,
        "marginReturned": number(c.margin_returned),
        "pnl": number(t.pnl),
        "totalReturn": number(t.total_return),
        "closePrice": number(t.exit_price),
    }


def trade_event(e: events_pb2.TradeEvent) -> dict[str, Any]:
    kind = _enum_suffix(events_pb2.TradeEventKind, e.kind, "TRADE_EVENT_KIND_")
    if e.trade.status == types_pb2.TRADE_STATUS_PENDING:
        trade = pending_trade(e.trade)
    elif e.trade.status == types_pb2.TRADE_STATUS_OPEN:
        trade = open_trade(e.trade)  # OPENED, TRADE_MODIFIED
    else:
        trade = closed_trade(e.trade)  # an end, an order's end, or a partial close's part
    return {
        "type": "trade",
        "event": kind,
        "eventSeq": e.event_seq,
        "orderId": e.order_id or None,
        "ts": e.ts_ms,
        "trade": trade,
    }
