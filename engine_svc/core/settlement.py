"""Settling a tick on an asset with trades the C path does not know (SPEC 3a): trailing
stops, trades that came from an order, partly closed ones.

Plain trades still settle as `Engine._settle_crossed` does (in C when native); the others
close here, each once, by the first of its crossed levels on the price path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine_svc.core.collector import BULK, collector_paused
from engine_svc.core.model import Position, closes_by_stop
from engine_svc.core.triggers import TriggerIndex
from engine_svc.core.types import TradeEvent, TradeStatus

if TYPE_CHECKING:
    from engine_svc.core.engine import Engine

_LIQUIDATED = TradeStatus.LIQUIDATED
_STOP_LOSS = TradeStatus.STOP_LOSS
_TAKE_PROFIT = TradeStatus.TAKE_PROFIT


def settle_split(
    engine: Engine,
    asset: str,
    index: TriggerIndex,
    losses: list[int],
    profits: list[int],
    fired: list[tuple[int, Position]],
    bid: int,
    ask: int,
    ts_ms: int,
) -> list[TradeEvent]:
    """Plain trades settle as usual (in C when native), then the others in Python: one
    trailing stop on an asset must not make a mass liquidation run at Python speed."""
    positions = engine.positions
    plain_losses: list[int] = []
    plain_profits: list[int] = []
    other_losses: list[int] = []
    other_profits: list[int] = []
    for ids, plain, other in ((losses, plain_losses, other_losses),
                              (profits, plain_profits, other_profits)):  # fmt: skip
        for pos_id in ids:
            (plain if positions[pos_id].ext is None else other).append(pos_id)
    events: list[TradeEvent] = []
    if plain_losses or plain_profits:
        if len(plain_losses) + len(plain_profits) < BULK:
            events = engine._settle_crossed(index, plain_losses, plain_profits, bid, ask, ts_ms)
        else:
            with collector_paused():
                events = engine._settle_crossed(index, plain_losses, plain_profits, bid, ask, ts_ms)
    losses, profits = other_losses, other_profits
    if losses or profits or fired:
        events += settle_all(engine, asset, losses, profits, fired, bid, ask, ts_ms)
    return events


def settle_all(
    engine: Engine,
    asset: str,
    losses: list[int],
    profits: list[int],
    fired: list[tuple[int, Position]],
    bid: int,
    ask: int,
    ts_ms: int,
) -> list[TradeEvent]:
    """`_settle` for an asset with trades the C path does not know (trailing stops, from
    orders, partly closed): each crossed position closes once, by the first of its
    crossed levels on the price path. Trailing stops that fired are out of their groups."""
    events: list[TradeEvent] = []
    index, book = engine.triggers[asset], engine.books[asset]
    positions = engine.positions
    stops = {pos.pos_id: stop for stop, pos in fired}
    for pos_id in losses:
        pos = positions[pos_id]
        index.remove_profit(pos)
        stop = stops.pop(pos_id, None)
        ext = pos.ext
        if stop is None and ext is not None and ext.trail is not None:
            book.remove_trail(pos)
        level = pos.loss_level
        assert level is not None
        if stop is not None:
            # Both its trailing stop and its loss level crossed: the first on the way.
            by_stop = stop >= level if pos.is_long else stop <= level
        else:
            by_stop = closes_by_stop(pos)
        status = _STOP_LOSS if by_stop else _LIQUIDATED
        events.append(engine._close(pos, bid if pos.is_long else ask, status, "", ts_ms))
    for _, pos in fired:
        if pos.pos_id in stops:
            index.remove(pos)
            price = bid if pos.is_long else ask
            events.append(engine._close(pos, price, _STOP_LOSS, "", ts_ms))
    for pos_id in profits:
        pos = positions[pos_id]
        index.remove_loss(pos)
        ext = pos.ext
        if ext is not None and ext.trail is not None:
            book.remove_trail(pos)
        events.append(engine._close(pos, bid if pos.is_long else ask, _TAKE_PROFIT, "", ts_ms))
    return events
