"""What the audit trail hands back: plain frozen rows with integer units and millisecond times.

Also the conversions at the edge: protobuf Decimal -> units at a fixed scale (exact or an
error, never rounded) and milliseconds <-> timestamptz (exact, no float on the way).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from exchange.v1 import types_pb2

from mesh.fixed import rescale

# rescale: the one conversion (mesh.fixed); launcher/reconcile imports it from here too.

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class UserRow:
    id: str
    email: str
    created_at_ms: int


@dataclass(frozen=True)
class OrderRow:
    """One answered command. `error_code` is the registry name without the ERROR_CODE_ prefix
    (e.g. "INSUFFICIENT_BALANCE"), None on success. Keyed by (user_id, order_id). Written by
    the ledger's audit writer, `latency_us` is the engine's: from reading the command off its
    stream to publishing the answer, journal commit included (not the client's round trip).
    `engine_seq` is the command's place in the engine's journal: with the order id it names
    one command for good (an order id the engine's memory forgot may come back as a new
    command); 0 for rows written before it was kept."""

    order_id: str
    user_id: str
    command: str
    status: str  # "success" | "error"
    error_code: str | None
    message: str
    latency_us: int
    trade_id: str | None
    created_at_ms: int
    request: dict[str, Any] | None = None
    engine_seq: int = 0
    ended_as: str | None = None
    """Not a column: read back by `list_orders` for a TRADE_NOT_FOUND, the status the ledger
    has of the trade it names (None without one)."""


@dataclass(frozen=True)
class TradeRow:
    """A position as of its newest event. USD amounts (margin, pnl, total_return) at scale 4,
    prices at `price_scale`. direction: LONG | SHORT; status: OPEN | CLOSED | LIQUIDATED |
    STOP_LOSS | TAKE_PROFIT. Optional levels and the closed-only fields are None when absent."""

    trade_id: str
    user_id: str
    email: str
    asset: str
    direction: str
    margin: int
    leverage: int
    entry_price: int
    liquidation_price: int | None
    stop_loss_price: int | None
    take_profit_price: int | None
    price_scale: int
    status: str
    opened_at_ms: int
    exit_price: int | None
    pnl: int | None
    total_return: int | None
    closed_at_ms: int | None
    open_order_id: str | None
    close_order_id: str | None
    last_event_seq: int
    order_type: str | None = None
    order_price: int | None = None
    expires_at_ms: int | None = None
    trailing_stop_distance: int | None = None
    reason_code: str | None = None
    reason: str | None = None
    part_of: str | None = None
    """Set on the part of a partial close: the trade it was part of (SPEC 3a)."""


@dataclass(frozen=True)
class CandleRow:
    """One candle from ask prices; `time_ms` is the bucket start, prices at `scale`."""

    time_ms: int
    open: int
    high: int
    low: int
    close: int
    scale: int


@functools.lru_cache(maxsize=4096)
def ms_to_ts(ms: int) -> datetime:
    """Cached: a batch's events share their few instants (a storm's thousands share one)."""
    return EPOCH + ms * ONE_MS


def ts_to_ms(ts: datetime) -> int:
    """Floor to the millisecond (a server-side now() carries microseconds)."""
    return (ts - EPOCH) // ONE_MS


def ts_to_us(ts: datetime) -> int:
    return (ts - EPOCH) // ONE_US


def us_to_ts(us: int) -> datetime:
    return EPOCH + us * ONE_US


def decimal_units(value: types_pb2.Decimal, to_scale: int, what: str) -> int:
    """ValueError (FixedPointError) if the value has more than `to_scale` decimals."""
    return rescale(value.units, value.scale, to_scale, what)


def optional_units(message: Any, field: str, to_scale: int) -> int | None:
    """The Decimal field's units at `to_scale`, or None when the field is absent."""
    if not message.HasField(field):
        return None
    return decimal_units(getattr(message, field), to_scale, field)


def order_values(order: OrderRow) -> dict[str, Any]:
    """The `orders` row to insert; ValueError for a status the table refuses."""
    if order.status not in ("success", "error"):
        raise ValueError(f"order status must be 'success' or 'error', got {order.status!r}")
    return {
        "order_id": order.order_id,
        "user_id": order.user_id,
        "command": order.command,
        "status": order.status,
        "error_code": order.error_code,
        "message": order.message,
        "latency_us": order.latency_us,
        "trade_id": order.trade_id,
        # JSON text: the multi-row insert sends the column as one text[] cast to jsonb[].
        # orjson: a tenth of json.dumps's cost, and jsonb keeps no spacing anyway.
        "request": None if order.request is None else orjson.dumps(order.request).decode(),
        "created_at": ms_to_ts(order.created_at_ms),
        "engine_seq": order.engine_seq,
    }


def row_to_order(row: Any, ended_as: str | None = None) -> OrderRow:
    return OrderRow(
        order_id=row.order_id,
        user_id=row.user_id,
        command=row.command,
        status=row.status,
        error_code=row.error_code,
        message=row.message,
        latency_us=row.latency_us,
        trade_id=row.trade_id,
        created_at_ms=ts_to_ms(row.created_at),
        request=row.request,
        engine_seq=row.engine_seq,
        ended_as=ended_as,
    )


def row_to_trade(row: Any) -> TradeRow:
    return TradeRow(
        trade_id=row.trade_id,
        user_id=row.user_id,
        email=row.email,
        asset=row.asset,
        direction=row.direction,
        margin=row.margin,
        leverage=row.leverage,
        entry_price=row.entry_price,
        liquidation_price=row.liquidation_price,
        stop_loss_price=row.stop_loss_price,
        take_profit_price=row.take_profit_price,
        price_scale=row.price_scale,
        status=row.status,
        opened_at_ms=ts_to_ms(row.opened_at),
        exit_price=row.exit_price,
        pnl=row.pnl,
        total_return=row.total_return,
        closed_at_ms=None if row.closed_at is None else ts_to_ms(row.closed_at),
        open_order_id=row.open_order_id,
        close_order_id=row.close_order_id,
        last_event_seq=row.last_event_seq,
        order_type=row.order_type,
        order_price=row.order_price,
        expires_at_ms=row.expires_at_ms,
        trailing_stop_distance=row.trailing_stop_distance,
        reason_code=row.reason_code,
        reason=row.reason,
        part_of=row.part_of,
    )
