"""Invariants over random streams with the whole toolset (hypothesis): pending orders, cancel,
modify, partial close, trailing stops, expiry, beside market trades and ticks.

After every input: no negative balance; free balance + open margins + reserved margins =
credits + realized results; every sorted structure (levels, order books, trailing groups,
expiries) holds exactly what a brute-force scan of the positions says. On every tick, what
happens to each trade is what a brute-force scan of SPEC 3a and 4 expects, with trailing
extremes the model follows itself. At the end, a replay, a snapshot round trip and a restore
in the middle followed by the rest of the inputs all give the same state hash.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine_svc.core import Engine
from engine_svc.core.book import fills
from engine_svc.core.model import Position, loss_level
from engine_svc.core.money import liquidation_price
from engine_svc.core.types import (
    INITIAL_USD_BALANCE,
    KEEP,
    CancelOrder,
    CloseTrade,
    Command,
    CreateAccount,
    CreateTrade,
    Direction,
    EventKind,
    GetAccount,
    GetOpenTrades,
    GetPendingOrders,
    ModifyTrade,
    OrderEventKind,
    OrderType,
    PlaceOrder,
    Price,
    Tick,
    TradeEvent,
    Usd,
)
from tests.core.driver import ASSETS, examples, replay
from tests.core.test_properties import oracle_pnl

USERS = ("ann", "bob")
MAX_OPEN, MAX_PENDING = 6, 5
ASSET_NAMES = tuple(ASSETS)
ACTORS = st.sampled_from([*USERS, *USERS, "dan"])
PPM = 1_000_000

# Levels and distances in ppm of a reference price, mostly where they belong (small and
# positive), sometimes on the wrong side or too far.
ppms = st.one_of(st.none(), st.none(), st.integers(1, 60_000), st.integers(-30_000, 400_000))
trails = st.one_of(st.none(), st.integers(1, 30_000), st.integers(-1_000, 300_000))
changes = st.one_of(
    st.none(), st.just("remove"), st.integers(1, 50_000), st.integers(-30_000, 300_000)
)
ticks = st.tuples(
    st.just("tick"),
    st.sampled_from(ASSET_NAMES),
    st.one_of(st.integers(-20_000, 20_000), st.integers(-300_000, 300_000)),
    st.sampled_from([0, 100, 5_000, 30_000]),
    st.sampled_from([1, 1, 5, 50]),
)
places = st.tuples(
    st.just("place"),
    ACTORS,
    st.sampled_from(ASSET_NAMES),
    st.booleans(),
    st.booleans(),
    st.one_of(st.integers(1, 25_000), st.integers(-20_000, 150_000)),
    st.integers(1, 3_000_000),
    st.sampled_from([10, 50, 100, 500, 1000]),
    ppms,
    ppms,
    trails,
    st.one_of(st.none(), st.integers(-3, 40)),
)
steps = st.one_of(
    ticks, places, ticks, places, ticks,
    st.tuples(
        st.just("open"), ACTORS, st.sampled_from(ASSET_NAMES), st.booleans(),
        st.integers(1, 3_000_000), st.sampled_from([10, 50, 100, 500, 1000]), ppms, ppms, trails,
    ),
    st.tuples(st.just("cancel"), ACTORS, st.integers(0, 10**6)),
    st.tuples(st.just("modify"), ACTORS, st.integers(0, 10**6), changes, changes, changes,
              st.one_of(st.none(), st.integers(1, 25_000), st.integers(-20_000, 150_000)),
              st.one_of(st.none(), st.just("remove"), st.integers(-3, 40))),
    st.tuples(st.just("modify"), ACTORS, st.integers(0, 10**6), st.none(), st.none(),
              trails, st.none(), st.none()),
    st.tuples(st.just("close"), ACTORS, st.integers(0, 10**6),
              st.one_of(st.none(), st.integers(-10, 1_100_000))),
    st.tuples(st.just("repeat"), st.integers(0, 10**6)),
    st.tuples(st.just("query"), ACTORS),
)  # fmt: skip
streams = st.tuples(
    st.sampled_from([0, 5_000]),
    st.fixed_dictionaries({a: st.integers(1_000, 10**10) for a in ASSET_NAMES}),
    st.lists(steps, min_size=5, max_size=100),
)

_CLOSE_KINDS = {EventKind.CLOSED, EventKind.LIQUIDATED, EventKind.STOP_LOSS,
                EventKind.TAKE_PROFIT}  # fmt: skip


@dataclass
class Model:
    engine: Engine
    mids: dict[str, int]
    realized: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    extremes: dict[int, int] = field(default_factory=dict)
    """pos_id -> the model's own running max bid (LONG) / min ask (SHORT) of a trailing stop."""
    known: list[str] = field(default_factory=list)
    inputs: list[Command | Tick] = field(default_factory=list)
    sent: list[Command] = field(default_factory=list)
    clock: int = 0

    def quote(self, asset: str) -> tuple[int, int]:
        return self.engine.prices.get(asset) or (self.mids[asset], self.mids[asset])

    def send(self, command: Command) -> list[TradeEvent]:
        self.inputs.append(command)
        if Engine.is_mutating(command):
            self.sent.append(command)
        outcome = self.engine.execute(command)
        self.account_for(outcome.events)
        for event in outcome.events:
            view = event.trade
            if event.kind in (EventKind.OPENED, OrderEventKind.ORDER_PLACED):
                self.known.append(view.trade_id)
            pos = self.engine.trades.get(view.trade_id)
            restarted = isinstance(command.body, CreateTrade) or (
                isinstance(command.body, ModifyTrade)
                and (
                    command.body.trailing_distance is not KEEP
                    or command.body.stop_loss not in (KEEP, None)
                )
            )
            if pos is not None and pos in self.engine.positions.values() and restarted:
                self._restart(pos, *self.engine.prices[pos.asset])
        return outcome.events

    def _restart(self, pos: Position, bid: int, ask: int) -> None:
        self.extremes.pop(pos.pos_id, None)
        if pos.ext is not None and pos.ext.trailing is not None:
            self.extremes[pos.pos_id] = bid if pos.is_long else ask

    def command(self, user: str, body: Any) -> list[TradeEvent]:
        self.clock += 1
        return self.send(Command(f"o{self.clock}", user, f"{user}@x", self.clock, body))

    def account_for(self, events: list[TradeEvent]) -> None:
        for event in events:
            view = event.trade
            if event.kind in _CLOSE_KINDS or event.kind is OrderEventKind.TRADE_PARTIALLY_CLOSED:
                assert view.exit_price is not None and view.pnl is not None
                assert view.pnl == oracle_pnl(view, view.exit_price)
                self.realized[view.user_id] += view.pnl

    def tick(self, asset: str, move: int, spread: int, jump: int) -> None:
        mid = max(2, self.mids[asset] * (PPM + move) // PPM)
        self.mids[asset] = mid
        half = mid * spread // (2 * PPM)
        bid, ask = max(1, mid - half), mid + half
        self.clock += jump
        expected = self.expect(asset, bid, ask, self.clock)
        tick = Tick(asset, Price(bid), Price(ask), self.clock * 1000)
        self.inputs.append(tick)
        events = self.engine.apply_tick(tick)
        got: dict[str, list[Any]] = defaultdict(list)
        for event in events:
            got[event.trade.trade_id].append(event.kind)
        assert dict(got) == expected
        self.account_for(events)
        for event in events:
            pos = self.engine.positions.get(self.engine.trades[event.trade.trade_id].pos_id) if (
                event.trade.trade_id in self.engine.trades) else None  # fmt: skip
            if event.kind is EventKind.OPENED and pos is not None:
                self._restart(pos, bid, ask)
        live = self.engine.positions
        self.extremes = {k: v for k, v in self.extremes.items() if k in live}

    def expect(self, asset: str, bid: int, ask: int, clock: int) -> dict[str, list[Any]]:
        """SPEC 3a and 4 by brute force over every position and order."""
        engine = self.engine
        out: dict[str, list[Any]] = {}
        for pos in engine.pending.values():
            expires = pos.ext.expires_at_ms  # type: ignore[union-attr]
            if expires is not None and expires <= clock:
                out[pos.trade_id] = [OrderEventKind.ORDER_EXPIRED]
        open_count = {user: len(a.open) for user, a in engine.accounts.items()}
        for pos in engine.positions.values():
            if pos.asset != asset:
                continue
            price = bid if pos.is_long else ask
            if pos.pos_id in self.extremes:
                old = self.extremes[pos.pos_id]
                self.extremes[pos.pos_id] = max(old, bid) if pos.is_long else min(old, ask)
            status = self.crossed(pos, price)
            if status is not None:
                out[pos.trade_id] = [status]
                open_count[pos.account.user_id] -= 1
        for pos in sorted(engine.pending.values(), key=lambda p: p.pos_id):
            if pos.asset != asset or pos.trade_id in out or not fills(pos, bid, ask):
                continue
            entry, mark = (ask, bid) if pos.is_long else (bid, ask)
            user = pos.account.user_id
            liq = liquidation_price(pos.is_long, entry, pos.leverage, engine.maintenance_margin_ppm)
            if open_count[user] >= MAX_OPEN or (
                liq is not None
                and (liq > 2**63 - 1 or (mark <= liq if pos.is_long else mark >= liq))
            ):
                out[pos.trade_id] = [OrderEventKind.ORDER_REJECTED]
                continue
            kinds: list[Any] = [EventKind.OPENED]
            level = loss_level(pos.is_long, pos.stop_loss, liq)
            tp = pos.take_profit
            if level is not None and (mark <= level if pos.is_long else mark >= level):
                kinds.append(EventKind.STOP_LOSS)
            elif tp is not None and (mark >= tp if pos.is_long else mark <= tp):
                kinds.append(EventKind.TAKE_PROFIT)
            else:
                open_count[user] += 1
            out[pos.trade_id] = kinds
        return out

    def crossed(self, pos: Position, price: int) -> Any:
        sign = 1 if pos.is_long else -1
        losses = []
        if pos.stop_loss is not None and sign * price <= sign * pos.stop_loss:
            losses.append((sign * pos.stop_loss, 1, EventKind.STOP_LOSS))
        if pos.pos_id in self.extremes:
            stop = self.extremes[pos.pos_id] - sign * pos.ext.trailing  # type: ignore[union-attr,operator]
            if sign * price <= sign * stop:
                losses.append((sign * stop, 1, EventKind.STOP_LOSS))
        if pos.liquidation is not None and sign * price <= sign * pos.liquidation:
            losses.append((sign * pos.liquidation, 0, EventKind.LIQUIDATED))
        if losses:
            return max(losses)[2]  # the first on the way down (up): a tie is the stop
        if pos.take_profit is not None and sign * price >= sign * pos.take_profit:
            return EventKind.TAKE_PROFIT
        return None

    def check(self) -> None:
        engine = self.engine
        for user, account in engine.accounts.items():
            used = sum(p.margin for p in account.open.values())
            reserved = sum(p.margin for p in account.pending.values())
            assert account.balance >= 0
            assert account.balance + used + reserved == INITIAL_USD_BALANCE + self.realized[user]
        assert set(engine.trades) == {p.trade_id for p in engine.positions.values()} | {
            p.trade_id for p in engine.pending.values()
        }
        expiries = sorted(
            (p.ext.expires_at_ms, p.pos_id)  # type: ignore[union-attr]
            for p in engine.pending.values()
            if p.ext.expires_at_ms is not None  # type: ignore[union-attr]
        )
        assert engine.expiries.pairs() == expiries
        assert engine.next_expiry == (expiries[0][0] if expiries else 2**63 - 1)
        for asset in ASSET_NAMES:
            self.check_asset(asset)

    def check_asset(self, asset: str) -> None:
        engine = self.engine
        index, book = engine.triggers[asset], engine.books[asset]
        mine = [p for p in engine.positions.values() if p.asset == asset]
        for is_long, losses, profits in (
            (True, index.long_loss, index.long_profit),
            (False, index.short_loss, index.short_profit),
        ):
            side = [p for p in mine if p.is_long is is_long]
            for p in side:
                assert p.loss_level == loss_level(is_long, p.stop_loss, p.liquidation)
            assert losses.pairs() == sorted(
                (p.loss_level, p.pos_id) for p in side if p.loss_level is not None
            )
            assert profits.pairs() == sorted(
                (p.take_profit, p.pos_id) for p in side if p.take_profit is not None
            )
            trails = book.long_trail if is_long else book.short_trail
            sign = 1 if is_long else -1
            assert trails.entries() == sorted(
                (self.extremes[p.pos_id] - sign * p.ext.trailing, p.pos_id)  # type: ignore[union-attr,operator]
                for p in side
                if p.ext is not None and p.ext.trailing is not None
            )
        assert book.trailing == sum(1 for p in mine if p.ext is not None and p.ext.trailing)
        assert book.extended == sum(1 for p in mine if p.ext is not None)
        pending = [p for p in engine.pending.values() if p.asset == asset]
        for lst, is_long, kind in (
            (book.long_limit, True, OrderType.LIMIT),
            (book.long_stop, True, OrderType.STOP),
            (book.short_limit, False, OrderType.LIMIT),
            (book.short_stop, False, OrderType.STOP),
        ):
            assert lst.pairs() == sorted(
                (p.ext.order_price, p.pos_id)  # type: ignore[union-attr]
                for p in pending
                if p.is_long is is_long and p.ext.order_type is kind  # type: ignore[union-attr]
            )
        assert book.orders == len(pending)


def _pick(model: Model, user: str, pick: int) -> str:
    """Mostly one of the user's live trades or orders; else any id ever seen."""
    account = model.engine.accounts.get(user)
    live = [] if account is None else [*account.open.values(), *account.pending.values()]
    if live and pick % 4:
        return live[pick % len(live)].trade_id
    return model.known[pick % len(model.known)] if model.known else "none"


def _at(price: int, ppm: int | None, below: bool) -> Price | None:
    if ppm is None:
        return None
    return Price(max(1, price * (PPM + (-ppm if below else ppm)) // PPM))


def run_step(model: Model, step: tuple[Any, ...]) -> None:
    kind = step[0]
    if kind == "tick":
        model.tick(*step[1:])
    elif kind == "account":
        model.command(step[1], CreateAccount())
    elif kind == "open":
        _, user, asset, is_long, margin, leverage, sl, tp, trail = step
        bid, ask = model.quote(asset)
        mark = bid if is_long else ask
        distance = None if trail is None else Price(mark * trail // PPM)
        body = CreateTrade(asset, Direction.LONG if is_long else Direction.SHORT, Usd(margin),
                           leverage, _at(mark, sl, is_long) if distance is None else None,
                           _at(mark, tp, not is_long), distance)  # fmt: skip
        model.command(user, body)
    elif kind == "place":
        _, user, asset, is_long, limit, off, margin, leverage, sl, tp, trail, expiry = step
        bid, ask = model.quote(asset)
        current = ask if is_long else bid
        below = limit == is_long
        price = _at(current, off, below)
        assert price is not None
        body = PlaceOrder(
            asset, Direction.LONG if is_long else Direction.SHORT,
            OrderType.LIMIT if limit else OrderType.STOP, price, Usd(margin), leverage,
            _at(price, sl, is_long), _at(price, tp, not is_long),
            None if trail is None else Price(price * trail // PPM),
            None if expiry is None else model.clock + 1 + expiry,
        )  # fmt: skip
        model.command(user, body)
    elif kind == "cancel":
        model.command(step[1], CancelOrder(_pick(model, step[1], step[2])))
    elif kind == "modify":
        _, user, pick, sl, tp, trail, price_off, expiry = step
        trade_id = _pick(model, user, pick)
        pos = model.engine.trades.get(trade_id)
        ref = (
            pos.ext.order_price if pos is not None and pos.ext and pos.ext.order_price
            and pos in model.engine.pending.values()
            else (model.quote(pos.asset)[0 if pos.is_long else 1] if pos is not None else 1000)
        )  # fmt: skip
        is_long = pos.is_long if pos is not None else True

        def change(value: Any, below: bool) -> Any:
            if value is None:
                return KEEP
            return None if value == "remove" else _at(ref, value, below)

        values: dict[str, Any] = {
            "stop_loss": change(sl, is_long),
            "take_profit": change(tp, not is_long),
            "trailing_distance": KEEP if trail is None else (
                None if trail == "remove" else Price(max(1, ref * abs(trail) // PPM))),
            "price": KEEP if price_off is None else _at(ref, price_off, is_long),
            "expires_at_ms": KEEP if expiry is None else (
                None if expiry == "remove" else model.clock + 1 + expiry),
        }  # fmt: skip
        if values["stop_loss"] not in (KEEP, None) and values["trailing_distance"] not in (
            KEEP, None,
        ) and trail is not None and trail % 2:  # fmt: skip
            values["stop_loss"] = KEEP  # mostly one kind of stop; sometimes both (rejected)
        model.command(user, ModifyTrade(trade_id, **values))
    elif kind == "close":
        _, user, pick, part = step
        trade_id = _pick(model, user, pick)
        pos = model.engine.trades.get(trade_id)
        margin = None
        if part is not None:
            margin = Usd(part if pos is None else pos.margin * part // PPM)
        model.command(user, CloseTrade(trade_id, margin))
    elif kind == "repeat" and model.sent:
        first = model.sent[step[1] % len(model.sent)]
        before = model.engine.state_hash()
        outcome = model.engine.execute(first)
        model.inputs.append(first)
        assert outcome.events == [] and model.engine.state_hash() == before
    elif kind == "query":
        for body in (GetOpenTrades(), GetAccount(), GetPendingOrders()):
            model.command(step[1], body)


def build(ppm: int, native: bool = False) -> Engine:
    return Engine(
        ASSETS,
        maintenance_margin_ppm=ppm,
        max_open_trades_per_user=MAX_OPEN,
        max_pending_orders_per_user=MAX_PENDING,
        native=native,
    )


def script_inputs(ppm: int, mids: dict[str, int], script: list[Any], native: bool = False) -> Model:
    model = Model(build(ppm, native), dict(mids))
    for user in USERS:
        run_step(model, ("account", user))
    run_step(model, ("tick", "BTC_USDC", 0, 100, 1))
    run_step(model, ("tick", "SOL_USDC", 0, 0, 1))
    run_step(model, ("tick", "ETH_USDC", 0, 5_000, 1))
    for step in script:
        run_step(model, step)
        model.check()
    return model


@settings(
    max_examples=examples(80, 3_000), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(streams, st.integers(0, 10**6), st.booleans())
def test_random_toolset_streams_keep_every_invariant(
    stream: tuple[int, dict[str, int], list[Any]], cut: int, native: bool
) -> None:
    """`native`: the engine under test runs its C path (replays run the Python engine)."""
    ppm, mids, script = stream
    model = script_inputs(ppm, mids, script, native)
    final = model.engine.state_hash()
    assert replay(model.inputs, build(ppm)).state_hash() == final
    snapshot = json.loads(json.dumps(model.engine.snapshot()))
    assert restore(snapshot, ppm).state_hash() == final
    # Restored in the middle, the rest of the inputs lead to the same state: trailing groups
    # rebuilt from a snapshot behave as the ones they replace.
    middle = cut % (len(model.inputs) + 1)
    first = replay(model.inputs[:middle], build(ppm))
    data = json.loads(json.dumps(first.snapshot()))
    assert replay(model.inputs[middle:], restore(data, ppm)).state_hash() == final


def restore(data: dict[str, Any], ppm: int) -> Engine:
    return Engine.restore(
        data, ASSETS, maintenance_margin_ppm=ppm, max_open_trades_per_user=MAX_OPEN,
        max_pending_orders_per_user=MAX_PENDING, native=False,
    )  # fmt: skip


def seeded_script(seed: int, length: int) -> list[tuple[Any, ...]]:
    """A long, dense stream from one seed: mostly valid orders and changes, real gaps."""
    rng = random.Random(seed)
    users, assets = list(USERS), list(ASSET_NAMES)
    leverages = (10, 50, 100, 500, 1000)

    def level() -> int | None:
        return None if rng.random() < 0.5 else rng.randint(-5_000, 80_000)

    def trail() -> int | None:
        return None if rng.random() < 0.6 else rng.randint(1, 20_000)

    script: list[tuple[Any, ...]] = []
    for _ in range(length):
        roll = rng.random()
        user, asset, pick = rng.choice(users), rng.choice(assets), rng.randrange(10**6)
        if roll < 0.4:
            big = rng.random() < 0.05
            move = rng.randint(-300_000, 300_000) if big else rng.randint(-12_000, 12_000)
            jump = rng.choice((1, 1, 1, 3, 20))
            script.append(("tick", asset, move, rng.choice((0, 100, 2_000)), jump))
        elif roll < 0.55:
            script.append(("open", user, asset, rng.random() < 0.5, rng.randint(1, 2_000_000),
                           rng.choice(leverages), level(), level(), trail()))  # fmt: skip
        elif roll < 0.75:
            expiry = None if rng.random() < 0.6 else rng.randint(-2, 30)
            script.append(("place", user, asset, rng.random() < 0.5, rng.random() < 0.5,
                           rng.randint(-2_000, 20_000), rng.randint(1, 2_000_000),
                           rng.choice(leverages), level(), level(), trail(), expiry))  # fmt: skip
        elif roll < 0.83:
            sl, tp, tr = (rng.choice((None, None, "remove", rng.randint(-2_000, 60_000)))
                          for _ in range(3))  # fmt: skip
            price = None if rng.random() < 0.7 else rng.randint(-2_000, 20_000)
            expiry = rng.choice((None, None, "remove", rng.randint(-2, 30)))
            script.append(("modify", user, pick, sl, tp, tr, price, expiry))
        elif roll < 0.88:
            script.append(("cancel", user, pick))
        elif roll < 0.96:
            part = None if rng.random() < 0.4 else rng.randint(1, 1_000_000)
            script.append(("close", user, pick, part))
        elif roll < 0.98:
            script.append(("repeat", pick))
        else:
            script.append(("query", user))
    return script


LONG_MIDS = {"BTC_USDC": 650_000_000, "ETH_USDC": 3_400_000_000, "SOL_USDC": 236_000_000}


@settings(max_examples=examples(10, 300), deadline=None)
@given(st.integers(0, 2**32), st.sampled_from([0, 5_000]), st.booleans())
def test_long_seeded_toolset_streams_keep_every_invariant(
    seed: int, ppm: int, native: bool
) -> None:
    test_random_toolset_streams_keep_every_invariant.hypothesis.inner_test(  # type: ignore[attr-defined]
        (ppm, LONG_MIDS, seeded_script(seed, 500)), seed, native
    )
