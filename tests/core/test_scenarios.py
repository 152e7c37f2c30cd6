"""Given / when / then scenarios from the seed's examples and SPEC section 4."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import pytest

from engine_svc.core import Engine
from engine_svc.core.collector import BULK
from engine_svc.core.types import (
    INITIAL_USD_BALANCE,
    Direction,
    EventKind,
    GetAccount,
    TradeClosed,
    TradeStatus,
)
from tests.core.driver import ASSETS, Driver, usd

LONG, SHORT = Direction.LONG, Direction.SHORT
SOL = "SOL_USDC"


def test_short_100x_at_235_95_liquidates_at_238_3095() -> None:
    d = Driver()
    d.account("ann")
    d.tick(SOL, 235_950_000)
    trade = d.opened("ann", SOL, SHORT, usd("100"), 1000)
    assert (trade.entry_price, trade.liquidation_price) == (235_950_000, 238_309_500)
    assert d.tick(SOL, 238_309_499) == []
    [event] = d.tick(SOL, 238_309_500)
    assert (event.kind, event.trade.status) == (EventKind.LIQUIDATED, TradeStatus.LIQUIDATED)
    assert (event.trade.exit_price, event.trade.pnl, event.trade.total_return) == (
        238_309_500,
        -usd("100"),
        0,
    )
    assert event.order_id == "" and event.ts_ms == d.ts_ms
    assert d.balance("ann") == INITIAL_USD_BALANCE - usd("100")


def test_long_take_profit_above_the_price_waits_for_the_price() -> None:
    d = Driver()
    d.account("ann")
    d.tick(SOL, 200_000_000, 200_100_000)
    trade = d.opened("ann", SOL, LONG, usd("10"), 100, take_profit=210_000_000)
    assert d.tick(SOL, 200_500_000, 200_600_000) == []
    assert d.tick(SOL, 209_999_999, 210_500_000) == []  # ask beyond TP; the bid is what counts
    [event] = d.tick(SOL, 210_000_000, 210_100_000)
    assert event.kind is EventKind.TAKE_PROFIT and event.trade.trade_id == trade.trade_id
    assert event.trade.exit_price == 210_000_000


@dataclass(frozen=True)
class Gap:
    """Given a position opened at `open_at`, when one tick jumps to `tick`, then it closes."""

    name: str
    direction: Direction
    leverage: int
    stop_loss: int | None
    tick: int
    status: TradeStatus
    pnl: int
    total_return: int


# fmt: off
GAPS = [
    # 10x LONG from 200: liquidation 180. A gap to 150 would lose 250 on 100 of margin.
    Gap("long gap past liquidation", LONG, 100, None, 150_000_000, TradeStatus.LIQUIDATED,
        -usd("100"), 0),
    Gap("long gap past stop and liquidation", LONG, 100, 190_000_000, 150_000_000,
        TradeStatus.STOP_LOSS, -usd("100"), 0),
    Gap("long falls onto its stop", LONG, 100, 190_000_000, 185_000_000,
        TradeStatus.STOP_LOSS, -usd("75"), usd("25")),
    Gap("short gap past liquidation", SHORT, 100, None, 250_000_000, TradeStatus.LIQUIDATED,
        -usd("100"), 0),
    Gap("short gap past stop and liquidation", SHORT, 100, 210_000_000, 250_000_000,
        TradeStatus.STOP_LOSS, -usd("100"), 0),
    Gap("short rises onto its stop", SHORT, 100, 210_000_000, 215_000_000,
        TradeStatus.STOP_LOSS, -usd("75"), usd("25")),
]
# fmt: on


@pytest.mark.parametrize("gap", GAPS, ids=lambda g: g.name)
def test_gaps_close_at_the_tick_price_and_never_below_zero(gap: Gap) -> None:
    d = Driver()
    d.account("ann")
    d.tick(SOL, 200_000_000)
    d.opened("ann", SOL, gap.direction, usd("100"), gap.leverage, stop_loss=gap.stop_loss)
    [event] = d.tick(SOL, gap.tick)
    trade = event.trade
    assert (trade.status, trade.exit_price, trade.pnl, trade.total_return) == (
        gap.status,
        gap.tick,
        gap.pnl,
        gap.total_return,
    )
    assert d.balance("ann") == INITIAL_USD_BALANCE - usd("100") + gap.total_return
    assert d.engine.positions == {}


@pytest.mark.parametrize(
    ("direction", "open_bid", "open_ask", "take_profit", "tick_bid", "tick_ask"),
    [
        (LONG, 200_000_000, 200_000_000, 220_000_000, 230_000_000, 230_000_000),
        (SHORT, 200_000_000, 200_000_000, 180_000_000, 170_000_000, 170_000_000),
    ],
)
def test_take_profit_on_a_gap_closes_at_the_tick_price(
    direction: Direction,
    open_bid: int,
    open_ask: int,
    take_profit: int,
    tick_bid: int,
    tick_ask: int,
) -> None:
    d = Driver()
    d.account("ann")
    d.tick(SOL, open_bid, open_ask)
    d.opened("ann", SOL, direction, usd("100"), 100, take_profit=take_profit)
    [event] = d.tick(SOL, tick_bid, tick_ask)
    assert event.trade.status is TradeStatus.TAKE_PROFIT
    assert event.trade.exit_price == (tick_bid if direction is LONG else tick_ask)
    assert event.trade.pnl == usd("150")  # 10x of a 15% move on 100


def test_long_opens_at_ask_and_closes_at_bid_short_the_other_way() -> None:
    d = Driver()
    d.account("ann")
    d.tick(SOL, 199_000_000, 201_000_000)
    long = d.opened("ann", SOL, LONG, usd("100"), 10)
    short = d.opened("ann", SOL, SHORT, usd("100"), 10)
    assert (long.entry_price, short.entry_price) == (201_000_000, 199_000_000)
    d.tick(SOL, 201_000_000, 203_000_000)
    closed_long = d.close("ann", long.trade_id).data
    closed_short = d.close("ann", short.trade_id).data
    assert isinstance(closed_long, TradeClosed) and isinstance(closed_short, TradeClosed)
    assert (closed_long.trade.exit_price, closed_long.trade.pnl) == (201_000_000, 0)
    # SHORT at 199 closes at the ask 203: -4/199 of 100 = -2.0100502... -> -2.0101
    assert (closed_short.trade.exit_price, closed_short.trade.pnl) == (203_000_000, -20_101)
    assert closed_short.margin_returned == closed_short.trade.total_return == usd("97.9899")
    assert d.balance("ann") == INITIAL_USD_BALANCE - 20_101


def test_one_x_long_has_no_liquidation_price_and_survives_any_fall() -> None:
    d = Driver()
    d.account("ann")
    d.tick(SOL, 200_000_000)
    trade = d.opened("ann", SOL, LONG, usd("100"), 10)
    assert trade.liquidation_price is None
    assert d.tick(SOL, 1) == []
    closed = d.close("ann", trade.trade_id).data
    assert isinstance(closed, TradeClosed)
    assert closed.trade.total_return == 0  # 100 * 1/200000000 of the entry, rounded down: 0


def test_maintenance_margin_moves_the_liquidation_price() -> None:
    d = Driver(Engine(ASSETS, maintenance_margin_ppm=5_000))
    d.account("ann")
    d.tick(SOL, 235_950_000)
    short = d.opened("ann", SOL, SHORT, usd("100"), 1000)
    long = d.opened("ann", SOL, LONG, usd("100"), 10)
    assert short.liquidation_price == 237_129_750
    assert long.liquidation_price == 1_179_750
    [event] = d.tick(SOL, 237_129_750)
    # Liquidated with equity left: 100 - 100 * 100 * 0.5% = 50 (the maintenance margin).
    assert event.trade.status is TradeStatus.LIQUIDATED
    assert event.trade.total_return == usd("50")


def test_closing_many_in_one_tick_orders_events_along_the_price_path() -> None:
    d = Driver()
    d.account("ann")
    d.tick(SOL, 200_000_000)
    ids = [
        d.opened("ann", SOL, LONG, usd("10"), 100, stop_loss=s).trade_id
        for s in (195_000_000, 199_000_000, 197_000_000)
    ]
    events = d.tick(SOL, 150_000_000)
    assert [e.trade.trade_id for e in events] == [ids[1], ids[2], ids[0]]
    seqs = [e.event_seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


def test_a_tick_for_an_asset_the_engine_does_not_trade_is_counted_and_ignored() -> None:
    d = Driver()
    seq, state = d.engine.seq, d.engine.state_hash(include_idempotency=False)
    assert d.tick("DOGE_USDC", 5) == []
    assert d.engine.seq == seq + 1
    assert d.engine.price("DOGE_USDC") is None
    assert d.engine.state_hash(include_idempotency=False) == state


@pytest.mark.parametrize(("bid", "ask"), [(0, 5), (5, 0), (-1, 5)])
def test_a_tick_with_a_non_positive_price_is_a_broken_edge(bid: int, ask: int) -> None:
    d = Driver()
    state = d.engine.state_hash()
    with pytest.raises(ValueError, match="non-positive"):
        d.tick(SOL, bid, ask)
    assert d.engine.state_hash() == state


def test_seq_counts_mutating_commands_and_ticks_only() -> None:
    d = Driver()
    assert d.account("ann").seq == 1
    d.tick(SOL, 200_000_000)
    assert d.open("ann", SOL, LONG, usd("1"), 5).seq == 3  # rejected, still counted
    assert d.answer("ann", GetAccount()).seq == 0
    opened = d.open("ann", SOL, LONG, usd("1"), 10)
    assert opened.seq == 4 == d.engine.seq


def test_a_mass_liquidation_settles_everything_and_leaves_the_collector_as_it_was() -> None:
    d = Driver()
    users = [f"u{i}" for i in range(60)]
    for user in users:
        d.account(user)
    d.tick(SOL, 200_000_000)
    for n in range(BULK + 200):
        d.opened(users[n % 60], SOL, LONG, usd("10"), 1000, take_profit=250_000_000)
    assert gc.isenabled()
    events = d.tick(SOL, 100_000_000)
    assert len(events) == BULK + 200 and gc.isenabled()
    assert {e.kind for e in events} == {EventKind.LIQUIDATED}
    assert sum(len(index) for index in d.engine.triggers.values()) == 0
    assert all(d.balance(user) == INITIAL_USD_BALANCE - 20 * usd("10") for user in users)
