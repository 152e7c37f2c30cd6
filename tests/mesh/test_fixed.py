"""Edge conversion is exact: no silent rounding, no floats, bounded work."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesh.fixed import FixedPointError, from_units, to_units


@pytest.mark.parametrize(
    ("text", "scale", "units"),
    [
        ("235.95", 6, 235_950_000),
        ("90012.7", 4, 900_127_000),
        ("0.0001", 4, 1),
        ("1.500000000", 4, 15_000),
        ("-2.5", 4, -25_000),
        ("0", 4, 0),
        ("1E+2", 4, 1_000_000),
    ],
)
def test_exact(text: str, scale: int, units: int) -> None:
    assert to_units(text, scale) == units


@pytest.mark.parametrize(
    "bad",
    [
        "0.00001",
        "100.00000000000000000000000000001",
        "NaN",
        "Infinity",
        "abc",
        "1e999999999",
        1.5,
        True,
    ],
)
def test_rejected(bad: object) -> None:
    with pytest.raises(FixedPointError):
        to_units(bad, 4, "margin")  # type: ignore[arg-type]


def test_message_names_the_field() -> None:
    with pytest.raises(FixedPointError, match="margin allows at most 4 decimals"):
        to_units("1.23456", 4, "margin")


@given(st.integers(min_value=-(10**20), max_value=10**20), st.integers(min_value=0, max_value=8))
def test_round_trip(units: int, scale: int) -> None:
    assert to_units(from_units(units, scale), scale) == units
    assert to_units(str(from_units(units, scale)), scale) == units
    assert from_units(units, scale) == Decimal(units) / Decimal(10**scale)
