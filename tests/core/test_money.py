"""The money math on its own: tables from SPEC section 4 and properties against Fractions."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine_svc.core.money import (
    PPM,
    capped_pnl,
    format_units,
    liquidation_price,
    pnl,
    round_down,
    round_up,
)
from tests.core.driver import examples

SOL_23595 = 235_950_000  # 235.95 with SOL's 6 decimals


@pytest.mark.parametrize(
    ("is_long", "margin", "leverage", "entry", "price", "expected"),
    [
        # given a position, when valued at a price, then this PnL in 0.0001 USD
        (True, 1_000_000, 100, 200_000_000, 201_000_000, 50_000),  # 1000 USD notional, +0.5%
        (False, 1_000_000, 100, 200_000_000, 201_000_000, -50_000),
        (True, 1, 10, 3, 4, 0),  # +1/3 unit rounds down to 0
        (True, 1, 10, 3, 2, -1),  # -1/3 unit rounds toward -inf, to -1
        (False, 1, 10, 3, 2, 0),
        (False, 1, 10, 3, 4, -1),
        (True, 1_000_000, 1000, SOL_23595, 236_000_001, 21_191),  # 21191.07...
        (True, 1_000_000, 1000, SOL_23595, 235_900_000, -21_191),  # -21190.93... -> -21191
        (True, 1_000_000, 1000, SOL_23595, SOL_23595, 0),
    ],
)
def test_pnl_rounds_down_to_a_unit(
    is_long: bool, margin: int, leverage: int, entry: int, price: int, expected: int
) -> None:
    assert pnl(is_long, margin, leverage, entry, price) == expected


@pytest.mark.parametrize(
    ("is_long", "entry", "leverage", "ppm", "expected"),
    [
        (False, SOL_23595, 1000, 0, 238_309_500),  # the seed's example: 238.3095
        (True, SOL_23595, 1000, 0, 233_590_500),
        (True, SOL_23595, 10, 0, None),  # a 1x LONG cannot be liquidated
        (True, SOL_23595, 10, 5_000, 1_179_750),  # ... unless maintenance margin is due
        (True, SOL_23595, 1000, 5_000, 234_770_250),  # m > 0 moves it toward the entry
        (False, SOL_23595, 1000, 5_000, 237_129_750),
        (True, 235_950_001, 30, 0, 157_300_000),  # 157300000.67 floors
        (False, 235_950_001, 30, 0, 314_600_002),  # 314600001.33 ceils
        (False, SOL_23595, 10, 0, 2 * SOL_23595),
    ],
)
def test_liquidation_price(
    is_long: bool, entry: int, leverage: int, ppm: int, expected: int | None
) -> None:
    assert liquidation_price(is_long, entry, leverage, ppm) == expected


def test_rounding_helpers() -> None:
    assert (round_down(7, 2), round_down(-7, 2), round_up(7, 2), round_up(-7, 2)) == (3, -4, 4, -3)
    assert format_units(-12345, 4) == "-1.2345"
    assert format_units(5, 6) == "0.000005"
    assert format_units(42, 0) == "42"


positions = st.tuples(
    st.booleans(),
    st.integers(1, 10**12),  # margin
    st.integers(10, 1000),  # leverage
    st.integers(1, 10**13),  # entry
    st.integers(1, 10**13),  # price
)


@settings(max_examples=examples(300, 5_000))
@given(positions)
def test_pnl_is_the_exact_value_floored(p: tuple[bool, int, int, int, int]) -> None:
    is_long, margin, leverage, entry, price = p
    notional = Fraction(margin * leverage, 10)
    exact = notional * ((price - entry) if is_long else (entry - price)) / entry
    assert pnl(is_long, margin, leverage, entry, price) == math.floor(exact)
    assert capped_pnl(is_long, margin, leverage, entry, price) == max(math.floor(exact), -margin)


@settings(max_examples=examples(300, 5_000))
@given(st.booleans(), st.integers(1, 10**13), st.integers(10, 1000), st.integers(0, PPM // 2))
def test_liquidation_price_is_the_last_grid_price_where_the_rule_holds(
    is_long: bool, entry: int, leverage: int, ppm: int
) -> None:
    m = Fraction(ppm, PPM)
    exact = entry * (1 - Fraction(10, leverage) + m if is_long else 1 + Fraction(10, leverage) - m)
    level = liquidation_price(is_long, entry, leverage, ppm)
    if is_long:
        assert level == (math.floor(exact) if math.floor(exact) > 0 else None)
    else:
        assert level == math.ceil(exact)
    if level is None:
        return
    # At the level, margin + exact pnl <= N*m; one grid step toward the entry, it is not.
    margin = 10**6
    notional = Fraction(margin * leverage, 10)

    def equity(price: int) -> Fraction:
        move = (price - entry) if is_long else (entry - price)
        return margin + notional * move / entry

    assert equity(level) <= notional * m
    assert equity(level + 1 if is_long else level - 1) > notional * m
