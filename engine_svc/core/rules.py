"""Business checks for opening a trade (SPEC section 4), with messages that name the values.

The edge has already validated shapes and decimals; these are the rules that need state:
balance, current prices, limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine_svc.core.model import Account
from engine_svc.core.money import format_units, format_usd, liquidation_price
from engine_svc.core.types import (
    MAX_LEVERAGE,
    MIN_LEVERAGE,
    CreateTrade,
    Direction,
    OrderRejectCode,
    RejectCode,
    Rejection,
)

if TYPE_CHECKING:
    from engine_svc.core.engine import Engine

MAX_LEVEL = 2**63 - 1
"""Trigger levels are kept as signed 64-bit integers (the contracts' int64 prices)."""

Opening = tuple[bool, int, int | None]
"""An accepted trade's (is_long, entry price, liquidation price or None)."""


def check_entry(
    engine: Engine, asset: str, direction: Direction, leverage: int, margin: int
) -> tuple[int, bool] | Rejection:
    """What every way into a position checks first; (asset decimals, is_long)."""
    decimals = engine.assets.get(asset)
    if decimals is None:
        return Rejection(RejectCode.UNKNOWN_ASSET, f"unknown asset {asset}")
    if direction is Direction.LONG:
        is_long = True
    elif direction is Direction.SHORT:
        is_long = False
    else:
        return Rejection(RejectCode.INVALID_ARGUMENT, f"unknown direction {direction!r}")
    if not MIN_LEVERAGE <= leverage <= MAX_LEVERAGE:
        return Rejection(
            RejectCode.INVALID_LEVERAGE,
            f"leverage {leverage} outside {MIN_LEVERAGE}..{MAX_LEVERAGE} (1.0x..100.0x)",
        )
    if margin <= 0:
        return Rejection(RejectCode.INVALID_MARGIN, f"margin must be > 0, got {format_usd(margin)}")
    return decimals, is_long


def check_trade(engine: Engine, account: Account, body: CreateTrade) -> Opening | Rejection:
    asset, leverage, margin = body.asset, body.leverage, body.margin
    entry_check = check_entry(engine, asset, body.direction, leverage, margin)
    if isinstance(entry_check, Rejection):
        return entry_check
    decimals, is_long = entry_check
    stop_loss, take_profit = body.stop_loss, body.take_profit
    found = check_level_values(stop_loss, take_profit, body.trailing_distance)
    if found is not None:
        return found
    quote = engine.prices.get(asset)
    if quote is None:
        return Rejection(RejectCode.PRICE_UNAVAILABLE, f"no price yet for {asset}")
    if margin > account.balance:
        return Rejection(
            RejectCode.INSUFFICIENT_BALANCE,
            f"margin {format_usd(margin)} exceeds free balance {format_usd(account.balance)}",
        )
    if len(account.open) >= engine.max_open_trades_per_user:
        return Rejection(
            RejectCode.TOO_MANY_OPEN_TRADES,
            f"at most {engine.max_open_trades_per_user} open trades per user",
        )
    bid, ask = quote
    entry = ask if is_long else bid
    # The close side: what the position would be valued and triggered at right now.
    mark = bid if is_long else ask
    found_liquidation = check_liquidation(
        engine,
        is_long,
        entry,
        mark,
        leverage,
        decimals,
        f"current {_mark(is_long, mark, decimals)}",
    )
    if isinstance(found_liquidation, Rejection):
        return found_liquidation
    liquidation = found_liquidation
    found = check_levels(
        is_long, mark, liquidation, decimals, f"current {_mark(is_long, mark, decimals)}",
        stop_loss, take_profit, body.trailing_distance,
    )  # fmt: skip
    if found is not None:
        return found
    return is_long, entry, liquidation


def check_liquidation(
    engine: Engine,
    is_long: bool,
    entry: int,
    mark: int,
    leverage: int,
    decimals: int,
    reference: str,
) -> int | Rejection | None:
    """The liquidation price `entry` gives, unless it is out of range or already reached at
    the close-side price `mark` (named `reference` in messages)."""
    liquidation = liquidation_price(is_long, entry, leverage, engine.maintenance_margin_ppm)
    if liquidation is not None and liquidation > MAX_LEVEL:
        return Rejection(
            RejectCode.INVALID_LEVERAGE,
            f"leverage {leverage} ({_show(leverage, 1)}x) puts the liquidation price above the "
            f"largest price {MAX_LEVEL}",
        )
    if liquidation is not None and (mark <= liquidation if is_long else mark >= liquidation):
        # Would be liquidated by the very next tick at an unchanged price (a wide spread, or a
        # maintenance rate that leaves no room at this leverage): refuse rather than open it.
        return Rejection(
            RejectCode.INVALID_LEVERAGE,
            f"leverage {leverage} ({_show(leverage, 1)}x) puts the liquidation price "
            f"{_show(liquidation, decimals)} "
            f"at or beyond the {reference}",
        )
    return liquidation


def check_level_values(
    stop_loss: int | None, take_profit: int | None, trailing: int | None
) -> Rejection | None:
    """The checks on levels that need no state: positive, within int64, one kind of stop."""
    if stop_loss is not None and stop_loss <= 0:
        return Rejection(RejectCode.INVALID_PRICE, "stop loss price must be > 0")
    if take_profit is not None and take_profit <= 0:
        return Rejection(RejectCode.INVALID_PRICE, "take profit price must be > 0")
    for name, level in (("stop loss", stop_loss), ("take profit", take_profit)):
        if level is not None and level > MAX_LEVEL:
            return Rejection(
                RejectCode.INVALID_PRICE, f"{name} price is above the largest price {MAX_LEVEL}"
            )
    if trailing is not None:
        if stop_loss is not None:
            return Rejection(
                OrderRejectCode.INVALID_TRAILING_STOP,
                "a trade has a trailing stop or a stop loss, not both",
            )
        if not 0 < trailing <= MAX_LEVEL:
            return Rejection(
                OrderRejectCode.INVALID_TRAILING_STOP,
                f"trailing distance must be > 0 and at most {MAX_LEVEL}",
            )
    return None


def check_levels(
    is_long: bool,
    close: int,
    liquidation: int | None,
    decimals: int,
    reference: str,
    stop_loss: int | None,
    take_profit: int | None,
    trailing: int | None,
) -> Rejection | None:
    """SPEC section 4's level rules (and 3a's trailing distance) against the close-side price
    `close` (named `reference` in messages) and the liquidation price."""
    if stop_loss is not None and not (
        (stop_loss < close and (liquidation is None or stop_loss > liquidation))
        if is_long
        else (close < stop_loss and (liquidation is None or stop_loss < liquidation))
    ):
        limit = f"{'below' if is_long else 'above'} the {reference}"
        if liquidation is not None:
            side = "above" if is_long else "below"
            limit += f" and {side} the liquidation price {_show(liquidation, decimals)}"
        return Rejection(
            RejectCode.INVALID_STOP_LOSS, f"stop loss {_show(stop_loss, decimals)} must be {limit}"
        )
    if take_profit is not None and (take_profit <= close if is_long else take_profit >= close):
        side = "above" if is_long else "below"
        return Rejection(
            RejectCode.INVALID_TAKE_PROFIT,
            f"take profit {_show(take_profit, decimals)} must be {side} the {reference}",
        )
    if trailing is not None:
        # The stop starts at close -/+ D and must lie before the liquidation price.
        room = close - (liquidation or 0) if is_long else (liquidation or 0) - close
        if trailing >= room:
            return Rejection(
                OrderRejectCode.INVALID_TRAILING_STOP,
                f"trailing distance {_show(trailing, decimals)} must be smaller than "
                f"{_show(room, decimals)}, from the {reference} to the "
                + ("liquidation price" if liquidation is not None else "price 0"),
            )
    return None


# Messages only: these run on rejections, never on the path of an accepted trade.
_show = format_units


def _mark(is_long: bool, price: int, decimals: int) -> str:
    return f"{'bid' if is_long else 'ask'} {format_units(price, decimals)}"
