"""The engine's mutable state objects: accounts and open positions.

Plain `__slots__` classes rather than dataclasses: they are created and mutated on every
command, and the engine holds up to millions of them.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from engine_svc.core.types import OrderStatus, OrderType, Rejection, Status, TradeStatus

if TYPE_CHECKING:
    from engine_svc.core.trailing import TrailGroup

TRANSITIONS: dict[Status, frozenset[Status]] = {
    OrderStatus.PENDING: frozenset(
        {TradeStatus.OPEN, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
    ),
    TradeStatus.OPEN: frozenset(
        {TradeStatus.CLOSED, TradeStatus.LIQUIDATED, TradeStatus.STOP_LOSS, TradeStatus.TAKE_PROFIT}
    ),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    TradeStatus.CLOSED: frozenset(),
    TradeStatus.LIQUIDATED: frozenset(),
    TradeStatus.STOP_LOSS: frozenset(),
    TradeStatus.TAKE_PROFIT: frozenset(),
}
"""A position's lifecycle (SPEC 3a): a pending order, then OPEN or one of its own ends; an open
trade, then exactly one terminal status. Every status change goes through `Position.finish`."""


class InvariantError(RuntimeError):
    """The engine's state broke one of its own rules: a bug, never a business rejection."""


_blake2b = hashlib.blake2b


def trade_id_for(user_id: str, order_id: str, seq: int | None = None) -> str:
    """Deterministic and UUID-shaped, so replaying a journal gives the same ids.

    From the user, the order id and the `seq` of the command that opens the trade: unique for
    good, though an order id may come back once the order memory has forgotten it (a trade
    id made from the order id alone was then made again, and its new trade overwrote the
    ended one's history). `seq=None` is that older rule, for journals written under it
    (`Engine.legacy_trade_ids`)."""
    text = f"{user_id}\0{order_id}" if seq is None else f"{user_id}\0{order_id}\0{seq}"
    h = _blake2b(text.encode(), digest_size=16).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Account:
    __slots__ = ("balance", "email", "open", "pending", "user_id")

    def __init__(self, user_id: str, email: str, balance: int) -> None:
        self.user_id = user_id
        self.email = email
        self.balance = balance
        """Free USD: credits + realized payouts - open margins."""
        self.open: dict[int, Position] = {}
        """Open positions by internal id; insertion order is open order."""
        self.pending: dict[int, Position] = {}
        """Pending orders by internal id, in placement order; their margins are reserved
        (already out of `balance`)."""


class Extension:
    """What a position has beyond a plain market trade: a trailing stop, an order it came
    from, a partial close. A position with one (`pos.ext is not None`) is never handled by
    the C fast path, which knows only plain trades."""

    __slots__ = (
        "expires_at_ms",
        "last_stop",
        "order_price",
        "order_type",
        "reason",
        "trail",
        "trailing",
    )

    def __init__(self) -> None:
        self.trailing: int | None = None
        """Trailing distance D."""
        self.trail: TrailGroup | None = None
        """The group whose running extreme the stop follows, while the stop is live."""
        self.last_stop: int | None = None
        """The trailing stop where it stood when it left its group (views after a close)."""
        self.order_type: OrderType | None = None
        self.order_price: int | None = None
        self.expires_at_ms: int | None = None
        self.reason: Rejection | None = None


class Position:
    __slots__ = (
        "account",
        "asset",
        "entry",
        "ext",
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
        ext: Extension | None = None,
        status: Status = TradeStatus.OPEN,
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
        self.ext = ext
        self.status = status
        self.loss_level = loss_level(is_long, stop_loss, liquidation)

    def finish(self, status: Status) -> None:
        if status not in TRANSITIONS[self.status]:
            raise InvariantError(f"trade {self.trade_id}: {self.status.value} -> {status.value}")
        self.status = status


def loss_level(is_long: bool, stop_loss: int | None, liquidation: int | None) -> int | None:
    """The level that closes a position at a loss: the first of its stop loss and liquidation
    price on the way down (up for a SHORT). A stop loss checked at open lies before the
    liquidation price; one given with an order was checked against the order's price, and the
    fill's entry can put the liquidation price first. A tie is the stop loss."""
    if stop_loss is None:
        return liquidation
    if liquidation is None:
        return stop_loss
    return max(stop_loss, liquidation) if is_long else min(stop_loss, liquidation)


def closes_by_stop(pos: Position) -> bool:
    """Whether reaching `pos.loss_level` is its stop loss (else its liquidation)."""
    return pos.stop_loss is not None and pos.loss_level == pos.stop_loss
