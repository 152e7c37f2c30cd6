"""SPEC section 4 written independently of the engine, to check its numbers."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from math import ceil, floor

USD = Decimal("0.0001")


def notional(margin: Decimal, l10: int) -> Fraction:
    return Fraction(margin) * l10 / 10


def pnl(direction: str, margin: Decimal, l10: int, entry: Decimal, close: Decimal) -> Decimal:
    move = Fraction(close - entry) if direction == "LONG" else Fraction(entry - close)
    exact = notional(margin, l10) * move / Fraction(entry)
    rounded = Decimal(floor(exact * 10_000)) * USD
    return max(rounded, -margin)


def liquidation_price(direction: str, entry: Decimal, l10: int, decimals: int) -> Decimal | None:
    grid = 10**decimals
    if direction == "LONG":
        units = floor(Fraction(entry) * grid * (1 - Fraction(10, l10)))
        return Decimal(units) / grid if units > 0 else None
    return Decimal(ceil(Fraction(entry) * grid * (1 + Fraction(10, l10)))) / grid
