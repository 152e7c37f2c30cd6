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
    RejectCode,
    Rejection,
)

if TYPE_CHECKING:
    from engine_svc.core.engine import Engine

MAX_LEVEL = 2**63 - 1
"""Trigger levels are kept as signed 64-bit integers (the contracts' int64 prices)."""

Opening = tuple[bool, int, int | None]
"""An accepted trade's (is_long, entry price, liquidation price or None)."""


def check_trade(engine: Engine, account: Account, body: CreateTrade) -> Opening | Rejection:
    asset = body.asset
    decimals = engine.assets.get(asset)
    if decimals is None:
        return Rejection(RejectCode.UNKNOWN_ASSET, f"unknown asset {asset}")
    if body.direction is Direction.LONG:
        is_long = True
    elif body.direction is Direction.SHORT:
        is_long = False
    else:
        return Rejection(RejectCode.INVALID_ARGUMENT, f"unknown direction {body.direction!r}")
    leverage = body.leverage
    if not MIN_LEVERAGE <= leverage <= MAX_LEVERAGE:
        return Rejection(
            RejectCode.INVALID_LEVERAGE,
            f"leverage {leverage} outside {MIN_LEVERAGE}..{MAX_LEVERAGE} (1.0x..100.0x)",
        )
    margin = body.margin
    if margin <= 0:
        return Rejection(RejectCode.INVALID_MARGIN, f"margin must be > 0, got {format_usd(margin)}")
    stop_loss, take_profit = body.stop_loss, body.take_profit
    if stop_loss is not None and stop_loss <= 0:
        return Rejection(RejectCode.INVALID_PRICE, "stop loss price must be > 0")
    if take_profit is not None and take_profit <= 0:
        return Rejection(RejectCode.INVALID_PRICE, "take profit price must be > 0")
    for name, level in (("stop loss", stop_loss), ("take profit", take_profit)):
        if level is not None and level > MAX_LEVEL:
            return Rejection(
                RejectCode.INVALID_PRICE, f"{name} price is above the largest price {MAX_LEVEL}"
            )
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
    liquidation = liquidation_price(is_long, entry, leverage, engine.maintenance_margin_ppm)
    if liquidation is not None and liquidation > MAX_LEVEL:
        return Rejection(
            RejectCode.INVALID_LEVERAGE,
            f"leverage {leverage} puts the liquidation price above the largest price {MAX_LEVEL}",
        )
    # The close side: what the position would be valued and triggered at right now.
    mark = bid if is_long else ask
    if liquidation is not None and (mark <= liquidation if is_long else mark >= liquidation):
        # Would be liquidated by the very next tick at an unchanged price (a wide spread, or a
        # maintenance rate that leaves no room at this leverage): refuse rather than open it.
        return Rejection(
            RejectCode.INVALID_LEVERAGE,
            f"leverage {leverage} puts the liquidation price {_show(liquidation, decimals)} "
            f"at or beyond the current {_mark(is_long, mark, decimals)}",
        )
    if stop_loss is not None and not (
        (stop_loss < bid and (liquidation is None or stop_loss > liquidation))
        if is_long
        else (ask < stop_loss and (liquidation is None or stop_loss < liquidation))
    ):
        limit = f"{'below' if is_long else 'above'} the current {_mark(is_long, mark, decimals)}"
        if liquidation is not None:
            side = "above" if is_long else "below"
            limit += f" and {side} the liquidation price {_show(liquidation, decimals)}"
        return Rejection(
            RejectCode.INVALID_STOP_LOSS, f"stop loss {_show(stop_loss, decimals)} must be {limit}"
        )
    if take_profit is not None and (take_profit <= bid if is_long else take_profit >= ask):
        side = "above" if is_long else "below"
        return Rejection(
            RejectCode.INVALID_TAKE_PROFIT,
            f"take profit {_show(take_profit, decimals)} must be {side} the current "
            f"{_mark(is_long, mark, decimals)}",
        )
    return is_long, entry, liquidation


# Messages only: these run on rejections, never on the path of an accepted trade.
_show = format_units


def _mark(is_long: bool, price: int, decimals: int) -> str:
    return f"{'bid' if is_long else 'ask'} {format_units(price, decimals)}"
