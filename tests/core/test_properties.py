"""Invariants over random command and price streams (hypothesis).

The test keeps its own model of open trades, built from events and SPEC section 4 only, and
checks the engine against it after every input: balances, money conservation, and that each
tick closes exactly the positions a brute-force scan says it crossed, with the right status,
price and PnL. At the end, a replay and a snapshot round trip must give the same state hash.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine_svc.core import Engine
from engine_svc.core.types import (
    INITIAL_USD_BALANCE,
    CloseTrade,
    Command,
    CreateAccount,
    CreateTrade,
    Direction,
    EventKind,
    GetAccount,
    GetOpenTrades,
    Outcome,
    Price,
    Tick,
    TradeEvent,
    TradeStatus,
    TradeView,
    Usd,
)
from tests.core.driver import ASSETS, examples, replay

USERS = ("ann", "bob", "cy")
MAX_OPEN = 20
ACTORS = st.sampled_from([*USERS, *USERS, "dan"])  # dan never gets an account
ASSET_NAMES = tuple(ASSETS)

ticks = st.tuples(
    st.just("tick"),
    st.sampled_from(ASSET_NAMES),
    st.one_of(st.integers(-20_000, 20_000), st.integers(-400_000, 400_000)),  # move, ppm
    st.sampled_from([0, 0, 100, 5_000, 30_000]),  # spread, ppm
)
# Stop loss and take profit as a distance in ppm from the close-side price, on the side where
# they belong when positive (mostly), on the wrong side when negative.
levels = st.one_of(st.none(), st.integers(1, 300_000), st.integers(-50_000, 600_000))
opens = st.tuples(
    st.just("open"),
    ACTORS,
    st.sampled_from(ASSET_NAMES),
    st.booleans(),
    st.one_of(st.integers(1, 2_000_000), st.integers(-5, 60_000_000)),  # margin
    st.one_of(st.sampled_from([10, 20, 50, 100, 250, 500, 1000]), st.integers(0, 1100)),
    levels,
    levels,
)
steps = st.one_of(
    opens,
    ticks,
    opens,
    ticks,
    opens,
    st.tuples(st.just("close"), ACTORS, st.integers(0, 10**6)),
    st.tuples(st.just("close"), ACTORS, st.integers(0, 10**6)),
    st.tuples(st.just("account"), ACTORS),
    st.tuples(st.just("repeat"), st.integers(0, 10**6)),
    st.tuples(st.just("query"), ACTORS),
)
streams = st.tuples(
    st.sampled_from([0, 0, 5_000, 100_000]),  # maintenance margin, ppm
    st.fixed_dictionaries({a: st.integers(1_000, 10**10) for a in ASSET_NAMES}),  # start mids
    st.lists(steps, min_size=5, max_size=80),
)


def expected_status(trade: TradeView, bid: int, ask: int) -> TradeStatus | None:
    """SPEC section 4, by brute force: what this tick does to this open trade."""
    sl, tp, liq = trade.stop_loss, trade.take_profit, trade.liquidation_price
    if trade.direction is Direction.LONG:
        if sl is not None and bid <= sl:
            return TradeStatus.STOP_LOSS
        if liq is not None and bid <= liq:
            return TradeStatus.LIQUIDATED
        if tp is not None and bid >= tp:
            return TradeStatus.TAKE_PROFIT
        return None
    if sl is not None and ask >= sl:
        return TradeStatus.STOP_LOSS
    if liq is not None and ask >= liq:
        return TradeStatus.LIQUIDATED
    if tp is not None and ask <= tp:
        return TradeStatus.TAKE_PROFIT
    return None


def oracle_pnl(trade: TradeView, price: int) -> int:
    notional = Fraction(trade.margin * trade.leverage, 10)
    move = price - trade.entry_price
    if trade.direction is Direction.SHORT:
        move = -move
    return max(math.floor(notional * move / trade.entry_price), -trade.margin)


@dataclass
class Model:
    engine: Engine
    mids: dict[str, int]
    quotes: dict[str, tuple[int, int]] = field(default_factory=dict)
    balances: dict[str, int] = field(default_factory=dict)
    realized: dict[str, int] = field(default_factory=dict)
    open: dict[str, TradeView] = field(default_factory=dict)
    known_ids: list[str] = field(default_factory=list)
    inputs: list[Command | Tick] = field(default_factory=list)
    sent: list[Command] = field(default_factory=list)
    clock: int = 0

    def command(self, user: str, body: Any, order_id: str | None = None) -> Outcome:
        self.clock += 1
        command = Command(order_id or f"o{self.clock}", user, f"{user}@x", self.clock, body)
        return self.send(command)

    def send(self, command: Command) -> Outcome:
        self.inputs.append(command)
        if Engine.is_mutating(command):
            self.sent.append(command)
        outcome = self.engine.execute(command)
        for event in outcome.events:
            self.apply_event(event)
        return outcome

    def apply_event(self, event: TradeEvent) -> None:
        trade = event.trade
        user = trade.user_id
        if event.kind is EventKind.OPENED:
            self.balances[user] -= trade.margin
            self.open[trade.trade_id] = trade
            self.known_ids.append(trade.trade_id)
            return
        opened = self.open.pop(trade.trade_id)
        assert trade.exit_price is not None and trade.total_return is not None
        assert trade.pnl == oracle_pnl(opened, trade.exit_price)
        assert trade.total_return == trade.margin + trade.pnl >= 0
        self.balances[user] += trade.total_return
        self.realized[user] += trade.total_return - trade.margin

    def tick(self, asset: str, move_ppm: int, spread_ppm: int) -> None:
        mid = max(2, self.mids[asset] * (1_000_000 + move_ppm) // 1_000_000)
        self.mids[asset] = mid
        half = mid * spread_ppm // 2_000_000
        bid, ask = max(1, mid - half), mid + half
        self.clock += 1
        tick = Tick(asset, Price(bid), Price(ask), self.clock * 1000)
        expected = {
            trade_id: status
            for trade_id, trade in self.open.items()
            if trade.asset == asset and (status := expected_status(trade, bid, ask)) is not None
        }
        self.inputs.append(tick)
        events = self.engine.apply_tick(tick)
        assert {e.trade.trade_id: e.trade.status for e in events} == expected
        for event in events:
            assert event.kind.value == event.trade.status.value and event.order_id == ""
            assert event.trade.exit_price == (
                bid if event.trade.direction is Direction.LONG else ask
            )
            self.apply_event(event)
        self.quotes[asset] = (bid, ask)

    def check(self) -> None:
        engine = self.engine
        assert set(engine.trades) == set(self.open)
        for user, account in engine.accounts.items():
            margins = sum(t.margin for t in self.open.values() if t.user_id == user)
            assert account.balance >= 0
            assert account.balance == self.balances[user]
            assert account.balance + margins == INITIAL_USD_BALANCE + self.realized[user]
        entries = sum(
            (t.take_profit is not None)
            + (t.stop_loss is not None or t.liquidation_price is not None)
            for t in self.open.values()
        )
        assert sum(len(index) for index in engine.triggers.values()) == entries


def run_step(model: Model, step: tuple[Any, ...]) -> None:
    kind = step[0]
    if kind == "tick":
        model.tick(*step[1:])
    elif kind == "account":
        outcome = model.command(step[1], CreateAccount())
        if outcome.response is not None and outcome.response.ok:
            model.balances[step[1]] = INITIAL_USD_BALANCE
            model.realized[step[1]] = 0
    elif kind == "open":
        _, user, asset, is_long, margin, leverage, sl_ppm, tp_ppm = step
        mark = model.quotes.get(asset, (model.mids[asset],) * 2)[0 if is_long else 1]

        def level(ppm: int | None, below: bool) -> Price | None:
            if ppm is None:
                return None
            return Price(mark * (1_000_000 + (-ppm if below else ppm)) // 1_000_000)

        direction = Direction.LONG if is_long else Direction.SHORT
        body = CreateTrade(
            asset,
            direction,
            Usd(margin),
            leverage,
            level(sl_ppm, below=is_long),
            level(tp_ppm, below=not is_long),
        )
        model.command(user, body)
    elif kind == "close":
        _, user, pick = step
        trade_id = model.known_ids[pick % len(model.known_ids)] if model.known_ids else "none"
        model.command(user, CloseTrade(trade_id))
    elif kind == "repeat" and model.sent:
        first = model.sent[step[1] % len(model.sent)]
        before = model.engine.state_hash()
        outcome = model.send(first)
        assert outcome.events == [] and model.engine.state_hash() == before
    elif kind == "query":
        model.command(step[1], GetOpenTrades())
        model.command(step[1], GetAccount())


@settings(
    max_examples=examples(60, 3_000), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(streams)
def test_random_streams_keep_every_invariant(stream: tuple[int, dict[str, int], list[Any]]) -> None:
    ppm, mids, script = stream
    model = Model(
        Engine(ASSETS, maintenance_margin_ppm=ppm, max_open_trades_per_user=MAX_OPEN), mids
    )
    for user in USERS:
        run_step(model, ("account", user))
    run_step(model, ("tick", "BTC_USDC", 0, 100))
    run_step(model, ("tick", "SOL_USDC", 0, 0))  # ETH waits for its first tick in the script
    for step in script:
        run_step(model, step)
        model.check()
    final = model.engine.state_hash()
    fresh = Engine(ASSETS, maintenance_margin_ppm=ppm, max_open_trades_per_user=MAX_OPEN)
    assert replay(model.inputs, fresh).state_hash() == final
    snapshot = json.loads(json.dumps(model.engine.snapshot()))
    restored = Engine.restore(
        snapshot, ASSETS, maintenance_margin_ppm=ppm, max_open_trades_per_user=MAX_OPEN
    )
    assert restored.state_hash() == final


def seeded_script(seed: int, length: int) -> list[tuple[Any, ...]]:
    """A long, dense stream from one seed: many trades open, most levels valid, real gaps."""
    rng = random.Random(seed)
    script: list[tuple[Any, ...]] = []
    for _ in range(length):
        roll = rng.random()
        if roll < 0.35:
            move = (
                rng.randint(-400_000, 400_000)
                if rng.random() < 0.05
                else rng.randint(-15_000, 15_000)
            )
            script.append(("tick", rng.choice(ASSET_NAMES), move, rng.choice((0, 0, 100, 2_000))))
        elif roll < 0.75:

            def lvl() -> int | None:
                return None if rng.random() < 0.4 else rng.randint(-20_000, 150_000)

            script.append(
                (
                    "open",
                    rng.choice(USERS),
                    rng.choice(ASSET_NAMES),
                    rng.random() < 0.5,
                    rng.randint(1, 3_000_000),
                    rng.choice((10, 20, 50, 100, 250, 500, 1000)),
                    lvl(),
                    lvl(),
                )
            )
        elif roll < 0.9:
            script.append(("close", rng.choice(USERS), rng.randrange(10**6)))
        elif roll < 0.95:
            script.append(("repeat", rng.randrange(10**6)))
        else:
            script.append(("query", rng.choice(USERS)))
    return script


@settings(max_examples=examples(8, 300), deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([0, 5_000]))
def test_long_seeded_streams_keep_every_invariant(seed: int, ppm: int) -> None:
    test_random_streams_keep_every_invariant.hypothesis.inner_test(  # type: ignore[attr-defined]
        (
            ppm,
            {"BTC_USDC": 650_000_000, "ETH_USDC": 3_400_000_000, "SOL_USDC": 236_000_000},
            seeded_script(seed, 400),
        )
    )
