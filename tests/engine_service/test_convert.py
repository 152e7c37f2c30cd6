"""Protobuf commands become the same core values their dataclass constructors would build."""

from __future__ import annotations

import pytest
from exchange.v1 import commands_pb2

from engine_svc.core import types as core
from engine_svc.core.engine import Engine
from engine_svc.service.convert import (
    MalformedCommand,
    answered_trade,
    command_from_proto,
    command_from_tuple,
    command_to_tuple,
    event_bytes,
    event_to_proto,
)
from engine_svc.service.inputs import apply, decode_command, decode_prices
from mesh.assets import ASSET_DECIMALS
from tests.engine_service import builders

ASSETS = dict(ASSET_DECIMALS)


def _expected(msg: commands_pb2.Command, body: core.CommandBody) -> core.Command:
    return core.Command(
        order_id=msg.order_id, user_id=msg.user_id, email=msg.email, ts_ms=msg.ts_ms, body=body
    )


def test_create_trade_with_levels_keeps_every_field_in_its_place() -> None:
    msg = builders.create_trade("u1", "SOL_USDC", "SHORT", 1_234_500, 250, ts_ms=77)
    stop, take = msg.create_trade.stop_loss_price, msg.create_trade.take_profit_price
    stop.units, stop.scale = 24_012, 2  # 240.12 at SOL's 6 decimals
    take.units, take.scale = 230_123_456, 6  # 230.123456
    body = core.CreateTrade(
        asset="SOL_USDC",
        direction=core.Direction.SHORT,
        margin=core.Usd(1_234_500),
        leverage=250,
        stop_loss=core.Price(240_120_000),
        take_profit=core.Price(230_123_456),
    )
    assert command_from_proto(msg, ASSETS) == _expected(msg, body)


def test_create_trade_without_levels_or_leverage_gets_the_default_leverage() -> None:
    msg = builders.create_trade("u2", "BTC_USDC", "LONG", 500_000, 0)
    body = core.CreateTrade(
        asset="BTC_USDC",
        direction=core.Direction.LONG,
        margin=core.Usd(500_000),
        leverage=core.DEFAULT_LEVERAGE,
    )
    assert command_from_proto(msg, ASSETS) == _expected(msg, body)


def test_close_trade_and_simple_bodies() -> None:
    close = builders.close_trade("u3", "trade-9")
    assert command_from_proto(close, ASSETS) == _expected(close, core.CloseTrade("trade-9"))
    account = builders.command("u4", "create_account")
    assert command_from_proto(account, ASSETS) == _expected(account, core.CreateAccount())


def test_a_price_with_too_many_decimals_is_malformed() -> None:
    msg = builders.create_trade("u5", "BTC_USDC", "LONG", 500_000, 100)
    stop = msg.create_trade.stop_loss_price
    stop.units, stop.scale = 600_000_001, 5  # 6000.00001: BTC_USDC allows 4 decimals
    with pytest.raises(MalformedCommand, match="stop loss price allows at most 4 decimals"):
        command_from_proto(msg, ASSETS)


@pytest.mark.parametrize(
    "body",
    [
        core.CreateTrade("SOL_USDC", core.Direction.LONG, core.Usd(10_000), 50),
        core.CreateTrade(
            "BTC_USDC", core.Direction.SHORT, core.Usd(7), 1000, core.Price(9), core.Price(3)
        ),
        core.CloseTrade("a-trade"),
        core.CreateAccount(),
        core.GetUsdBalance(),
        core.GetBalance(),
        core.GetOpenTrades(),
        core.GetAccount(),
    ],
    ids=lambda body: type(body).__name__,
)
def test_flat_tuples_give_back_the_same_command(body: core.CommandBody) -> None:
    command = core.Command("o-1", "u-1", "u@x", 42, body)
    flat = command_to_tuple(command)
    assert all(isinstance(v, (str, int, type(None))) for v in flat)  # pickles in C
    assert command_from_tuple(flat) == command


@pytest.mark.parametrize("native", [True, False])
def test_an_events_trade_copied_from_its_answer_is_the_trade_built_anew(native: bool) -> None:
    engine = Engine(ASSETS, native=native)
    prices = builders.price_batch({"SOL_USDC": ("235.90", "235.95")})
    apply(engine, decode_prices(prices, ASSETS), ASSETS)
    apply(
        engine,
        decode_command(builders.command("u1", "create_account").SerializeToString(), ASSETS),
        ASSETS,
    )
    create = builders.create_trade("u1", "SOL_USDC", "LONG", 100_000, 10)
    opened = apply(engine, decode_command(create.SerializeToString(), ASSETS), ASSETS)
    assert opened.result is not None
    trade_id = opened.result.trade_opened.trade.trade_id
    close = builders.close_trade("u1", trade_id)
    closed = apply(engine, decode_command(close.SerializeToString(), ASSETS), ASSETS)
    for applied in (opened, closed):
        assert applied.result is not None and len(applied.events) == 1
        view, trade = answered_trade(applied.data, applied.result)
        (event,) = applied.events
        assert view is event.trade, "the answer and the event share one view"
        assert event_to_proto(event, ASSETS, trade) == event_to_proto(event, ASSETS)
        built = event_to_proto(event, ASSETS).SerializeToString()
        assert event_bytes(event, ASSETS, trade) == built, "the same bytes, written by hand"
        assert event_bytes(event, ASSETS) == built
