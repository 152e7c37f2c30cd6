"""The trader's toolset in the engine (SPEC 3a): pending orders, their fills and ends, changing
a trade, partial close. Functions over the Engine's state, in the Python engine only: the C
fast path declines every command and every trade these touch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine_svc.core.model import Extension, Position, closes_by_stop, loss_level
from engine_svc.core.money import capped_pnl, format_units
from engine_svc.core.order_rules import check_modify, check_order
from engine_svc.core.rules import check_liquidation
from engine_svc.core.types import (
    CancelOrder,
    Command,
    EventKind,
    ModifyTrade,
    OrderCancelled,
    OrderEventKind,
    OrderPlaced,
    OrderRejectCode,
    OrderStatus,
    Outcome,
    PlaceOrder,
    RejectCode,
    Rejection,
    TradeClosed,
    TradeEvent,
    TradeModified,
    TradeStatus,
    Usd,
)
from engine_svc.core.views import ended_view, new_event, new_response, open_view, part_view

if TYPE_CHECKING:
    from engine_svc.core.engine import Engine

NEVER = 2**63 - 1
"""`next_expiry` with no order to expire (the C path compares command times with it)."""

_ENDED_KIND = {
    OrderStatus.CANCELLED: OrderEventKind.ORDER_CANCELLED,
    OrderStatus.EXPIRED: OrderEventKind.ORDER_EXPIRED,
    OrderStatus.REJECTED: OrderEventKind.ORDER_REJECTED,
}


def _event(
    engine: Engine, kind: EventKind | OrderEventKind, pos: Position, order_id: str, ts_ms: int
) -> TradeEvent:
    """An event with the position's view as it is now."""
    engine.event_seq += 1
    return new_event(engine.event_seq, kind, open_view(pos), order_id, ts_ms)


def place_order(engine: Engine, command: Command, body: PlaceOrder) -> Outcome:
    account = engine.accounts.get(command.user_id)
    if account is None:
        return engine._missing_account(command)
    found = check_order(engine, account, body, command.ts_ms)
    if isinstance(found, Rejection):
        return engine._reject(command, found.code, found.message)
    is_long, liquidation = found
    order_id = command.order_id
    trade_id = engine.new_trade_id(command)
    if trade_id in engine.trades:
        return engine._reject(
            command,
            RejectCode.INVALID_ARGUMENT,
            f"order id {order_id} already opened trade {trade_id}",
        )
    ext = Extension()
    ext.order_type = body.order_type
    ext.order_price = body.price
    ext.expires_at_ms = body.expires_at_ms
    ext.trailing = body.trailing_distance
    pos_id = engine.next_pos_id
    engine.next_pos_id = pos_id + 1
    pos = Position(
        pos_id, trade_id, account, body.asset, is_long, body.margin, body.leverage, body.price,
        liquidation, body.stop_loss, body.take_profit, command.ts_ms, ext, OrderStatus.PENDING,
    )  # fmt: skip
    account.balance -= body.margin  # reserved from now on
    account.pending[pos_id] = pos
    engine.pending[pos_id] = pos
    engine.trades[trade_id] = pos
    engine.books[body.asset].add_order(pos)
    if body.expires_at_ms is not None:
        engine.expiries.add(body.expires_at_ms, pos_id)
        engine.next_expiry = min(engine.next_expiry, body.expires_at_ms)
    placed = _event(engine, OrderEventKind.ORDER_PLACED, pos, order_id, command.ts_ms)
    data = OrderPlaced(account.email, placed.trade)
    return Outcome(new_response(order_id, engine.seq, data, None), [placed])


def _own_trade(engine: Engine, command: Command, trade_id: str) -> Position | Outcome:
    account = engine.accounts.get(command.user_id)
    if account is None:
        return engine._missing_account(command)
    pos = engine.trades.get(trade_id)
    if pos is None or pos.account is not account:
        # Someone else's trade must look exactly like one that does not exist.
        return engine._reject(command, RejectCode.TRADE_NOT_FOUND, f"trade {trade_id} not found")
    return pos


def cancel_order(engine: Engine, command: Command, body: CancelOrder) -> Outcome:
    pos = _own_trade(engine, command, body.trade_id)
    if isinstance(pos, Outcome):
        return pos
    if pos.status is not OrderStatus.PENDING:
        return engine._reject(
            command,
            OrderRejectCode.NOT_PENDING,
            f"trade {pos.trade_id} is {pos.status.value}, not a pending order",
        )
    cancelled = end_order(engine, pos, OrderStatus.CANCELLED, command.order_id, command.ts_ms)
    data = OrderCancelled(pos.account.email, cancelled.trade, Usd(pos.margin))
    return Outcome(new_response(command.order_id, engine.seq, data, None), [cancelled])


def end_order(
    engine: Engine,
    pos: Position,
    status: OrderStatus,
    order_id: str,
    ts_ms: int,
    *,
    in_book: bool = True,
    in_expiries: bool = True,
) -> TradeEvent:
    """End a pending order without a trade: its margin back, out of every structure (the book
    and the expiry index unless the caller already took it out of them)."""
    pos.finish(status)
    ext = pos.ext
    assert ext is not None
    if in_book:
        engine.books[pos.asset].remove_order(pos)
    if in_expiries and ext.expires_at_ms is not None:
        engine.expiries.remove(ext.expires_at_ms, pos.pos_id)
        engine.reset_next_expiry()
    account = pos.account
    account.balance += pos.margin
    del account.pending[pos.pos_id]
    del engine.pending[pos.pos_id]
    del engine.trades[pos.trade_id]
    engine.event_seq += 1
    return new_event(engine.event_seq, _ENDED_KIND[status], ended_view(pos, ts_ms), order_id, ts_ms)


def expire_due(engine: Engine) -> list[TradeEvent]:
    """Every pending order whose expiry is at or before the clock: EXPIRED, margin back."""
    due = engine.expiries.pop_to(engine.clock)
    engine.reset_next_expiry()
    pending = engine.pending
    clock = engine.clock
    return [
        end_order(engine, pending[pos_id], OrderStatus.EXPIRED, "", clock, in_expiries=False)
        for pos_id in due
    ]


def fill_orders(
    engine: Engine, asset: str, pos_ids: list[int], bid: int, ask: int, ts_ms: int
) -> list[TradeEvent]:
    """Open (or reject) the orders a tick filled, in placement order; a fill whose close-side
    price already meets one of its levels opens and closes on this tick."""
    events: list[TradeEvent] = []
    decimals = engine.assets[asset]
    book, index = engine.books[asset], engine.triggers[asset]
    for pos_id in pos_ids:
        pos = engine.pending[pos_id]
        ext = pos.ext
        assert ext is not None
        if ext.expires_at_ms is not None:
            engine.expiries.remove(ext.expires_at_ms, pos_id)
            engine.reset_next_expiry()
        is_long = pos.is_long
        entry, mark = (ask, bid) if is_long else (bid, ask)
        account = pos.account
        liquidation: int | Rejection | None
        if len(account.open) >= engine.max_open_trades_per_user:
            liquidation = Rejection(
                RejectCode.TOO_MANY_OPEN_TRADES,
                f"at most {engine.max_open_trades_per_user} open trades per user",
            )
        else:
            side = "bid" if is_long else "ask"
            liquidation = check_liquidation(
                engine, is_long, entry, mark, pos.leverage, decimals,
                f"fill's {side} {format_units(mark, decimals)}",
            )  # fmt: skip
        if isinstance(liquidation, Rejection):
            ext.reason = liquidation
            events.append(
                end_order(
                    engine, pos, OrderStatus.REJECTED, "", ts_ms, in_book=False, in_expiries=False
                )
            )
            continue
        pos.finish(TradeStatus.OPEN)
        pos.entry = entry
        pos.liquidation = liquidation
        pos.loss_level = loss_level(is_long, pos.stop_loss, liquidation)
        pos.opened_at_ms = ts_ms
        ext.expires_at_ms = None
        del account.pending[pos_id]
        del engine.pending[pos_id]
        account.open[pos_id] = pos
        engine.positions[pos_id] = pos
        book.extended += 1
        if ext.trailing is not None:
            book.add_trail(pos, bid, ask)  # cannot fire here: the stop starts D away
        events.append(_event(engine, EventKind.OPENED, pos, "", ts_ms))
        level, profit = pos.loss_level, pos.take_profit
        status: TradeStatus | None = None
        if level is not None and (mark <= level if is_long else mark >= level):
            # The path starts at the entry and the fill was not rejected, so the liquidation
            # price is not reached: this is the stop loss.
            status = TradeStatus.STOP_LOSS if closes_by_stop(pos) else TradeStatus.LIQUIDATED
        elif profit is not None and (mark >= profit if is_long else mark <= profit):
            status = TradeStatus.TAKE_PROFIT
        if status is None:
            index.add(pos)
            continue
        if ext.trail is not None:
            book.remove_trail(pos)
        events.append(engine._close(pos, mark, status, "", ts_ms))
    return events


def modify_trade(engine: Engine, command: Command, body: ModifyTrade) -> Outcome:
    pos = _own_trade(engine, command, body.trade_id)
    if isinstance(pos, Outcome):
        return pos
    change = check_modify(engine, pos, body, command.ts_ms)
    if isinstance(change, Rejection):
        return engine._reject(command, change.code, change.message)
    book = engine.books[pos.asset]
    ext = pos.ext
    if pos.status is OrderStatus.PENDING:
        assert ext is not None and change.price is not None
        book.remove_order(pos)
        ext.order_price = change.price
        book.add_order(pos)
        if ext.expires_at_ms != change.expires_at_ms:
            if ext.expires_at_ms is not None:
                engine.expiries.remove(ext.expires_at_ms, pos.pos_id)
            if change.expires_at_ms is not None:
                engine.expiries.add(change.expires_at_ms, pos.pos_id)
            ext.expires_at_ms = change.expires_at_ms
            engine.reset_next_expiry()
        pos.entry = change.price
        pos.liquidation = change.liquidation
        ext.trailing = change.trailing
        kind = OrderEventKind.ORDER_MODIFIED
    else:
        index = engine.triggers[pos.asset]
        index.remove(pos)
        if change.trailing_changed and ext is not None and ext.trail is not None:
            book.remove_trail(pos)
        if ext is None and change.trailing is not None:
            ext = pos.ext = Extension()
            book.extended += 1
        if ext is not None:
            ext.trailing = change.trailing
            if change.trailing_changed:
                ext.last_stop = None
        if change.trailing_changed and change.trailing is not None:
            bid, ask = engine.prices[pos.asset]
            book.add_trail(pos, bid, ask)
        kind = OrderEventKind.TRADE_MODIFIED
    pos.stop_loss = change.stop_loss
    pos.take_profit = change.take_profit
    pos.loss_level = loss_level(pos.is_long, pos.stop_loss, pos.liquidation)
    if pos.status is TradeStatus.OPEN:
        engine.triggers[pos.asset].add(pos)
    modified = _event(engine, kind, pos, command.order_id, command.ts_ms)
    data = TradeModified(pos.account.email, modified.trade)
    return Outcome(new_response(command.order_id, engine.seq, data, None), [modified])


def partial_close(
    engine: Engine, command: Command, pos: Position, margin: int, price: int
) -> Outcome:
    """Close `margin` (less than all) of an open trade at the close-side `price`; the rest
    stays open with everything else as it was."""
    realized = capped_pnl(pos.is_long, margin, pos.leverage, pos.entry, price)
    account = pos.account
    account.balance += margin + realized
    if pos.ext is None:
        pos.ext = Extension()
        engine.books[pos.asset].extended += 1
    pos.margin -= margin
    ts_ms = command.ts_ms
    view = part_view(pos, margin, price, realized, margin + realized, ts_ms)
    engine.event_seq += 1
    kind = OrderEventKind.TRADE_PARTIALLY_CLOSED
    part = new_event(engine.event_seq, kind, view, command.order_id, ts_ms)
    data = TradeClosed(account.email, view, Usd(margin), Usd(pos.margin))
    return Outcome(new_response(command.order_id, engine.seq, data, None), [part])
