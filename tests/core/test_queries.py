"""Read-only commands: balances, open trades, the account summary."""

from __future__ import annotations

from engine_svc.core.types import (
    INITIAL_USD_BALANCE,
    AccountCreated,
    AccountSummary,
    Balances,
    Direction,
    GetAccount,
    GetBalance,
    GetOpenTrades,
    GetUsdBalance,
    OpenTrades,
    Price,
    TradeStatus,
    Usd,
    UsdBalance,
)
from tests.core.driver import Driver, usd

SOL, BTC = "SOL_USDC", "BTC_USDC"


def test_account_creation_and_balances() -> None:
    d = Driver()
    created = d.account("ann")
    assert created.data == AccountCreated("ann@example.com", INITIAL_USD_BALANCE)
    assert created.seq == 1
    assert d.answer("ann", GetUsdBalance()).data == UsdBalance("ann@example.com", usd("5000"))
    assert d.answer("ann", GetBalance()).data == Balances("ann@example.com", {"USD": usd("5000")})


def test_open_trades_in_open_order_with_unrealized_pnl_at_the_close_side() -> None:
    d = Driver()
    d.account("ann")
    d.tick(SOL, 200_000_000, 200_000_000)
    d.tick(BTC, 650_000_000, 650_000_000)
    first = d.opened("ann", SOL, Direction.LONG, usd("100"), 100, take_profit=300_000_000)
    second = d.opened("ann", BTC, Direction.SHORT, usd("50"), 1000)
    d.tick(SOL, 210_000_000, 212_000_000)  # LONG valued at the bid: +5% of 1000 = 50
    d.tick(BTC, 640_000_000, 643_500_000)  # SHORT valued at the ask: +1% of 5000 = 50
    data = d.answer("ann", GetOpenTrades()).data
    assert isinstance(data, OpenTrades)
    assert [t.trade_id for t in data.trades] == [first.trade_id, second.trade_id]
    assert [t.unrealized_pnl for t in data.trades] == [usd("50"), usd("50")]
    assert all(t.status is TradeStatus.OPEN and t.exit_price is None for t in data.trades)
    assert data.trades[0].take_profit == 300_000_000


def test_account_summary() -> None:
    d = Driver()
    d.account("ann")
    summary = d.answer("ann", GetAccount()).data
    assert summary == AccountSummary(
        "ann@example.com", usd("5000"), usd("5000"), Usd(0), usd("5000"), None, Usd(0)
    )
    d.tick(SOL, 200_000_000)
    d.opened("ann", SOL, Direction.LONG, usd("100"), 100)
    d.opened("ann", SOL, Direction.SHORT, usd("300"), 10)
    d.tick(SOL, 210_000_000)  # LONG +50; SHORT (1x) -5% of 300 = -15
    summary = d.answer("ann", GetAccount()).data
    assert isinstance(summary, AccountSummary)
    assert (summary.balance, summary.used_margin, summary.unrealized_pnl) == (
        usd("4600"),
        usd("400"),
        usd("35"),
    )
    assert summary.equity == usd("5035") and summary.free_margin == usd("4600")
    assert summary.margin_level_ppm == 5035 * 1_000_000 // 400


def test_unrealized_loss_is_capped_at_the_margin() -> None:
    d = Driver()
    d.account("ann")
    d.tick(SOL, 200_000_000)
    d.opened("ann", SOL, Direction.SHORT, usd("100"), 1000, stop_loss=201_000_000)
    # No tick can leave an open position past its stop (the tick closes it), so plant the
    # price directly to pin the cap.
    d.engine.prices[SOL] = (Price(260_000_000), Price(260_000_000))
    data = d.answer("ann", GetOpenTrades()).data
    assert isinstance(data, OpenTrades) and data.trades[0].unrealized_pnl == -usd("100")
