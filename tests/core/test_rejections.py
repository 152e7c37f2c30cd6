"""Every rejection path: its code, and that it changes nothing but seq and the order memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine_svc.core import Engine
from engine_svc.core.types import (
    INITIAL_USD_BALANCE,
    CloseTrade,
    CommandBody,
    CreateAccount,
    CreateTrade,
    Direction,
    GetAccount,
    GetBalance,
    GetOpenTrades,
    GetUsdBalance,
    Price,
    RejectCode,
    Usd,
)
from tests.core.driver import ASSETS, Driver, usd

LONG, SHORT = Direction.LONG, Direction.SHORT
SOL = "SOL_USDC"
BID, ASK = 200_000_000, 200_100_000  # SOL at 200 / 200.1


def world(engine: Engine | None = None) -> tuple[Driver, str]:
    """ann has an open SOL LONG; bob has an account and nothing else; ETH has no price."""
    d = Driver(engine or Engine(ASSETS, max_open_trades_per_user=3))
    d.account("ann")
    d.account("bob")
    d.tick(SOL, BID, ASK)
    d.tick("BTC_USDC", 650_000_000, 650_010_000)
    trade = d.opened("ann", SOL, LONG, usd("100"), 100)
    return d, trade.trade_id


def trade(
    direction: Direction = LONG,
    margin: int = 1_000_000,
    leverage: int = 100,
    stop_loss: int | None = None,
    take_profit: int | None = None,
    asset: str = SOL,
) -> CreateTrade:
    return CreateTrade(
        asset,
        direction,
        Usd(margin),
        leverage,
        None if stop_loss is None else Price(stop_loss),
        None if take_profit is None else Price(take_profit),
    )


# 10x LONG at ask 200.1: liquidation 180.09; 10x SHORT at bid 200: liquidation 220.
# fmt: off
CASES: list[tuple[str, str, Callable[[str], CommandBody], RejectCode]] = [
    ("leverage below 1x", "bob", lambda _: trade(leverage=9), RejectCode.INVALID_LEVERAGE),
    ("leverage above 100x", "bob", lambda _: trade(leverage=1001), RejectCode.INVALID_LEVERAGE),
    ("zero margin", "bob", lambda _: trade(margin=0), RejectCode.INVALID_MARGIN),
    ("negative margin", "bob", lambda _: trade(margin=-1), RejectCode.INVALID_MARGIN),
    ("margin above balance", "bob", lambda _: trade(margin=INITIAL_USD_BALANCE + 1),
     RejectCode.INSUFFICIENT_BALANCE),
    ("margin above what is left", "ann", lambda _: trade(margin=INITIAL_USD_BALANCE),
     RejectCode.INSUFFICIENT_BALANCE),
    ("unknown asset", "bob", lambda _: trade(asset="DOGE_USDC"), RejectCode.UNKNOWN_ASSET),
    ("no price yet", "bob", lambda _: trade(asset="ETH_USDC"), RejectCode.PRICE_UNAVAILABLE),
    ("zero stop loss", "bob", lambda _: trade(stop_loss=0), RejectCode.INVALID_PRICE),
    ("negative take profit", "bob", lambda _: trade(take_profit=-5), RejectCode.INVALID_PRICE),
    # Levels beyond int64 used to open the trade half-way, then fail in the trigger index.
    ("take profit beyond int64", "bob", lambda _: trade(take_profit=2**63),
     RejectCode.INVALID_PRICE),
    ("stop loss beyond int64", "bob", lambda _: trade(SHORT, stop_loss=2**63),
     RejectCode.INVALID_PRICE),
    ("long stop at the bid", "bob", lambda _: trade(stop_loss=BID), RejectCode.INVALID_STOP_LOSS),
    ("long stop at liquidation", "bob", lambda _: trade(stop_loss=180_090_000),
     RejectCode.INVALID_STOP_LOSS),
    ("long stop below liquidation", "bob", lambda _: trade(stop_loss=170_000_000),
     RejectCode.INVALID_STOP_LOSS),
    ("long take profit at the bid", "bob", lambda _: trade(take_profit=BID),
     RejectCode.INVALID_TAKE_PROFIT),
    ("short stop at the ask", "bob", lambda _: trade(SHORT, stop_loss=ASK),
     RejectCode.INVALID_STOP_LOSS),
    ("short stop at liquidation", "bob", lambda _: trade(SHORT, stop_loss=220_000_000),
     RejectCode.INVALID_STOP_LOSS),
    ("short take profit at the ask", "bob", lambda _: trade(SHORT, take_profit=ASK),
     RejectCode.INVALID_TAKE_PROFIT),
    ("short take profit above the ask", "bob", lambda _: trade(SHORT, take_profit=ASK + 1),
     RejectCode.INVALID_TAKE_PROFIT),
    # WIDE is 197 / 200: a 100x LONG at 200 would be liquidated at 198, above the bid, so the
    # next tick would liquidate it at once.
    ("liquidation inside the spread", "bob", lambda _: trade(leverage=1000, asset="WIDE"),
     RejectCode.INVALID_LEVERAGE),
    ("close someone else's trade", "bob", lambda t: CloseTrade(t), RejectCode.TRADE_NOT_FOUND),
    ("close an unknown trade", "ann", lambda _: CloseTrade("nope"), RejectCode.TRADE_NOT_FOUND),
    ("account exists", "ann", lambda _: CreateAccount(), RejectCode.ACCOUNT_EXISTS),
    ("trade without account", "cy", lambda _: trade(), RejectCode.ACCOUNT_NOT_FOUND),
    ("close without account", "cy", lambda t: CloseTrade(t), RejectCode.ACCOUNT_NOT_FOUND),
]
# fmt: on


def _without_idempotency(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k not in ("seq", "orders", "clock")}


@pytest.mark.parametrize(
    ("user", "body", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rejected_command_changes_only_seq_and_the_order_memory(
    user: str, body: Callable[[str], CommandBody], code: RejectCode
) -> None:
    d, ann_trade = world(Engine({**ASSETS, "WIDE": 6}, max_open_trades_per_user=3))
    d.tick("WIDE", 197_000_000, 200_000_000)
    before = d.engine.snapshot()
    business_hash = d.engine.state_hash(include_idempotency=False)
    response = d.answer(user, body(ann_trade), order_id="rejected-1")
    assert response.rejection is not None and response.rejection.code is code, response
    assert response.seq == before["seq"] + 1 and response.order_id == "rejected-1"
    after = d.engine.snapshot()
    assert _without_idempotency(after) == _without_idempotency(before)
    assert d.engine.state_hash(include_idempotency=False) == business_hash
    assert after["seq"] == before["seq"] + 1
    orders = after["orders"]
    assert orders["user_id"][:-1] == before["orders"]["user_id"]
    assert (orders["user_id"][-1], orders["order_id"][-1]) == (user, "rejected-1")
    assert orders["response"][-1][1] == "R"


def test_too_many_open_trades() -> None:
    d, _ = world()
    d.opened("ann", SOL, LONG, usd("1"), 10)
    d.opened("ann", SOL, SHORT, usd("1"), 10)
    business_hash = d.engine.state_hash(include_idempotency=False)
    response = d.open("ann", SOL, LONG, usd("1"), 10)
    assert response.rejection is not None
    assert response.rejection.code is RejectCode.TOO_MANY_OPEN_TRADES
    assert d.engine.state_hash(include_idempotency=False) == business_hash
    assert d.open("bob", SOL, LONG, usd("1"), 10).ok  # the limit is per user


def test_someone_elses_trade_looks_exactly_like_an_unknown_one() -> None:
    d, ann_trade = world()
    d.close("ann", d.opened("ann", SOL, SHORT, usd("1"), 10).trade_id)
    closed_id = d.engine.snapshot()["orders"]["response"][-1][3]
    theirs = d.close("bob", ann_trade).rejection
    unknown = d.close("bob", "f" * 8 + ann_trade[8:]).rejection
    already_closed = d.close("ann", closed_id).rejection
    assert theirs is not None and unknown is not None and already_closed is not None
    assert theirs.message == f"trade {ann_trade} not found"
    assert unknown.message == f"trade {'f' * 8 + ann_trade[8:]} not found"
    assert {theirs.code, unknown.code, already_closed.code} == {RejectCode.TRADE_NOT_FOUND}


@pytest.mark.parametrize("body", [GetUsdBalance(), GetBalance(), GetOpenTrades(), GetAccount()])
def test_queries_for_a_missing_account_change_nothing(body: CommandBody) -> None:
    d, _ = world()
    full_hash, seq = d.engine.state_hash(), d.engine.seq
    response = d.answer("cy", body)
    assert response.rejection is not None
    assert response.rejection.code is RejectCode.ACCOUNT_NOT_FOUND
    assert response.seq == 0
    assert (d.engine.state_hash(), d.engine.seq) == (full_hash, seq)


def test_messages_name_the_prices() -> None:
    d, _ = world()
    stop = d.open("bob", SOL, LONG, usd("1"), 100, stop_loss=170_000_000).rejection
    take = d.open("bob", SOL, SHORT, usd("1"), 100, take_profit=ASK).rejection
    assert stop is not None and take is not None
    assert stop.message == (
        "stop loss 170.000000 must be below the current bid 200.000000 "
        "and above the liquidation price 180.090000"
    )
    assert take.message == "take profit 200.100000 must be below the current ask 200.100000"
