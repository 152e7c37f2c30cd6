"""Client-facing values built from engine state: trade views, responses, events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from engine_svc.core.frozen import fast_constructor
from engine_svc.core.model import Position
from engine_svc.core.trailing import live_group
from engine_svc.core.types import (
    Code,
    Direction,
    EventKind,
    Kind,
    Rejection,
    Response,
    ResultData,
    TradeClosed,
    TradeEvent,
    TradeOpened,
    TradeStatus,
    TradeView,
    Usd,
)

_trade_view: Callable[..., TradeView] = fast_constructor(TradeView)
new_response: Callable[[str, int, ResultData | None, Rejection | None], Response] = (
    fast_constructor(Response)
)
new_event: Callable[[int, Kind, TradeView, str, int], TradeEvent] = fast_constructor(TradeEvent)
new_opened: Callable[[str, TradeView], TradeOpened] = fast_constructor(TradeOpened)
new_closed: Callable[[str, TradeView, Usd], TradeClosed] = fast_constructor(TradeClosed)

_LONG = Direction.LONG
_SHORT = Direction.SHORT
_OPEN = TradeStatus.OPEN

EVENT_KIND: dict[TradeStatus, EventKind] = {
    TradeStatus.CLOSED: EventKind.CLOSED,
    TradeStatus.LIQUIDATED: EventKind.LIQUIDATED,
    TradeStatus.STOP_LOSS: EventKind.STOP_LOSS,
    TradeStatus.TAKE_PROFIT: EventKind.TAKE_PROFIT,
}


def open_view(pos: Position, unrealized_pnl: int | None = None) -> TradeView:
    account = pos.account
    if pos.ext is not None:
        return _extended_view(pos, pos.margin, None, None, None, None, unrealized_pnl)
    return _trade_view(
        pos.trade_id, account.user_id, account.email, pos.asset,
        _LONG if pos.is_long else _SHORT,
        pos.margin, pos.leverage, pos.entry, pos.liquidation, pos.stop_loss, pos.take_profit,
        _OPEN, pos.opened_at_ms,
        None, None, None, None, unrealized_pnl,
        None, None, None, None, False, None,
    )  # fmt: skip


def closed_view(
    pos: Position, exit_price: int, pnl: int, total_return: int, ts_ms: int
) -> TradeView:
    account = pos.account
    if pos.ext is not None:
        return _extended_view(pos, pos.margin, exit_price, pnl, total_return, ts_ms, None)
    return _trade_view(
        pos.trade_id, account.user_id, account.email, pos.asset,
        _LONG if pos.is_long else _SHORT,
        pos.margin, pos.leverage, pos.entry, pos.liquidation, pos.stop_loss, pos.take_profit,
        pos.status, pos.opened_at_ms,
        exit_price, pnl, total_return, ts_ms, None,
        None, None, None, None, False, None,
    )  # fmt: skip


def shown_stop(pos: Position) -> int | None:
    """The stop loss a view shows: the fixed one, or a trailing stop where it stands (none
    while the trailing stop is not live yet, on a pending order)."""
    ext = pos.ext
    if ext is None or ext.trailing is None:
        return pos.stop_loss
    if ext.trail is not None:
        stop = live_group(pos).extreme - ext.trailing
        return stop if pos.is_long else -stop
    return ext.last_stop


def ended_view(pos: Position, ts_ms: int) -> TradeView:
    """A pending order that ended without opening (cancelled, expired, rejected)."""
    return _extended_view(pos, pos.margin, None, None, None, ts_ms, None)


def part_view(
    pos: Position, margin: int, exit_price: int, pnl: int, total_return: int, ts_ms: int
) -> TradeView:
    """The closed part of a partial close: status CLOSED, `partial`, the part's numbers."""
    view = _extended_view(pos, margin, exit_price, pnl, total_return, ts_ms, None)
    return replace(view, status=TradeStatus.CLOSED, partial=True)


def _extended_view(
    pos: Position,
    margin: int,
    exit_price: int | None,
    pnl: int | None,
    total_return: int | None,
    ts_ms: int | None,
    unrealized_pnl: int | None,
) -> TradeView:
    account = pos.account
    ext = pos.ext
    assert ext is not None
    return _trade_view(
        pos.trade_id, account.user_id, account.email, pos.asset,
        _LONG if pos.is_long else _SHORT,
        margin, pos.leverage, pos.entry, pos.liquidation, shown_stop(pos), pos.take_profit,
        pos.status, pos.opened_at_ms,
        exit_price, pnl, total_return, ts_ms, unrealized_pnl,
        ext.trailing, ext.order_type, ext.order_price, ext.expires_at_ms, False, ext.reason,
    )  # fmt: skip


def rejection(order_id: str, seq: int, code: Code, message: str) -> Response:
    return new_response(order_id, seq, None, Rejection(code, message))
