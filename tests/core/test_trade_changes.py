"""SPEC 3a scenarios on open trades: partial close, trailing stops, modifications."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest

from engine_svc.core.types import (
    INITIAL_USD_BALANCE,
    KEEP,
    CloseTrade,
    CreateTrade,
    Direction,
    EventKind,
    GetOpenTrades,
    ModifyTrade,
    OrderEventKind,
    OrderType,
    PlaceOrder,
    TradeStatus,
    TradeView,
    Usd,
)
from tests.core.driver import Driver, usd
from tests.core.test_orders import BTC, LONG, SHORT, p, ready, tick


def part_pnl(is_long: bool, m: int, leverage: int, entry: int, price: int) -> int:
    """SPEC 3a, independently: floor(m*L10*(P-E) / (10*E)) (mirrored for a SHORT), >= -m."""
    move = Fraction(price - entry if is_long else entry - price)
    return max(math.floor(Fraction(m * leverage, 10) * move / entry), -m)


PARTS = [
    # direction, margin, leverage, quote at open, quote at the partial close, part
    ("long gain", LONG, "100", 100, ("100", "100"), ("103.3333", "103.4"), "33.3333"),
    ("long loss", LONG, "100", 250, ("100", "100.1"), ("97.7777", "98"), "0.0001"),
    ("short gain", SHORT, "77.7777", 1000, ("100", "100.2"), ("99", "99.3333"), "25"),
    ("short capped loss", SHORT, "50", 1000, ("100", "100"), ("100.9", "100.95"), "49.9999"),
]


@pytest.mark.parametrize(
    ("direction", "margin", "leverage", "opened_at", "closed_at", "part"),
    [c[1:] for c in PARTS],
    ids=[c[0] for c in PARTS],
)
def test_a_partial_close_realizes_the_part_and_leaves_the_rest_as_it_was(
    direction: Direction,
    margin: str,
    leverage: int,
    opened_at: tuple[str, str],
    closed_at: tuple[str, str],
    part: str,
) -> None:
    d = ready(bid=opened_at[0], ask=opened_at[1])
    trade = d.opened("ann", BTC, direction, usd(margin), leverage)
    tick(d, *closed_at)
    is_long = direction is Direction.LONG
    price = p(closed_at[0] if is_long else closed_at[1])
    m = usd(part)
    balance = d.balance("ann")
    answer = d.answer("ann", CloseTrade(trade.trade_id, m))
    assert answer.ok, answer.rejection
    closed = answer.data
    expected = part_pnl(is_long, m, leverage, trade.entry_price, price)
    assert closed.trade.pnl == expected and closed.margin_returned == m  # type: ignore[union-attr]
    assert closed.trade.partial and closed.trade.margin == m  # type: ignore[union-attr]
    assert closed.trade.status is TradeStatus.CLOSED  # type: ignore[union-attr]
    assert closed.remaining_margin == usd(margin) - m  # type: ignore[union-attr]
    assert d.balance("ann") == balance + m + expected
    [rest] = d.answer("ann", GetOpenTrades()).data.trades  # type: ignore[union-attr]
    assert (rest.margin, rest.entry_price, rest.liquidation_price, rest.leverage) == (
        usd(margin) - m,
        trade.entry_price,
        trade.liquidation_price,
        trade.leverage,
    )
    final = d.answer("ann", CloseTrade(trade.trade_id))  # the rest, in full
    rest_pnl = part_pnl(is_long, usd(margin) - m, leverage, trade.entry_price, price)
    assert final.data.trade.pnl == rest_pnl  # type: ignore[union-attr]
    assert final.data.remaining_margin == 0  # type: ignore[union-attr]
    assert d.balance("ann") == balance + usd(margin) + expected + rest_pnl


@pytest.mark.parametrize(("part", "ok"), [("0", False), ("-1", False), ("10.0001", False),
                                          ("10", True)])  # fmt: skip
def test_a_close_margin_is_above_zero_and_at_most_the_trades(part: str, ok: bool) -> None:
    d = ready()
    trade = d.opened("ann", BTC, LONG, usd("10"))
    before = d.engine.state_hash(include_idempotency=False)
    answer = d.answer("ann", CloseTrade(trade.trade_id, usd(part)))
    assert answer.ok is ok
    if ok:  # all of it: a full close
        assert answer.data.trade.status is TradeStatus.CLOSED  # type: ignore[union-attr]
        assert not answer.data.trade.partial and d.engine.trades == {}  # type: ignore[union-attr]
        assert d.balance("ann") == INITIAL_USD_BALANCE + answer.data.trade.pnl  # type: ignore[union-attr]
    else:
        assert answer.rejection.code.value == "INVALID_MARGIN"  # type: ignore[union-attr]
        assert d.engine.state_hash(include_idempotency=False) == before


def test_a_partly_closed_trade_keeps_its_levels_and_triggers() -> None:
    d = ready()
    trade = d.opened("ann", BTC, LONG, usd("100"), 100, p("95"), p("110"))
    assert d.answer("ann", CloseTrade(trade.trade_id, usd("40"))).ok
    [event] = tick(d, "94", "94.5")
    assert event.kind is EventKind.STOP_LOSS and event.trade.margin == usd("60")
    assert event.trade.stop_loss == p("95")


# ---- trailing stops -----------------------------------------------------------------------

TRAILS = [
    # direction, distance, path of (bid, ask) with the stop shown after it; the last fires
    ("long", LONG, "2", [(("101", "101.5"), "99"), (("100.5", "101"), "99"),
                         (("103", "103.1"), "101"), (("101.5", "102"), "101"),
                         (("101", "101.2"), "101")]),
    ("short", SHORT, "1.5", [(("99", "99.5"), "101"), (("98", "98.5"), "100"),
                             (("99", "99.9999"), "100"), (("99.9", "100"), "100")]),
    ("long gap", LONG, "1", [(("120", "120"), "119"), (("90", "90"), "119")]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("direction", "distance", "path"), [t[1:] for t in TRAILS], ids=[t[0] for t in TRAILS]
)
def test_a_trailing_stop_follows_the_price_path_and_fires(
    direction: Direction, distance: str, path: list[tuple[tuple[str, str], str]]
) -> None:
    d = ready(bid="100", ask="100.5")
    body = CreateTrade(BTC, direction, usd("100"), 20, trailing_distance=p(distance))
    opened = d.answer("ann", body)
    assert opened.ok, opened.rejection
    start = p("100") - p(distance) if direction is LONG else p("100.5") + p(distance)
    assert opened.data.trade.stop_loss == start  # type: ignore[union-attr]
    for step, ((bid, ask), stop) in enumerate(path):
        events = tick(d, bid, ask)
        if step < len(path) - 1:
            assert events == []  # a moving stop is not an event
            [view] = d.answer("ann", GetOpenTrades()).data.trades  # type: ignore[union-attr]
            assert view.stop_loss == p(stop) and view.trailing_distance == p(distance)
        else:
            [event] = events
            assert event.kind is EventKind.STOP_LOSS and event.trade.stop_loss == p(stop)
            assert event.trade.exit_price == p(bid if direction is LONG else ask)


def test_a_trailing_stop_given_with_an_order_starts_at_the_fill() -> None:
    d = ready()
    body = PlaceOrder(BTC, LONG, OrderType.LIMIT, p("99"), usd("10"), 20, None, None, p("3"))
    placed = d.answer("ann", body)
    assert placed.ok and placed.data.trade.stop_loss is None  # type: ignore[union-attr]
    [opened] = tick(d, "97", "98")
    assert opened.trade.stop_loss == p("94")
    assert tick(d, "99", "99.5") == [] and tick(d, "96", "96.5")[0].trade.stop_loss == p("96")


# ---- modifications ------------------------------------------------------------------------


def _open(d: Driver) -> TradeView:
    # quote 100 / 101, LONG 10x: entry 101, liquidation 90.9; take profit 110
    return d.opened("ann", BTC, LONG, usd("100"), 100, None, p("110"))


MODIFY_OPEN = [
    # the change, the error code (None: accepted), the levels after (stop, take profit, trail)
    ("set sl", {"stop_loss": "95"}, None, ("95", "110", None)),
    ("sl above the bid", {"stop_loss": "100"}, "INVALID_STOP_LOSS", None),
    ("sl past liquidation", {"stop_loss": "90.9"}, "INVALID_STOP_LOSS", None),
    ("tp below the bid", {"take_profit": "100"}, "INVALID_TAKE_PROFIT", None),
    ("remove tp", {"take_profit": None}, None, (None, None, None)),
    ("trail", {"trailing_distance": "5"}, None, ("95", "110", "5")),
    ("trail too far", {"trailing_distance": "9.1"}, "INVALID_TRAILING_STOP", None),
    ("trail and sl", {"trailing_distance": "5", "stop_loss": "95"}, "INVALID_TRAILING_STOP",
     None),
    ("price of an open trade", {"price": "99"}, "NOT_PENDING", None),
    ("expiry of an open trade", {"expires_at_ms": 10**12}, "NOT_PENDING", None),
    ("zero trail", {"trailing_distance": "0"}, "INVALID_TRAILING_STOP", None),
    ("nothing to change", {}, "INVALID_ARGUMENT", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "code", "after"), [m[1:] for m in MODIFY_OPEN], ids=[m[0] for m in MODIFY_OPEN]
)
def test_modifying_an_open_trade(
    change: dict[str, Any], code: str | None, after: tuple[str | None, ...] | None
) -> None:
    d = ready()
    trade = _open(d)
    before = d.engine.state_hash(include_idempotency=False)
    values = {k: (p(v) if isinstance(v, str) else v) for k, v in change.items()}
    answer = d.answer("ann", ModifyTrade(trade.trade_id, **values))
    if code is not None:
        assert answer.rejection is not None and answer.rejection.code.value == code
        assert d.engine.state_hash(include_idempotency=False) == before
        return
    assert answer.ok, answer.rejection
    view = answer.data.trade  # type: ignore[union-attr]
    shown = (view.stop_loss, view.take_profit, view.trailing_distance)
    assert after is not None and shown == tuple(None if v is None else p(v) for v in after)


def test_setting_a_stop_loss_removes_a_trailing_stop_and_back() -> None:
    d = ready()
    trade = _open(d)
    trailed = d.answer("ann", ModifyTrade(trade.trade_id, trailing_distance=p("2")))
    assert trailed.data.trade.stop_loss == p("98")  # type: ignore[union-attr]
    fixed = d.answer("ann", ModifyTrade(trade.trade_id, stop_loss=p("96")))
    view = fixed.data.trade  # type: ignore[union-attr]
    assert (view.stop_loss, view.trailing_distance) == (p("96"), None)
    assert tick(d, "97", "97.5") == []  # the trailing stop (98) is gone
    assert d.engine.books[BTC].trailing == 0


def test_a_modification_is_an_event() -> None:
    d = ready()
    trade = _open(d)
    outcome = d.run("ann", ModifyTrade(trade.trade_id, take_profit=p("120")))
    assert [e.kind for e in outcome.events] == [OrderEventKind.TRADE_MODIFIED]
    nothing = d.run("ann", ModifyTrade(trade.trade_id))
    assert nothing.events == [] and nothing.response is not None
    assert nothing.response.rejection is not None


def test_a_trade_that_is_not_there_is_not_found_before_nothing_to_change() -> None:
    """The gateway sends a bare modification for a trade it found nowhere: the engine's
    answer is the trade's absence, not the empty change."""
    d = ready()
    answer = d.answer("ann", ModifyTrade("0d9b8a7c-6e5f-4d3c-8b2a-1f0e9d8c7b6a"))
    assert answer.rejection is not None and answer.rejection.code.value == "TRADE_NOT_FOUND"


MODIFY_PENDING = [
    # a LONG LIMIT at 99 (quote 100 / 101) with stop loss 95, 10x
    ("new price", {"price": "98"}, None),
    ("price at the ask", {"price": "101"}, "INVALID_PRICE"),
    ("price under the kept sl", {"price": "95"}, "INVALID_STOP_LOSS"),
    ("price and sl", {"price": "95", "stop_loss": "94"}, None),
    ("expiry", {"expires_at_ms": 10**12}, None),
    ("no expiry", {"expires_at_ms": None}, None),
    ("expiry in the past", {"expires_at_ms": 5}, "INVALID_EXPIRY"),
    ("trail replaces sl", {"trailing_distance": "1"}, None),
    ("price removed", {"price": None}, "INVALID_PRICE"),
    ("nothing to change", {}, "INVALID_ARGUMENT"),
]


@pytest.mark.parametrize(
    ("change", "code"), [m[1:] for m in MODIFY_PENDING], ids=[m[0] for m in MODIFY_PENDING]
)
def test_modifying_a_pending_order(change: dict[str, Any], code: str | None) -> None:
    d = ready()
    body = PlaceOrder(BTC, LONG, OrderType.LIMIT, p("99"), usd("10"), 100, p("95"),
                      expires_at_ms=10**10)  # fmt: skip
    trade_id = d.answer("ann", body).data.trade.trade_id  # type: ignore[union-attr]
    before = d.engine.state_hash(include_idempotency=False)
    values = {k: (p(v) if isinstance(v, str) else v) for k, v in change.items()}
    outcome = d.run("ann", ModifyTrade(trade_id, **values))
    answer = outcome.response
    assert answer is not None
    if code is not None:
        assert answer.rejection is not None and answer.rejection.code.value == code
        assert d.engine.state_hash(include_idempotency=False) == before
        return
    assert answer.ok, answer.rejection
    assert [e.kind for e in outcome.events] == [OrderEventKind.ORDER_MODIFIED]
    view = answer.data.trade  # type: ignore[union-attr]
    if "price" in change:
        assert view.order_price == p(change["price"]) and view.entry_price == view.order_price
    if "expires_at_ms" in change:
        assert view.expires_at_ms == change["expires_at_ms"]
    fill = view.order_price or p("99")
    events = d.tick(BTC, fill - 1, fill)
    assert events[0].kind is EventKind.OPENED and events[0].trade.entry_price == fill
    retried = d.answer("ann", d.inputs[-2].body, order_id=answer.order_id)  # type: ignore[union-attr]
    assert retried == answer


def test_only_the_owner_can_change_a_trade() -> None:
    d = ready()
    trade = _open(d)
    d.account("bob")
    for body in (
        ModifyTrade(trade.trade_id, take_profit=p("120")),
        CloseTrade(trade.trade_id, Usd(1)),
    ):
        answer = d.answer("bob", body)
        assert answer.rejection is not None and answer.rejection.code.value == "TRADE_NOT_FOUND"
    assert ModifyTrade("x").stop_loss is KEEP


@pytest.mark.parametrize("native", [True, False])
def test_one_tick_settles_plain_trades_and_trailing_ones_together(native: bool) -> None:
    from engine_svc.core import Engine
    from tests.core.driver import ASSETS

    d = ready(Engine(ASSETS, native=native), bid="100", ask="100")
    plain = d.opened("ann", BTC, LONG, usd("10"), 1000)  # liquidation 99
    stopped = d.opened("ann", BTC, LONG, usd("10"), 100, p("95"))  # a plain stop loss
    body = CreateTrade(BTC, LONG, usd("10"), 1000, trailing_distance=p("0.5"))
    trailing = d.answer("ann", body).data.trade  # type: ignore[union-attr]
    d.answer("ann", CloseTrade(stopped.trade_id, usd("1")))  # partly closed: not plain now
    events = tick(d, "90", "90")
    assert {e.trade.trade_id: e.trade.status for e in events} == {
        plain.trade_id: TradeStatus.LIQUIDATED,
        stopped.trade_id: TradeStatus.STOP_LOSS,
        trailing.trade_id: TradeStatus.STOP_LOSS,
    }
    assert d.engine.trades == {} and d.engine.books[BTC].extended == 0
