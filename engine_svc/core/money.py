"""Exact money math (SPEC section 4): PnL, liquidation prices and payouts, in integers only.

Notional `N = margin * L10 / 10` is never computed on its own: dividing early would round
twice, so every formula keeps `margin * L10` in the numerator and divides exactly once.
"""

from __future__ import annotations

from engine_svc.core.types import USD_SCALE, Price, Usd

PPM = 1_000_000
"""Maintenance margin rates arrive in parts per million: m = maintenance_margin_ppm / PPM."""


def round_down(numerator: int, denominator: int) -> int:
    """The one rounding rule for money: toward minus infinity (a loss never rounds smaller)."""
    return numerator // denominator


def round_up(numerator: int, denominator: int) -> int:
    return -((-numerator) // denominator)


def pnl(is_long: bool, margin: int, leverage: int, entry: int, price: int) -> Usd:
    """LONG N*(P-E)/E, SHORT N*(E-P)/E, rounded down to 0.0001 USD; not capped."""
    move = price - entry if is_long else entry - price
    return Usd(round_down(margin * leverage * move, 10 * entry))


def capped_pnl(is_long: bool, margin: int, leverage: int, entry: int, price: int) -> Usd:
    """PnL with negative balance protection: a position never loses more than its margin."""
    value = pnl(is_long, margin, leverage, entry, price)
    return Usd(-margin) if value < -margin else value


def liquidation_price(
    is_long: bool, entry: int, leverage: int, maintenance_margin_ppm: int
) -> Price | None:
    """The last grid price at which `margin + pnl <= N*m` holds (SPEC section 4).

    LONG floor(E*(1 - 10/L10 + m)), SHORT ceil(E*(1 + 10/L10 - m)); a LONG whose price would
    be <= 0 cannot be liquidated (a 1x LONG with m = 0) and gets None.
    """
    denominator = leverage * PPM
    if is_long:
        level = round_down(
            entry * (denominator - 10 * PPM + maintenance_margin_ppm * leverage), denominator
        )
        return Price(level) if level > 0 else None
    return Price(
        round_up(entry * (denominator + 10 * PPM - maintenance_margin_ppm * leverage), denominator)
    )


def format_units(value: int, decimals: int) -> str:
    """An integer amount as a decimal string, for messages people read (never parsed back)."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**decimals)
    return f"{sign}{whole}.{frac:0{decimals}d}" if decimals else f"{sign}{whole}"


def format_usd(value: int) -> str:
    return format_units(value, USD_SCALE)
