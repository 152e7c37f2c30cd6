"""Audit-trail rows -> protobuf messages. Amounts stay integers: a row's units and scale become
a proto Decimal as they are."""

from __future__ import annotations

import logging

from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import types_pb2

from gateway_svc.db import CandleRow, OrderRow, TradeRow
from gateway_svc.grpc_services.ended import ended_rejection, has_ended
from mesh.assets import USD_SCALE

log = logging.getLogger(__name__)


def decimal(units: int, scale: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


def trade(row: TradeRow) -> types_pb2.Trade:
    out = types_pb2.Trade(
        trade_id=row.part_of or row.trade_id,  # a partial close's part shows its trade's id
        partial=row.part_of is not None,
        user_id=row.user_id,
        email=row.email,
        asset=row.asset,
        direction=types_pb2.Direction.Value(f"DIRECTION_{row.direction}"),
        margin=decimal(row.margin, USD_SCALE),
        leverage=row.leverage,
        entry_price=decimal(row.entry_price, row.price_scale),
        status=types_pb2.TradeStatus.Value(f"TRADE_STATUS_{row.status}"),
        opened_at_ms=row.opened_at_ms,
    )
    prices = (
        ("liquidation_price", row.liquidation_price),
        ("stop_loss_price", row.stop_loss_price),
        ("take_profit_price", row.take_profit_price),
        ("exit_price", row.exit_price),
        ("order_price", row.order_price),
        ("trailing_stop_distance", row.trailing_stop_distance),
    )
    for field, units in prices:
        if units is not None:
            getattr(out, field).CopyFrom(decimal(units, row.price_scale))
    for field, units in (("pnl", row.pnl), ("total_return", row.total_return)):
        if units is not None:
            getattr(out, field).CopyFrom(decimal(units, USD_SCALE))
    if row.closed_at_ms is not None:
        out.closed_at_ms = row.closed_at_ms
    if row.order_type is not None:
        out.order_type = types_pb2.OrderType.Value(f"ORDER_TYPE_{row.order_type}")
    if row.expires_at_ms is not None:
        out.expires_at_ms = row.expires_at_ms
    if row.reason_code is not None:
        out.reason_code = error_code(row.reason_code)  # type: ignore[assignment]
        out.reason = row.reason or ""
    return out


def error_code(name: str | None) -> int:
    if not name:
        return types_pb2.ERROR_CODE_UNSPECIFIED
    try:
        return types_pb2.ErrorCode.Value(f"ERROR_CODE_{name}")
    except ValueError:
        log.warning("orders audit holds an unknown error code %r", name)
        return types_pb2.ERROR_CODE_INTERNAL


def order(row: OrderRow) -> xs.Order:
    """The engine's "not found" of a trade the ledger has ended reads with how it ended, as the
    gateway answers it (grpc_services.ended); the row keeps the engine's own."""
    code, message = row.error_code, row.message
    if code == "TRADE_NOT_FOUND" and has_ended(row.ended_as):
        told = ended_rejection(row.command, row.ended_as)
        code, message = told.spec.name, told.message
    return xs.Order(
        order_id=row.order_id,
        command=row.command,
        status=row.status,
        error_code=error_code(code),  # type: ignore[arg-type]
        message=message,
        latency_us=row.latency_us,
        created_at_ms=row.created_at_ms,
        trade_id=row.trade_id or "",
    )


def candle(row: CandleRow) -> xs.Candle:
    return xs.Candle(
        time_ms=row.time_ms,
        open=decimal(row.open, row.scale),
        high=decimal(row.high, row.scale),
        low=decimal(row.low, row.scale),
        close=decimal(row.close, row.scale),
    )
