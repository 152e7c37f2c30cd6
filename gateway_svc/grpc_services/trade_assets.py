"""Which asset each trade is in, as this gateway process has seen it, per user.

A MODIFY_TRADE names no asset, yet its prices are read at the trade's asset's decimals: asking
the engine costs up to two queries beside the command (a client's trailing-stop manager
modifying every few seconds made three engine commands of each). A trade's asset never changes
and its id is never reused (engine_svc.core.model.trade_id_for), so a remembered asset cannot
go stale. Keyed by (user, trade): a trade id another user sends is looked up (and refused) as
before, never read from someone else's entry. The oldest entries go first past `capacity`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from exchange.v1 import types_pb2

CAPACITY = 100_000


class TradeAssets:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._assets: OrderedDict[tuple[str, str], str] = OrderedDict()

    def get(self, user_id: str, trade_id: str) -> str | None:
        return self._assets.get((user_id, trade_id))

    def remember(self, user_id: str, trade_id: str, asset: str) -> None:
        """`asset` as an engine answer names it (never a request's: a retry under a used order
        id gets the first command's answer, whose trade may be in another asset)."""
        if not trade_id or not asset:
            return
        self._assets[(user_id, trade_id)] = asset
        if len(self._assets) > self.capacity:
            self._assets.popitem(last=False)

    def remember_all(self, user_id: str, trades: Iterable[types_pb2.Trade]) -> None:
        for trade in trades:
            self.remember(user_id, trade.trade_id, trade.asset)

    def __len__(self) -> int:
        return len(self._assets)
