"""Client-facing values built from engine state: trade views, responses, events."""

from __future__ import annotations

from collections.abc import Callable

from engine_svc.core.frozen import fast_constructor
from engine_svc.core.model import Position
from engine_svc.core.types import (
    Direction,
    EventKind,
    RejectCode,
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
new_event: Callable[[int, EventKind, TradeView, str, int], TradeEvent] = fast_constructor(
    TradeEvent
)
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
    return _trade_view(
        pos.trade_id, account.user_id, account.email, pos.asset,
        _LONG if pos.is_long else _SHORT,
        pos.margin, pos.leverage, pos.entry, pos.liquidation, pos.stop_loss, pos.take_profit,
        _OPEN, pos.opened_at_ms,
        None, None, None, None, unrealized_pnl,
    )  # fmt: skip


def closed_view(
    pos: Position, exit_price: int, pnl: int, total_return: int, ts_ms: int
) -> TradeView:
    account = pos.account
    return _trade_view(
        pos.trade_id, account.user_id, account.email, pos.asset,
        _LONG if pos.is_long else _SHORT,
        pos.margin, pos.leverage, pos.entry, pos.liquidation, pos.stop_loss, pos.take_profit,
        pos.status, pos.opened_at_ms,
        exit_price, pnl, total_return, ts_ms, None,
    )  # fmt: skip


def rejection(order_id: str, seq: int, code: RejectCode, message: str) -> Response:
    return new_response(order_id, seq, None, Rejection(code, message))
