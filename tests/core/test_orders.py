"""SPEC 3a scenarios, given / when / then: pending orders, their fills, expiry and rejection.

Prices are BTC_USDC's (4 decimals): `p("100")` is 100.0000.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine_svc.core import Engine
from engine_svc.core.model import TRANSITIONS, InvariantError, Position
from engine_svc.core.types import (
    INITIAL_USD_BALANCE,
    CancelOrder,
    CloseTrade,
    Direction,
    EventKind,
    GetAccount,
    GetPendingOrders,
    OrderEventKind,
    OrderStatus,
    OrderType,
    PlaceOrder,
    Price,
    Response,
    TradeEvent,
    TradeStatus,
)
from tests.core.driver import ASSETS, Driver, usd

BTC = "BTC_USDC"
LONG, SHORT = Direction.LONG, Direction.SHORT
LIMIT, STOP = OrderType.LIMIT, OrderType.STOP


def p(text: str) -> Price:
    whole, _, frac = text.partition(".")
    return Price(int(whole) * 10_000 + int((frac or "0").ljust(4, "0")))


def place(d: Driver, direction: Direction, kind: OrderType, price: str, **extra: Any) -> Response:
    levels = {k: (p(v) if isinstance(v, str) else v) for k, v in extra.items()}
    levels.setdefault("margin", usd("100"))
    levels.setdefault("leverage", 100)  # 10x
    return d.answer("ann", PlaceOrder(BTC, direction, kind, p(price), **levels))


def ready(engine: Engine | None = None, bid: str = "100", ask: str = "101") -> Driver:
    d = Driver(engine=engine or Engine(ASSETS))
    d.account("ann")
    d.tick(BTC, p(bid), p(ask))
    return d


def tick(d: Driver, bid: str, ask: str) -> list[TradeEvent]:
    return d.tick(BTC, p(bid), p(ask))


def kinds(events: list[TradeEvent]) -> list[Any]:
    return [e.kind for e in events]


# ---- fills ---------------------------------------------------------------------------------

FILLS = [
    # direction, type, price, ticks before the fill (none fills), the fill tick, entry
    ("long limit", LONG, LIMIT, "99", [("99.5", "100"), ("99", "99.0001")], ("98", "99"), "99"),
    ("long limit gap", LONG, LIMIT, "99", [], ("97", "97.5"), "97.5"),
    ("long stop", LONG, STOP, "103", [("101.5", "102.9999")], ("103", "103.5"), "103.5"),
    ("short limit", SHORT, LIMIT, "102", [("101.9999", "102.5")], ("102.5", "103"), "102.5"),
    ("short stop", SHORT, STOP, "98", [("98.0001", "99")], ("98", "98.5"), "98"),
    ("short stop gap", SHORT, STOP, "98", [], ("90", "90.5"), "90"),
]


@pytest.mark.parametrize(
    ("direction", "kind", "price", "before", "fill", "entry"),
    [f[1:] for f in FILLS],
    ids=[f[0] for f in FILLS],
)
def test_an_order_fills_on_the_first_tick_reaching_its_price_at_that_ticks_price(
    direction: Direction,
    kind: OrderType,
    price: str,
    before: list[tuple[str, str]],
    fill: tuple[str, str],
    entry: str,
) -> None:
    d = ready()
    placed = place(d, direction, kind, price)
    assert placed.ok, placed.rejection
    view = placed.data.trade  # type: ignore[union-attr]
    assert view.status is OrderStatus.PENDING and view.order_price == p(price)
    assert d.balance("ann") == INITIAL_USD_BALANCE - usd("100")  # reserved at once
    for bid, ask in before:
        assert tick(d, bid, ask) == []
    events = tick(d, *fill)
    assert kinds(events) == [EventKind.OPENED]
    opened = events[0].trade
    assert opened.trade_id == view.trade_id and opened.status is TradeStatus.OPEN
    assert opened.entry_price == p(entry) and opened.order_type is kind
    assert d.balance("ann") == INITIAL_USD_BALANCE - usd("100")  # reserved became used
    assert d.engine.pending == {} and view.trade_id in d.engine.trades


PLACEMENT_PRICES = [
    # quote is bid 100 / ask 101
    (LONG, LIMIT, "101", False),
    (LONG, LIMIT, "100.9999", True),
    (LONG, STOP, "101", False),
    (LONG, STOP, "101.0001", True),
    (SHORT, LIMIT, "100", False),
    (SHORT, LIMIT, "100.0001", True),
    (SHORT, STOP, "100", False),
    (SHORT, STOP, "99.9999", True),
]


@pytest.mark.parametrize(("direction", "kind", "price", "ok"), PLACEMENT_PRICES)
def test_an_order_price_must_wait_for_the_market(
    direction: Direction, kind: OrderType, price: str, ok: bool
) -> None:
    d = ready()
    before = d.engine.state_hash(include_idempotency=False)
    answer = place(d, direction, kind, price)
    assert answer.ok is ok
    if not ok:
        assert answer.rejection is not None and answer.rejection.code.value == "INVALID_PRICE"
        assert d.engine.state_hash(include_idempotency=False) == before


def test_orders_crossing_on_one_tick_fill_in_placement_order() -> None:
    d = ready()
    ids = [place(d, LONG, LIMIT, price).data.trade.trade_id for price in ("97", "99", "98")]  # type: ignore[union-attr]
    events = tick(d, "95", "96")
    assert [e.trade.trade_id for e in events] == ids


# ---- levels at the fill ------------------------------------------------------------------

GAPS = [
    # direction, type, price, levels, fill tick, events and the exit price
    ("long stop through its stop loss", LONG, STOP, "103", {"stop_loss": "102"}, ("101", "104"),
     [EventKind.OPENED, EventKind.STOP_LOSS], "101"),
    ("long stop onto its take profit", LONG, STOP, "103", {"take_profit": "104"}, ("104", "104"),
     [EventKind.OPENED, EventKind.TAKE_PROFIT], "104"),
    ("short stop through its stop loss", SHORT, STOP, "98", {"stop_loss": "99"}, ("97", "99.5"),
     [EventKind.OPENED, EventKind.STOP_LOSS], "99.5"),
    ("short stop through its take profit", SHORT, STOP, "98", {"take_profit": "97"},
     ("96", "96.5"), [EventKind.OPENED, EventKind.TAKE_PROFIT], "96.5"),
    ("long stop short of its levels", LONG, STOP, "103",
     {"stop_loss": "102", "take_profit": "110"}, ("103", "103.5"), [EventKind.OPENED], None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("direction", "kind", "price", "levels", "fill", "expected", "exit_price"),
    [g[1:] for g in GAPS],
    ids=[g[0] for g in GAPS],
)
def test_a_fill_whose_close_side_price_meets_a_level_closes_on_that_tick(
    direction: Direction,
    kind: OrderType,
    price: str,
    levels: dict[str, str],
    fill: tuple[str, str],
    expected: list[EventKind],
    exit_price: str | None,
) -> None:
    d = ready()
    assert place(d, direction, kind, price, **levels).ok
    events = tick(d, *fill)
    assert kinds(events) == expected
    if exit_price is not None:
        closed = events[-1].trade
        assert closed.exit_price == p(exit_price)
        assert d.balance("ann") == INITIAL_USD_BALANCE - usd("100") + closed.total_return


def test_liquidation_comes_first_only_when_it_is_first_on_the_path() -> None:
    """A stop loss checked against the order's price can lie past the liquidation price the
    fill's entry gives: then liquidation is what a fall reaches first."""
    d = ready()
    assert place(d, LONG, STOP, "103", stop_loss="100").ok  # liq(103) = 92.7 at 10x
    opened = tick(d, "110", "120")  # entry 120: liquidation 108, above the stop loss
    assert kinds(opened) == [EventKind.OPENED]
    assert opened[0].trade.liquidation_price == p("108")
    assert [e.trade.status for e in tick(d, "105", "106")] == [TradeStatus.LIQUIDATED]


# ---- rejection at the fill ----------------------------------------------------------------


def test_a_fill_beyond_the_open_trade_cap_is_rejected_and_its_margin_returned() -> None:
    d = ready(Engine(ASSETS, max_open_trades_per_user=1))
    assert d.open("ann", BTC, LONG, usd("10")).ok
    assert place(d, LONG, LIMIT, "99").ok
    events = tick(d, "98", "99")
    assert kinds(events) == [OrderEventKind.ORDER_REJECTED]
    view = events[0].trade
    assert view.status is OrderStatus.REJECTED and view.reason is not None
    assert view.reason.code.value == "TOO_MANY_OPEN_TRADES"
    assert d.balance("ann") == INITIAL_USD_BALANCE - usd("10")


def test_a_fill_whose_close_side_is_past_its_liquidation_price_is_rejected() -> None:
    d = ready()
    assert place(d, LONG, STOP, "103", leverage=1000).ok  # liq(103) = 101.97
    events = tick(d, "100", "104")  # entry 104: liquidation 102.96, bid 100 is past it
    assert kinds(events) == [OrderEventKind.ORDER_REJECTED]
    assert events[0].trade.reason.code.value == "INVALID_LEVERAGE"  # type: ignore[union-attr]
    assert d.balance("ann") == INITIAL_USD_BALANCE and d.engine.trades == {}


# ---- expiry -------------------------------------------------------------------------------


def test_an_order_expires_on_the_clock_and_never_fills_on_the_input_that_expires_it() -> None:
    d = ready()
    expires = d.ts_ms + 3
    assert place(d, LONG, LIMIT, "99", expires_at_ms=expires).ok  # at ts + 1
    assert tick(d, "99.5", "100") == []  # ts + 2
    events = tick(d, "90", "91")  # ts + 3 = its expiry, and a price that would fill it
    assert kinds(events) == [OrderEventKind.ORDER_EXPIRED]
    assert events[0].trade.status is OrderStatus.EXPIRED
    assert d.balance("ann") == INITIAL_USD_BALANCE and d.engine.next_expiry == 2**63 - 1


def test_a_command_past_an_expiry_expires_the_order_first() -> None:
    d = ready()
    placed = place(d, LONG, LIMIT, "99", expires_at_ms=d.ts_ms + 2)
    trade_id = placed.data.trade.trade_id  # type: ignore[union-attr]
    outcome = d.run("ann", CancelOrder(trade_id))
    assert kinds(outcome.events) == [OrderEventKind.ORDER_EXPIRED]
    assert outcome.response is not None and outcome.response.rejection is not None
    assert outcome.response.rejection.code.value == "TRADE_NOT_FOUND"


@pytest.mark.parametrize("ahead", [-5, 0, 1])
def test_an_expiry_must_be_later_than_the_clock_and_the_command(ahead: int) -> None:
    d = ready()
    answer = place(d, LONG, LIMIT, "99", expires_at_ms=d.ts_ms + 1 + ahead)
    assert answer.ok is (ahead > 0)
    if ahead <= 0:
        assert answer.rejection.code.value == "INVALID_EXPIRY"  # type: ignore[union-attr]


# ---- cancel, caps, balance ---------------------------------------------------------------


def test_cancel_returns_the_margin_and_only_a_pending_order_can_be_cancelled() -> None:
    d = ready()
    trade_id = place(d, SHORT, LIMIT, "105").data.trade.trade_id  # type: ignore[union-attr]
    assert d.answer("ann", GetAccount()).data.reserved_margin == usd("100")  # type: ignore[union-attr]
    closed = d.answer("ann", CloseTrade(trade_id))
    assert closed.rejection is not None and closed.rejection.code.value == "NOT_OPEN"
    cancelled = d.answer("ann", CancelOrder(trade_id))
    assert cancelled.ok and cancelled.data.margin_returned == usd("100")  # type: ignore[union-attr]
    assert cancelled.data.trade.status is OrderStatus.CANCELLED  # type: ignore[union-attr]
    assert d.balance("ann") == INITIAL_USD_BALANCE
    again = d.answer("ann", CancelOrder(trade_id))
    assert again.rejection is not None and again.rejection.code.value == "TRADE_NOT_FOUND"
    opened = d.opened("ann", BTC, LONG, usd("10"))
    other = d.answer("ann", CancelOrder(opened.trade_id))
    assert other.rejection is not None and other.rejection.code.value == "NOT_PENDING"


def test_pending_orders_have_their_own_cap_and_need_free_balance() -> None:
    d = ready(Engine(ASSETS, max_pending_orders_per_user=2))
    assert place(d, LONG, LIMIT, "99").ok and place(d, LONG, LIMIT, "98").ok
    capped = place(d, LONG, LIMIT, "97")
    assert capped.rejection is not None
    assert capped.rejection.code.value == "TOO_MANY_PENDING_ORDERS"
    d2 = ready()
    poor = place(d2, LONG, LIMIT, "99", margin=INITIAL_USD_BALANCE + 1)
    assert poor.rejection is not None and poor.rejection.code.value == "INSUFFICIENT_BALANCE"
    listed = d.answer("ann", GetPendingOrders()).data.trades  # type: ignore[union-attr]
    assert [v.order_price for v in listed] == [p("99"), p("98")]


PLACED_LEVELS = [
    # checked against the order's price and the liquidation price it gives (10x: 0.9 * price)
    ("sl below the price", LONG, LIMIT, "99", {"stop_loss": "95"}, None),
    ("sl above the price", LONG, LIMIT, "99", {"stop_loss": "99.5"}, "INVALID_STOP_LOSS"),
    ("sl past liquidation", LONG, LIMIT, "99", {"stop_loss": "89"}, "INVALID_STOP_LOSS"),
    ("tp below the price", LONG, STOP, "105", {"take_profit": "104"}, "INVALID_TAKE_PROFIT"),
    ("short tp", SHORT, LIMIT, "110", {"take_profit": "105"}, None),
    ("short sl below", SHORT, LIMIT, "110", {"stop_loss": "109"}, "INVALID_STOP_LOSS"),
    ("trailing in room", LONG, LIMIT, "99", {"trailing_distance": "9.8999"}, None),
    ("trailing too far", LONG, LIMIT, "99", {"trailing_distance": "9.9"}, "INVALID_TRAILING_STOP"),
    ("trailing and sl", LONG, LIMIT, "99", {"stop_loss": "95", "trailing_distance": "1"},
     "INVALID_TRAILING_STOP"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("direction", "kind", "price", "levels", "code"),
    [c[1:] for c in PLACED_LEVELS],
    ids=[c[0] for c in PLACED_LEVELS],
)
def test_levels_given_with_an_order_are_checked_against_its_price(
    direction: Direction, kind: OrderType, price: str, levels: dict[str, str], code: str | None
) -> None:
    d = ready()
    before = d.engine.state_hash(include_idempotency=False)
    answer = place(d, direction, kind, price, **levels)
    if code is None:
        assert answer.ok, answer.rejection
    else:
        assert answer.rejection is not None and answer.rejection.code.value == code
        assert d.engine.state_hash(include_idempotency=False) == before


def test_a_retried_order_command_gets_its_first_answer_back() -> None:
    d = ready()
    first = place(d, LONG, LIMIT, "99", trailing_distance="1", expires_at_ms=10**9)
    body = d.inputs[-1].body  # type: ignore[union-attr]
    again = d.answer("ann", body, order_id=first.order_id)
    assert again == first
    trade_id = first.data.trade.trade_id  # type: ignore[union-attr]
    cancelled = d.answer("ann", CancelOrder(trade_id), order_id="c")
    assert d.answer("ann", CancelOrder(trade_id), order_id="c") == cancelled


# ---- the lifecycle table ------------------------------------------------------------------


def test_the_lifecycle_table() -> None:
    ends = {OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
    closes = {
        TradeStatus.CLOSED,
        TradeStatus.LIQUIDATED,
        TradeStatus.STOP_LOSS,
        TradeStatus.TAKE_PROFIT,
    }
    assert TRANSITIONS[OrderStatus.PENDING] == ends | {TradeStatus.OPEN}
    assert TRANSITIONS[TradeStatus.OPEN] == closes
    assert all(TRANSITIONS[status] == frozenset() for status in ends | closes)


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (OrderStatus.PENDING, TradeStatus.CLOSED),
        (TradeStatus.OPEN, OrderStatus.CANCELLED),
        (TradeStatus.OPEN, TradeStatus.OPEN),
        (OrderStatus.CANCELLED, TradeStatus.OPEN),
        (TradeStatus.CLOSED, TradeStatus.OPEN),
    ],
)
def test_a_transition_not_in_the_table_is_an_invariant_error(start: Any, to: Any) -> None:
    d = ready()
    pos = Position(
        1, "t", d.engine.accounts["ann"], BTC, True, 1, 10, 1, None, None, None, 0, None, start
    )
    with pytest.raises(InvariantError):
        pos.finish(to)
