"""The exact number checks (gateway_svc.validation, shared with gRPC) and renderers the
facade relies on."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway_svc.errors import ApiError
from gateway_svc.rest.jsonio import dumps, parse_json, plain_decimal
from gateway_svc.validation import amount, integer


@pytest.mark.parametrize(
    ("value", "scale", "units"),
    [
        (Decimal("0.1"), 4, 1000),
        (Decimal("235.950000"), 6, 235_950_000),
        (Decimal("1E+2"), 4, 1_000_000),
        (Decimal("1.50"), 1, 15),
        (100, 4, 1_000_000),
        (Decimal("999999999.9999"), 4, 9_999_999_999_999),
    ],
)
def test_amount_accepts(value, scale, units) -> None:
    assert amount(value, "margin", scale, "INVALID_MARGIN", 1_000_000_000) == units


@pytest.mark.parametrize(
    "value",
    [
        Decimal("0.00001"),
        Decimal("100.00000000000000000000000000001"),
        Decimal("NaN"),
        Decimal("-Infinity"),
        Decimal("-1"),
        Decimal("0"),
        Decimal("0.0000"),
        Decimal("1E+10"),
        Decimal("1E+999999999"),
        Decimal("1000000000.0001"),
        True,
        "1",
        1.5,
        None,
    ],
)
def test_amount_rejects(value) -> None:
    with pytest.raises(ApiError) as caught:
        amount(value, "margin", 4, "INVALID_MARGIN", 1_000_000_000)
    assert caught.value.field == "margin"
    assert caught.value.spec.name == "INVALID_MARGIN"


def test_integer() -> None:
    assert integer(10, "leverage", "INVALID_LEVERAGE", 10, 1000) == 10
    assert integer(Decimal("1000.0"), "leverage", "INVALID_LEVERAGE", 10, 1000) == 1000
    for bad in (Decimal("10.5"), 9, 1001, True, "100", Decimal("1E+30")):
        with pytest.raises(ApiError):
            integer(bad, "leverage", "INVALID_LEVERAGE", 10, 1000)


@pytest.mark.parametrize(
    ("units", "scale", "text"),
    [
        (235_950_000, 6, "235.95"),
        (50_000_000, 4, "5000"),
        (238_309_500, 6, "238.3095"),
        (1, 6, "0.000001"),
        (-123_450, 4, "-12.345"),
        (0, 4, "0"),
        (1000, 1, "100"),
        (15, 1, "1.5"),
    ],
)
def test_plain_decimal_renders_json_numbers(units, scale, text) -> None:
    assert dumps(plain_decimal(units, scale)) == text


def test_parse_json_keeps_decimals_exact() -> None:
    assert parse_json(b'{"m": 0.1, "n": 3}') == {"m": Decimal("0.1"), "n": 3}
    for bad in (b"", b"{", b'{"a": NaN}', b'{"a": 1, "a": 2}', b"\xff"):
        with pytest.raises(ApiError):
            parse_json(bad)
