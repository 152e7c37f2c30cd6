"""The toolset's field rules (gateway_svc.validation_orders) without a server: for each new
field, values accepted (and the units they become) and values refused (code and field)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import types_pb2

from gateway_svc import validation_orders as orders
from gateway_svc.errors import ApiError

TRADE_ID = "0d9b8a7c-6e5f-4d3c-8b2a-1f0e9d8c7b6a"


def dec(units: int, scale: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


def order(**override: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "asset": "BTC_USDC",
        "direction": types_pb2.DIRECTION_SHORT,
        "order_type": types_pb2.ORDER_TYPE_STOP,
        "price": Decimal("90000.5"),
        "margin": 25,
    }
    values.update(override)
    return values


@pytest.mark.parametrize(
    ("override", "field", "units"),
    [
        ({}, "price_units", 900_005_000),
        ({"price": dec(9_000_050_000, 5)}, "price_units", 900_005_000),  # trailing zero
        ({"order_type": types_pb2.ORDER_TYPE_LIMIT}, "order_type", types_pb2.ORDER_TYPE_LIMIT),
        ({"trailing_stop_distance": Decimal("0.0001")}, "trailing_units", 1),
        ({"trailing_stop_distance": None}, "trailing_units", None),
        ({"expires_at_ms": 1}, "expires_at_ms", 1),
        ({"expires_at_ms": 10**13}, "expires_at_ms", 10**13),
        ({"expires_at_ms": Decimal("1900000000000.0")}, "expires_at_ms", 1_900_000_000_000),
        ({"expires_at_ms": None}, "expires_at_ms", None),
        ({"leverage": None}, "leverage", 10),
        ({"take_profit_price": 80_000}, "take_profit_units", 800_000_000),
    ],
)
def test_place_order_accepts(override: dict[str, Any], field: str, units: object) -> None:
    assert getattr(orders.place_order(order(**override)), field) == units


@pytest.mark.parametrize(
    ("override", "code", "field"),
    [
        ({"order_type": None}, "INVALID_ARGUMENT", "order_type"),
        ({"order_type": True}, "INVALID_ARGUMENT", "order_type"),
        ({"order_type": 3}, "INVALID_ARGUMENT", "order_type"),
        ({"price": None}, "INVALID_PRICE", "price"),
        ({"price": Decimal("1.00001")}, "INVALID_PRICE", "price"),
        ({"price": 10**9 + 1}, "INVALID_PRICE", "price"),
        (
            {"trailing_stop_distance": Decimal("0.00001")},
            "INVALID_TRAILING_STOP",
            "trailing_stop_distance",
        ),
        ({"trailing_stop_distance": 0}, "INVALID_TRAILING_STOP", "trailing_stop_distance"),
        (
            {"trailing_stop_distance": 1, "stop_loss_price": 95_000},
            "INVALID_TRAILING_STOP",
            "trailing_stop_distance",
        ),
        ({"expires_at_ms": 0}, "INVALID_EXPIRY", "expires_at_ms"),
        ({"expires_at_ms": 10**13 + 1}, "INVALID_EXPIRY", "expires_at_ms"),
        ({"expires_at_ms": Decimal("1.5")}, "INVALID_EXPIRY", "expires_at_ms"),
        ({"expires_at_ms": "tomorrow"}, "INVALID_EXPIRY", "expires_at_ms"),
        ({"margin": Decimal("0.00001")}, "INVALID_MARGIN", "margin"),
    ],
)
def test_place_order_refuses(override: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(ApiError) as info:
        orders.place_order(order(**override))
    assert (info.value.spec.name, info.value.field) == (code, field)
    assert info.value.message.startswith(field)


def test_close_trade_margin_is_optional() -> None:
    full = orders.close_trade(xs.CloseTradeRequest(trade_id=TRADE_ID))
    part = orders.close_trade(xs.CloseTradeRequest(trade_id=TRADE_ID, margin=dec(15, 1)))
    assert (full.margin_units, part.margin_units) == (None, 15_000)
    with pytest.raises(ApiError) as info:
        orders.close_trade(xs.CloseTradeRequest(trade_id=TRADE_ID, margin=dec(0, 0)))
    assert info.value.spec.name == "INVALID_MARGIN"


def test_modify_keeps_removes_and_sets() -> None:
    change = orders.modify_trade(
        xs.ModifyTradeRequest(
            trade_id=TRADE_ID,
            stop_loss_price=types_pb2.PriceChange(),
            take_profit_price=types_pb2.PriceChange(value=dec(2, 0)),
            expires_at=types_pb2.ExpiryChange(expires_at_ms=5),
        )
    )
    assert change.stop_loss is None and change.take_profit == 2_000_000  # at 6 decimals
    assert change.trailing is orders.KEEP and change.price is orders.KEEP
    assert change.expires_at_ms == 5 and change.has_prices
    assert orders.change_units(2_000_000, "BTC_USDC", "take_profit_price") == 20_000
    with pytest.raises(ApiError) as info:
        orders.change_units(1, "BTC_USDC", "take_profit_price")  # 0.000001: finer than BTC's
    assert (info.value.spec.name, info.value.field) == ("INVALID_PRICE", "take_profit_price")
    removals = orders.modify_trade({"trade_id": TRADE_ID, "take_profit_price": None})
    assert not removals.has_prices and removals.take_profit is None


def test_a_modify_price_too_fine_for_every_asset_names_each_assets_decimals() -> None:
    """Before its trade's asset is known, a price's refusal cannot say "at most 6 decimals":
    a BTC_USDC trader would then send 6 and be refused again, at 4."""
    with pytest.raises(ApiError) as info:
        orders.modify_trade(
            xs.ModifyTradeRequest(
                trade_id=TRADE_ID, stop_loss_price=types_pb2.PriceChange(value=dec(1, 7))
            )
        )
    assert (info.value.spec.name, info.value.field) == ("INVALID_PRICE", "stop_loss_price")
    assert "BTC_USDC 4" in info.value.message and "SOL_USDC 6" in info.value.message
    assert "at most 6 decimals" not in info.value.message


@pytest.mark.parametrize(
    "request_",
    [
        xs.ModifyTradeRequest(trade_id=TRADE_ID),
        {"trade_id": TRADE_ID},
        {"trade_id": TRADE_ID, "order_id": "0d9b8a7c-6e5f-4d3c-8b2a-1f0e9d8c7b6b"},
    ],
)
def test_a_modify_that_names_nothing_to_change_is_refused(request_: Any) -> None:
    """Not journaled as a change of nothing, with its event and audit row."""
    with pytest.raises(ApiError) as info:
        orders.modify_trade(request_)
    assert info.value.spec.name == "INVALID_ARGUMENT" and info.value.field is None
    assert info.value.message.startswith("nothing to change")


@pytest.mark.parametrize("field", orders.CHANGEABLE)
def test_any_one_change_is_enough(field: str) -> None:
    value = {"expires_at_ms": 5, "price": 7}.get(field)  # a level may be removed (None)
    change = orders.modify_trade({"trade_id": TRADE_ID, field: value})
    assert change.trade_id == TRADE_ID
