"""Business checks of the trader's toolset (SPEC 3a): placing an order, changing a trade.

Each returns what the change needs or a Rejection; none changes anything, so a rejected
command leaves the engine as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine_svc.core.model import Account, Position
from engine_svc.core.money import format_units, format_usd
from engine_svc.core.rules import (
    MAX_LEVEL,
    check_entry,
    check_level_values,
    check_levels,
    check_liquidation,
)
from engine_svc.core.types import (
    KEEP,
    Keep,
    ModifyTrade,
    OrderRejectCode,
    OrderStatus,
    OrderType,
    PlaceOrder,
    RejectCode,
    Rejection,
)

if TYPE_CHECKING:
    from engine_svc.core.engine import Engine


def check_order(
    engine: Engine, account: Account, body: PlaceOrder, ts_ms: int
) -> tuple[bool, int | None] | Rejection:
    """(is_long, the liquidation price `body.price` gives) for an acceptable order."""
    found = check_entry(engine, body.asset, body.direction, body.leverage, body.margin)
    if isinstance(found, Rejection):
        return found
    decimals, is_long = found
    if not isinstance(body.order_type, OrderType):
        return Rejection(RejectCode.INVALID_ARGUMENT, f"unknown order type {body.order_type!r}")
    price = body.price
    if not 0 < price <= MAX_LEVEL:
        return Rejection(RejectCode.INVALID_PRICE, f"order price must be > 0 and <= {MAX_LEVEL}")
    rejected = check_level_values(body.stop_loss, body.take_profit, body.trailing_distance)
    if rejected is not None:
        return rejected
    rejected = check_expiry(engine, body.expires_at_ms, ts_ms)
    if rejected is not None:
        return rejected
    quote = engine.prices.get(body.asset)
    if quote is None:
        return Rejection(RejectCode.PRICE_UNAVAILABLE, f"no price yet for {body.asset}")
    rejected = check_order_price(is_long, body.order_type, price, quote, decimals)
    if rejected is not None:
        return rejected
    if body.margin > account.balance:
        return Rejection(
            RejectCode.INSUFFICIENT_BALANCE,
            f"margin {format_usd(body.margin)} exceeds free balance {format_usd(account.balance)}",
        )
    if len(account.pending) >= engine.max_pending_orders_per_user:
        return Rejection(
            OrderRejectCode.TOO_MANY_PENDING_ORDERS,
            f"at most {engine.max_pending_orders_per_user} pending orders per user",
        )
    return check_at_price(
        engine, is_long, price, body.leverage, decimals,
        body.stop_loss, body.take_profit, body.trailing_distance,
    )  # fmt: skip


def check_at_price(
    engine: Engine,
    is_long: bool,
    price: int,
    leverage: int,
    decimals: int,
    stop_loss: int | None,
    take_profit: int | None,
    trailing: int | None,
) -> tuple[bool, int | None] | Rejection:
    """An order's levels against its price in place of the bid/ask, with the liquidation
    price that price gives."""
    reference = f"order price {format_units(price, decimals)}"
    liquidation = check_liquidation(engine, is_long, price, price, leverage, decimals, reference)
    if isinstance(liquidation, Rejection):
        return liquidation
    rejected = check_levels(
        is_long, price, liquidation, decimals, reference, stop_loss, take_profit, trailing
    )
    return rejected if rejected is not None else (is_long, liquidation)


def check_expiry(engine: Engine, expires_at_ms: int | None, ts_ms: int) -> Rejection | None:
    if expires_at_ms is not None and not expires_at_ms > max(engine.clock, ts_ms):
        return Rejection(
            OrderRejectCode.INVALID_EXPIRY,
            f"expiry {expires_at_ms} must be later than {max(engine.clock, ts_ms)} (ms)",
        )
    return None


def check_order_price(
    is_long: bool, order_type: OrderType, price: int, quote: tuple[int, int], decimals: int
) -> Rejection | None:
    """A LIMIT waits for a better price, a STOP for a worse one: never fillable at once."""
    bid, ask = quote
    current, name = (ask, "ask") if is_long else (bid, "bid")
    below = (order_type is OrderType.LIMIT) == is_long
    if (price < current) if below else (price > current):
        return None
    return Rejection(
        RejectCode.INVALID_PRICE,
        f"a {'LONG' if is_long else 'SHORT'} {order_type.value} order's price "
        f"{format_units(price, decimals)} must be {'below' if below else 'above'} "
        f"the current {name} {format_units(current, decimals)}",
    )


@dataclass(frozen=True, slots=True)
class Change:
    """A checked modification: the levels the trade will have after it."""

    stop_loss: int | None
    take_profit: int | None
    trailing: int | None
    trailing_changed: bool
    """A trailing stop set anew (the trail restarts) or removed."""
    price: int | None
    expires_at_ms: int | None
    liquidation: int | None


def _pick(new: int | Keep | None, old: int | None) -> int | None:
    return old if new is KEEP else new


def check_modify(
    engine: Engine, pos: Position, body: ModifyTrade, ts_ms: int
) -> Change | Rejection:
    fields = (
        body.stop_loss,
        body.take_profit,
        body.trailing_distance,
        body.price,
        body.expires_at_ms,
    )
    if all(field is KEEP for field in fields):
        return Rejection(
            RejectCode.INVALID_ARGUMENT,
            "nothing to change: the request names no stop loss, take profit, trailing "
            "distance, price or expiry",
        )
    decimals = engine.assets[pos.asset]
    ext = pos.ext
    pending = pos.status is OrderStatus.PENDING
    old_trailing = None if ext is None else ext.trailing
    if not pending and (body.price is not KEEP or body.expires_at_ms is not KEEP):
        return Rejection(
            OrderRejectCode.NOT_PENDING,
            f"trade {pos.trade_id} is not a pending order: its price and expiry cannot change",
        )
    sl_given = body.stop_loss is not KEEP and body.stop_loss is not None
    trailing_given = body.trailing_distance is not KEEP and body.trailing_distance is not None
    if sl_given and trailing_given:
        return Rejection(
            OrderRejectCode.INVALID_TRAILING_STOP,
            "a trade has a trailing stop or a stop loss, not both",
        )
    stop_loss = _pick(body.stop_loss, pos.stop_loss)
    trailing = _pick(body.trailing_distance, old_trailing)
    if sl_given:
        trailing = None  # setting one kind of stop removes the other
    if trailing_given:
        stop_loss = None
    take_profit = _pick(body.take_profit, pos.take_profit)
    if body.price is None:
        return Rejection(RejectCode.INVALID_PRICE, "a pending order's price cannot be removed")
    new_sl = stop_loss if body.stop_loss is not KEEP else None
    new_tp = take_profit if body.take_profit is not KEEP else None
    new_trailing = trailing if body.trailing_distance is not KEEP else None
    rejected = check_level_values(new_sl, new_tp, new_trailing)
    if rejected is not None:
        return rejected
    if not pending:
        quote = engine.prices[pos.asset]  # an open trade's asset has a price
        close = quote[0] if pos.is_long else quote[1]
        mark = f"current {'bid' if pos.is_long else 'ask'} {format_units(close, decimals)}"
        # Only what changes is checked, against the current price (SPEC 3a).
        rejected = check_levels(
            pos.is_long, close, pos.liquidation, decimals, mark, new_sl, new_tp, new_trailing
        )
        if rejected is not None:
            return rejected
        return Change(
            stop_loss, take_profit, trailing, body.trailing_distance is not KEEP or sl_given,
            None, None, pos.liquidation,
        )  # fmt: skip
    assert ext is not None and ext.order_type is not None and ext.order_price is not None
    price = ext.order_price if body.price is KEEP else body.price
    expires = ext.expires_at_ms if body.expires_at_ms is KEEP else body.expires_at_ms
    if body.price is not KEEP:
        if not 0 < price <= MAX_LEVEL:
            return Rejection(
                RejectCode.INVALID_PRICE, f"order price must be > 0 and <= {MAX_LEVEL}"
            )
        rejected = check_order_price(
            pos.is_long, ext.order_type, price, engine.prices[pos.asset], decimals
        )
        if rejected is not None:
            return rejected
    if body.expires_at_ms is not KEEP:
        rejected = check_expiry(engine, expires, ts_ms)
        if rejected is not None:
            return rejected
    # A pending order's levels are all checked against its (new) price, given or kept.
    found = check_at_price(
        engine, pos.is_long, price, pos.leverage, decimals, stop_loss, take_profit, trailing
    )
    if isinstance(found, Rejection):
        return found
    return Change(
        stop_loss, take_profit, trailing, False, price, expires, found[1],
    )  # fmt: skip
