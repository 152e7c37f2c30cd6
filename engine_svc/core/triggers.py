"""Per-asset trigger index: which open positions a tick closes, in O(log n + k).

Each position has at most two levels: a loss level (its stop loss, else its liquidation
price) and a profit level (its take profit). A stop loss always lies above a LONG's
liquidation price (below a SHORT's), so on a gap it is the first level on the price path and
the liquidation level never needs an entry of its own.

Every crossed run is a prefix or a suffix of its sorted list, so a tick that crosses nothing
looks at four extremes only, and one that crosses k levels cuts k entries off one end.
"""

from __future__ import annotations

from engine_svc.core._native import LevelIndex
from engine_svc.core.model import Position


class TriggerIndex:
    __slots__ = ("long_loss", "long_profit", "short_loss", "short_profit")

    def __init__(self) -> None:
        self.long_loss = LevelIndex()
        """LONG stop loss / liquidation: crossed when bid <= level (a suffix)."""
        self.long_profit = LevelIndex()
        """LONG take profit: crossed when bid >= level (a prefix)."""
        self.short_loss = LevelIndex()
        """SHORT stop loss / liquidation: crossed when ask >= level (a prefix)."""
        self.short_profit = LevelIndex()
        """SHORT take profit: crossed when ask <= level (a suffix)."""

    def __len__(self) -> int:
        return (
            len(self.long_loss)
            + len(self.long_profit)
            + len(self.short_loss)
            + len(self.short_profit)
        )

    def add(self, pos: Position) -> None:
        if pos.is_long:
            if pos.loss_level is not None:
                self.long_loss.add(pos.loss_level, pos.pos_id)
            if pos.take_profit is not None:
                self.long_profit.add(pos.take_profit, pos.pos_id)
        else:
            if pos.loss_level is not None:
                self.short_loss.add(pos.loss_level, pos.pos_id)
            if pos.take_profit is not None:
                self.short_profit.add(pos.take_profit, pos.pos_id)

    def remove(self, pos: Position) -> None:
        """Remove both of a position's entries; a missing entry raises (broken invariant)."""
        self.remove_loss(pos)
        self.remove_profit(pos)

    def remove_profit(self, pos: Position) -> None:
        if pos.take_profit is not None:
            index = self.long_profit if pos.is_long else self.short_profit
            index.remove(pos.take_profit, pos.pos_id)

    def remove_loss(self, pos: Position) -> None:
        if pos.loss_level is not None:
            index = self.long_loss if pos.is_long else self.short_loss
            index.remove(pos.loss_level, pos.pos_id)

    def take_crossed(self, bid: int, ask: int) -> tuple[list[int], list[int]]:
        """Remove and return the ids whose levels this tick crosses: (loss side, profit side).

        Each list is in price-path order (the level nearest the old price first). The caller
        must still remove each position's other entry.
        """
        losses: list[int] = []
        profits: list[int] = []
        top = self.long_loss.max_level()
        if top is not None and top >= bid:
            losses = self.long_loss.pop_from(bid)
        bottom = self.short_loss.min_level()
        if bottom is not None and bottom <= ask:
            losses += self.short_loss.pop_to(ask)
        bottom = self.long_profit.min_level()
        if bottom is not None and bottom <= bid:
            profits = self.long_profit.pop_to(bid)
        top = self.short_profit.max_level()
        if top is not None and top >= ask:
            profits += self.short_profit.pop_from(ask)
        return losses, profits
