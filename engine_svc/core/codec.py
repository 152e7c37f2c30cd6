"""Compact forms of remembered responses: flat tuples of ints and strs.

The order memory keeps up to a million answers. As Response objects they would be four
tracked objects each, and the cyclic garbage collector would walk all of them on every full
collection; a tuple of ints and strs is untracked by the collector and a third of the size.
The same tuple goes into snapshots as a list, `[seq, tag, ...]`. Optional prices
(liquidation, stop loss, take profit) are 0 when absent: a real price is always > 0. The key
(user_id, order_id) is kept beside it, so neither is repeated inside. Decoding gives back a
Response equal to the one the engine first returned.

Views with fields beyond a plain market trade's (trailing distance, order, partial, reason)
carry them in a tail of seven (`_extras`), so a plain trade's answer is exactly what the C
path writes. Tags: A account, O opened, C closed (in part or in full), P order placed,
M modified, X order cancelled, R rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

from engine_svc.core.types import (
    AccountCreated,
    Direction,
    OrderCancelled,
    OrderPlaced,
    OrderRejectCode,
    OrderStatus,
    OrderType,
    Price,
    RejectCode,
    Rejection,
    Response,
    TradeClosed,
    TradeModified,
    TradeOpened,
    TradeStatus,
    TradeView,
    Usd,
)

Encoded = tuple[Any, ...]
"""A tuple of ints and strs only."""

_DIRECTIONS = {d.value: d for d in Direction}
_STATUSES: dict[str, TradeStatus | OrderStatus] = {
    s.value: s for enum in (TradeStatus, OrderStatus) for s in enum
}
_CODES: dict[str, RejectCode | OrderRejectCode] = {
    c.value: c for enum in (RejectCode, OrderRejectCode) for c in enum
}
_ORDER_TYPES = {t.value: t for t in OrderType}
# Enum.value is a descriptor that costs more than a dict lookup, on every remembered answer.
_NAMES: dict[Enum, str] = {
    member: member.value
    for enum in (Direction, TradeStatus, OrderStatus, RejectCode, OrderRejectCode, OrderType)
    for member in enum
}
_NO_EXTRAS = (0, "", 0, 0, 0, "", "")


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


def _extras(view: TradeView) -> Encoded:
    """The fields beyond a plain trade's, or () when they all have their defaults."""
    reason = view.reason
    extras = (
        _opt(view.trailing_distance),
        "" if view.order_type is None else _NAMES[view.order_type],
        _opt(view.order_price), _opt(view.expires_at_ms), 1 if view.partial else 0,
        "" if reason is None else _NAMES[reason.code], "" if reason is None else reason.message,
    )  # fmt: skip
    return () if extras == _NO_EXTRAS else extras


def encode_response(response: Response) -> Encoded:
    seq = response.seq
    if response.rejection is not None:
        return (seq, "R", _NAMES[response.rejection.code], response.rejection.message)
    data = response.data
    if isinstance(data, AccountCreated):
        return (seq, "A", data.email, data.initial_usd_balance)
    if isinstance(data, TradeOpened):
        return (seq, "O", data.email, *_view_head(data.trade), *_extras(data.trade))
    if isinstance(data, TradeClosed):
        view = data.trade
        extras = _extras(view)
        tail = (
            (data.remaining_margin, *(extras or _NO_EXTRAS))
            if extras or data.remaining_margin
            else ()
        )
        return (
            seq, "C", data.email, *_view_head(view), _NAMES[view.status], view.exit_price,
            view.pnl, view.total_return, view.closed_at_ms, data.margin_returned, *tail,
        )  # fmt: skip
    if isinstance(data, OrderPlaced | TradeModified):
        view = data.trade
        tag = "P" if isinstance(data, OrderPlaced) else "M"
        return (
            seq, tag, data.email, *_view_head(view), _NAMES[view.status],
            *(_extras(view) or _NO_EXTRAS),
        )  # fmt: skip
    if isinstance(data, OrderCancelled):
        view = data.trade
        return (
            seq, "X", data.email, *_view_head(view), _NAMES[view.status], _opt(view.closed_at_ms),
            data.margin_returned, *(_extras(view) or _NO_EXTRAS),
        )  # fmt: skip
    raise TypeError(f"not a mutating command's response: {type(data).__name__}")


def _decode_extras(extras: Sequence[Any]) -> tuple[Any, ...]:
    """TradeView's fields from `trailing_distance` on, from `_extras`' seven (or none)."""
    if not extras:
        return (None, None, None, None, False, None)
    trailing, order_type, order_price, expires, partial, code, message = extras
    return (
        _price(trailing), _ORDER_TYPES[order_type] if order_type else None, _price(order_price),
        expires or None, bool(partial), Rejection(_CODES[code], message) if code else None,
    )  # fmt: skip


def decode_response(user_id: str, order_id: str, data: Sequence[Any]) -> Response:
    seq, tag = data[0], data[1]
    if tag == "R":
        return Response(order_id, seq, rejection=Rejection(_CODES[data[2]], data[3]))
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
        extras = _decode_extras(data[13:])
        opened = TradeView(*head, TradeStatus.OPEN, opened_at_ms, None, None, None, None, None,
                           *extras)  # fmt: skip
        return Response(order_id, seq, TradeOpened(email, opened))
    if tag == "C":
        status, exit_price, pnl, total_return, closed_at_ms, margin_returned = data[13:19]
        remaining = Usd(data[19] if len(data) > 19 else 0)
        closed = TradeView(
            *head, _STATUSES[status], opened_at_ms, exit_price, pnl, total_return, closed_at_ms,
            None, *_decode_extras(data[20:]),
        )  # fmt: skip
        return Response(order_id, seq, TradeClosed(email, closed, margin_returned, remaining))
    if tag in ("P", "M"):
        view = TradeView(
            *head, _STATUSES[data[13]], opened_at_ms, None, None, None, None, None,
            *_decode_extras(data[14:]),
        )  # fmt: skip
        body = OrderPlaced(email, view) if tag == "P" else TradeModified(email, view)
        return Response(order_id, seq, body)
    if tag == "X":
        view = TradeView(
            *head, _STATUSES[data[13]], opened_at_ms, None, None, None, data[14] or None, None,
            *_decode_extras(data[16:]),
        )  # fmt: skip
        return Response(order_id, seq, OrderCancelled(email, view, Usd(data[15])))
    raise ValueError(f"unknown response tag {tag!r}")
