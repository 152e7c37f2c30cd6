"""Exact checks for numbers arriving in request bodies.

`mesh.fixed.to_units` goes through `Decimal.scaleb`, which rounds to the context precision
(28 digits), so `100.00000000000000000000000000001` would pass as `100`. Here the decimal
places are counted on the digits themselves and the magnitude is bounded before any integer
is built, so a value is either taken exactly or rejected with the field named.
"""

from __future__ import annotations

from decimal import Decimal

from gateway_svc.errors import ApiError

INT64_MAX = 2**63 - 1


def exact_units(value: object, field: str, scale: int, code: str, maximum: int) -> int:
    """A JSON number -> integer units at `scale`; positive, at most `scale` decimals and at
    most `maximum` whole units. Booleans and strings are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ApiError(code, f"{field} must be a number", field=field)
    number = Decimal(value)
    if not number.is_finite():
        raise ApiError(code, f"{field} must be a finite number", field=field)
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    # Trailing zeros after the point do not count as decimals: 1.50 has one.
    strip = 0
    while strip < len(digits) - 1 and digits[-1 - strip] == 0 and exponent + strip < 0:
        strip += 1
    if strip:
        digits = digits[:-strip]
        exponent += strip
    if number == 0 or sign:
        raise ApiError(code, f"{field} must be greater than 0", field=field)
    if exponent < -scale:
        raise ApiError(code, f"{field} allows at most {scale} decimals, got {value}", field=field)
    # adjusted() is the power of ten of the leading digit; check it before building an int
    # so 1e999999999 cannot make us allocate a billion-digit number.
    if number.adjusted() >= len(str(maximum)) or number > maximum:
        raise ApiError(code, f"{field} must be at most {maximum}", field=field)
    units = int("".join(map(str, digits))) * 10 ** (exponent + scale)
    if units > INT64_MAX:
        raise ApiError(code, f"{field} is too large", field=field)
    return units


def exact_int(value: object, field: str, code: str, low: int, high: int) -> int:
    """A JSON integer in [low, high]. 10.0 counts as the integer 10 (as JSON Schema says);
    10.5, booleans and strings do not."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ApiError(code, f"{field} must be an integer from {low} to {high}", field=field)
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():
            raise ApiError(code, f"{field} must be an integer from {low} to {high}", field=field)
        if value.adjusted() > 18:
            raise ApiError(code, f"{field} must be an integer from {low} to {high}", field=field)
        value = int(value)
    if not low <= value <= high:
        raise ApiError(code, f"{field} must be an integer from {low} to {high}", field=field)
    return value
