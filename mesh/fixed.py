"""Exact decimal <-> scaled integer conversion at the edges. Never rounds silently.

`rescale` is the one place a number of units at one scale becomes units at another: text
(`to_units`), JSON numbers and proto Decimals (gateway_svc.validation) and the engine's
commands (engine_svc.service.convert) all end here.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MAX_DIGITS = 30
"""More integer digits than any price or balance here; bounds the work a hostile input costs."""


class FixedPointError(ValueError):
    """The value is not a finite decimal with at most the allowed decimals."""


def rescale(units: int, scale: int, to_scale: int, what: str = "value") -> int:
    """`units` at `scale` as units at `to_scale`: (2_300_000_001, 7) -> 6 is an error,
    (23_000, 2) -> 6 is 230_000_000. Raises FixedPointError rather than drop a digit."""
    if scale <= to_scale:
        return units * 10 ** (to_scale - scale)
    divisor = 10 ** (scale - to_scale)
    quotient, remainder = divmod(units, divisor)
    if remainder:
        raise FixedPointError(f"{what} allows at most {to_scale} decimals")
    return quotient


def to_units(value: Decimal | str | int, scale: int, what: str = "value") -> int:
    """`Decimal("235.95")`, scale 6 -> 235950000. More decimals than `scale` is an error.

    Pure integer arithmetic on the decimal's digits: Decimal's context (28 digits) would round.
    """
    if isinstance(value, (bool, float)):
        raise FixedPointError(f"{what} must be a decimal number, not {type(value).__name__}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise FixedPointError(f"{what} must be a decimal number, got {value!r}") from None
    if not number.is_finite():
        raise FixedPointError(f"{what} must be finite, got {value!r}")
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    digit_list = list(digits)
    while exponent < -scale and len(digit_list) > 1 and digit_list[-1] == 0:
        digit_list.pop()  # trailing zeros after the point carry no value
        exponent += 1
    if exponent < -scale and any(digit_list):
        raise FixedPointError(f"{what} allows at most {scale} decimals, got {value}")
    if any(digit_list) and len(digit_list) + exponent > MAX_DIGITS:
        raise FixedPointError(f"{what} is too large")
    magnitude = int("".join(map(str, digit_list)) or "0")
    if exponent < -scale:  # only zeros are left past the scale: zero
        return 0
    units = rescale(magnitude, -exponent, scale, what)
    return -units if sign else units


def from_units(units: int, scale: int) -> Decimal:
    """235950000, scale 6 -> Decimal("235.950000")."""
    return Decimal(units).scaleb(-scale)
