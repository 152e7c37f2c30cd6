"""Exact decimal <-> scaled integer conversion at the edges. Never rounds silently."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


class FixedPointError(ValueError):
    """The value is not a finite decimal with at most the allowed decimals."""


def to_units(value: Decimal | str | int, scale: int, what: str = "value") -> int:
    """`Decimal("235.95")`, scale 6 -> 235950000. More decimals than `scale` is an error."""
    if isinstance(value, (bool, float)):
        raise FixedPointError(f"{what} must be a decimal number, not {type(value).__name__}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise FixedPointError(f"{what} must be a decimal number, got {value!r}") from None
    if not number.is_finite():
        raise FixedPointError(f"{what} must be finite, got {value!r}")
    scaled = number.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise FixedPointError(f"{what} allows at most {scale} decimals, got {value}")
    return int(scaled)


def from_units(units: int, scale: int) -> Decimal:
    """235950000, scale 6 -> Decimal("235.950000")."""
    return Decimal(units).scaleb(-scale)
