"""Per-asset structures of the trader's toolset: pending orders by price, trailing stops.

Pending orders live in four sorted (price, pos_id) indexes, one per fill rule, so that what a
tick fills is one end of each, O(log n + k):

    LONG LIMIT   fills when ask <= price   (a suffix: prices >= ask)
    LONG STOP    fills when ask >= price   (a prefix: prices <= ask)
    SHORT LIMIT  fills when bid >= price   (a prefix: prices <= bid)
    SHORT STOP   fills when bid <= price   (a suffix: prices >= bid)

`extended` counts the asset's open positions that have an Extension: while it is 0 and no
trailing stop fires, the C fast path may settle a tick's crossings (it knows plain trades).
"""

from __future__ import annotations

from engine_svc.core._native import LevelIndex
from engine_svc.core.model import Position
from engine_svc.core.trailing import TrailSide
from engine_svc.core.types import OrderType


class AssetBook:
    __slots__ = (
        "extended",
        "long_limit",
        "long_stop",
        "long_trail",
        "orders",
        "short_limit",
        "short_stop",
        "short_trail",
        "trailing",
    )

    def __init__(self, positions: dict[int, Position]) -> None:
        """`positions`: the engine's open positions by id (trailing stops fire on them)."""
        self.long_limit = LevelIndex()
        self.long_stop = LevelIndex()
        self.short_limit = LevelIndex()
        self.short_stop = LevelIndex()
        self.long_trail = TrailSide(1, positions)
        self.short_trail = TrailSide(-1, positions)
        self.trailing = 0
        """Live trailing stops in both sides."""
        self.extended = 0
        self.orders = 0
        """Pending orders in the four indexes."""

    def _orders(self, pos: Position) -> LevelIndex:
        ext = pos.ext
        assert ext is not None
        if pos.is_long:
            return self.long_limit if ext.order_type is OrderType.LIMIT else self.long_stop
        return self.short_limit if ext.order_type is OrderType.LIMIT else self.short_stop

    def add_order(self, pos: Position) -> None:
        assert pos.ext is not None and pos.ext.order_price is not None
        self._orders(pos).add(pos.ext.order_price, pos.pos_id)
        self.orders += 1

    def remove_order(self, pos: Position) -> None:
        assert pos.ext is not None and pos.ext.order_price is not None
        self._orders(pos).remove(pos.ext.order_price, pos.pos_id)
        self.orders -= 1

    def take_fills(self, bid: int, ask: int) -> list[int]:
        """Remove and return the ids of the orders this tick fills, in placement order."""
        filled: list[int] = []
        top = self.long_limit.max_level()
        if top is not None and top >= ask:
            filled += self.long_limit.pop_from(ask)
        bottom = self.long_stop.min_level()
        if bottom is not None and bottom <= ask:
            filled += self.long_stop.pop_to(ask)
        bottom = self.short_limit.min_level()
        if bottom is not None and bottom <= bid:
            filled += self.short_limit.pop_to(bid)
        top = self.short_stop.max_level()
        if top is not None and top >= bid:
            filled += self.short_stop.pop_from(bid)
        filled.sort()  # ids are given at placement, in order
        self.orders -= len(filled)
        return filled

    def trail_side(self, pos: Position) -> TrailSide:
        return self.long_trail if pos.is_long else self.short_trail

    def add_trail(self, pos: Position, bid: int, ask: int) -> None:
        self.trail_side(pos).add(pos, bid if pos.is_long else ask)
        self.trailing += 1

    def remove_trail(self, pos: Position) -> None:
        self.trail_side(pos).remove(pos)
        self.trailing -= 1

    def move_trails(self, bid: int, ask: int) -> list[tuple[int, Position]]:
        """Follow the tick; the stops it reaches, LONG ones then SHORT ones, path order."""
        fired = self.long_trail.move(bid) + self.short_trail.move(ask)
        self.trailing -= len(fired)
        return fired


def fills(pos: Position, bid: int, ask: int) -> bool:
    """The fill rule, for brute-force checks."""
    ext = pos.ext
    assert ext is not None and ext.order_price is not None
    price = ext.order_price
    if pos.is_long:
        return ask <= price if ext.order_type is OrderType.LIMIT else ask >= price
    return bid >= price if ext.order_type is OrderType.LIMIT else bid <= price
