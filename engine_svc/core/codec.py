"""Compact forms of remembered responses: flat tuples of ints and strs.

The order memory keeps up to a million answers. As Response objects they would be four
tracked objects each, and the cyclic garbage collector would walk all of them on every full
collection; a tuple of ints and strs is untracked by the collector and a third of the size.
The same tuple goes into snapshots as a list, `[seq, tag, ...]`. Optional prices
(liquidation, stop loss, take profit) are 0 when absent: a real price is always > 0. The key
(user_id, order_id) is kept beside it, so neither is repeated inside. Decoding gives back a
Response equal to the one the engine first returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

from engine_svc.core.types import (
    AccountCreated,
    Direction,
    Price,
    RejectCode,
    Rejection,
    Response,
    TradeClosed,
    TradeOpened,
    TradeStatus,
    TradeView,
)

Encoded = tuple[Any, ...]
"""A tuple of ints and strs only."""

_DIRECTIONS = {d.value: d for d in Direction}
_STATUSES = {s.value: s for s in TradeStatus}
# Enum.value is a descriptor that costs more than a dict lookup, on every remembered answer.
_NAMES: dict[Enum, str] = {
    member: member.value for enum in (Direction, TradeStatus, RejectCode) for member in enum
}


def _opt(value: int | None) -> int:
    return 0 if value is None else value


def _price(value: int) -> Price | None:
    return Price(value) if value else None


def _view_head(view: TradeView) -> Encoded:
    """The fields every view has, open or closed."""
    return (
        view.trade_id, view.asset, _NAMES[view.direction], view.margin, view.leverage,
        view.entry_price, _opt(view.liquidation_price), _opt(view.stop_loss),
        _opt(view.take_profit), view.opened_at_ms,
    )  # fmt: skip


def encode_response(response: Response) -> Encoded:
    seq = response.seq
    if response.rejection is not None:
        return (seq, "R", _NAMES[response.rejection.code], response.rejection.message)
    data = response.data
    if isinstance(data, AccountCreated):
        return (seq, "A", data.email, data.initial_usd_balance)
    if isinstance(data, TradeOpened):
        return (seq, "O", data.email, *_view_head(data.trade))
    if isinstance(data, TradeClosed):
        view = data.trade
        return (
            seq, "C", data.email, *_view_head(view), _NAMES[view.status], view.exit_price,
            view.pnl, view.total_return, view.closed_at_ms, data.margin_returned,
        )  # fmt: skip
    raise TypeError(f"not a mutating command's response: {type(data).__name__}")


def decode_response(user_id: str, order_id: str, data: Sequence[Any]) -> Response:
    seq, tag = data[0], data[1]
    if tag == "R":
        return Response(order_id, seq, rejection=Rejection(RejectCode(data[2]), data[3]))
    if tag == "A":
        return Response(order_id, seq, AccountCreated(data[2], data[3]))
    email = data[2]
    (trade_id, asset, direction, margin, leverage, entry, liquidation, stop_loss, take_profit,
     opened_at_ms) = data[3:13]  # fmt: skip
    # The fields every trade view starts with, in TradeView's order (as `_view_head` wrote).
    head = (
        trade_id, user_id, email, asset, _DIRECTIONS[direction], margin, leverage, entry,
        _price(liquidation), _price(stop_loss), _price(take_profit),
    )  # fmt: skip
    if tag == "O":
        opened = TradeView(*head, TradeStatus.OPEN, opened_at_ms)
        return Response(order_id, seq, TradeOpened(email, opened))
    if tag == "C":
        status, exit_price, pnl, total_return, closed_at_ms, margin_returned = data[13:19]
        closed = TradeView(
            *head, _STATUSES[status], opened_at_ms, exit_price, pnl, total_return, closed_at_ms
        )
        return Response(order_id, seq, TradeClosed(email, closed, margin_returned))
    raise ValueError(f"unknown response tag {tag!r}")
