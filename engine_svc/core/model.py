"""The engine's mutable state objects: accounts and open positions.

Plain `__slots__` classes rather than dataclasses: they are created and mutated on every
command, and the engine holds up to millions of them.
"""

from __future__ import annotations

import hashlib

from engine_svc.core.types import TradeStatus

TRANSITIONS: dict[TradeStatus, frozenset[TradeStatus]] = {
    TradeStatus.OPEN: frozenset(
        {TradeStatus.CLOSED, TradeStatus.LIQUIDATED, TradeStatus.STOP_LOSS, TradeStatus.TAKE_PROFIT}
    ),
    TradeStatus.CLOSED: frozenset(),
    TradeStatus.LIQUIDATED: frozenset(),
    TradeStatus.STOP_LOSS: frozenset(),
    TradeStatus.TAKE_PROFIT: frozenset(),
}
"""A position's lifecycle: OPEN, then exactly one terminal status."""


class InvariantError(RuntimeError):
    """The engine's state broke one of its own rules: a bug, never a business rejection."""


_blake2b = hashlib.blake2b


def trade_id_for(user_id: str, order_id: str) -> str:
    """Deterministic and UUID-shaped, so replaying a journal gives the same ids."""
    h = _blake2b(f"{user_id}\0{order_id}".encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Account:
    __slots__ = ("balance", "email", "open", "user_id")

    def __init__(self, user_id: str, email: str, balance: int) -> None:
        self.user_id = user_id
        self.email = email
        self.balance = balance
        """Free USD: credits + realized payouts - open margins."""
        self.open: dict[int, Position] = {}
        """Open positions by internal id; insertion order is open order."""


class Position:
    __slots__ = (
        "account",
        "asset",
        "entry",
        "is_long",
        "leverage",
        "liquidation",
        "loss_level",
        "margin",
        "opened_at_ms",
        "pos_id",
        "status",
        "stop_loss",
        "take_profit",
        "trade_id",
    )

    def __init__(
        self,
        pos_id: int,
        trade_id: str,
        account: Account,
        asset: str,
        is_long: bool,
        margin: int,
        leverage: int,
        entry: int,
        liquidation: int | None,
        stop_loss: int | None,
        take_profit: int | None,
        opened_at_ms: int,
    ) -> None:
        self.pos_id = pos_id
        self.trade_id = trade_id
        self.account = account
        self.asset = asset
        self.is_long = is_long
        self.margin = margin
        self.leverage = leverage
        self.entry = entry
        self.liquidation = liquidation
        self.stop_loss = stop_loss
        self.take_profit = take_profit
        self.opened_at_ms = opened_at_ms
        self.status = TradeStatus.OPEN
        # The level that closes it at a loss: its stop loss, which always comes before the
        # liquidation price on the way down (up for a SHORT), else the liquidation price.
        self.loss_level = stop_loss if stop_loss is not None else liquidation

    def finish(self, status: TradeStatus) -> None:
        if status not in TRANSITIONS[self.status]:
            raise InvariantError(f"trade {self.trade_id}: {self.status.value} -> {status.value}")
        self.status = status
