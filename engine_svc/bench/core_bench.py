"""Benchmark of the pure engine core: command throughput, quiet ticks, a mass liquidation.

    python -m engine_svc.bench            # full sizes (about two minutes)
    python -m engine_svc.bench --quick    # small sizes, for a smoke run

Inputs are generated up front from a seeded random source, so only the engine is timed.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from engine_svc.core import Engine
from engine_svc.core.model import trade_id_for
from engine_svc.core.types import (
    CloseTrade,
    Command,
    CreateAccount,
    CreateTrade,
    Direction,
    Price,
    Tick,
    Usd,
)

ASSETS = {"BTC_USDC": 4, "ETH_USDC": 6, "SOL_USDC": 6}
START_PRICES = {"BTC_USDC": 650_000_000, "ETH_USDC": 3_400_000_000, "SOL_USDC": 236_000_000}
TARGETS = {
    "commands": 200_000.0,
    "quiet_tick_us": 20.0,
    "liquidation_s": 1.0,
    "trailing_high_us": 50.0,
}


@dataclass(frozen=True)
class Sizes:
    accounts: int
    mixed_commands: int
    open_positions: int
    quiet_ticks: int
    liquidations: int
    trailing_stops: int = 100_000


FULL = Sizes(
    accounts=100_000,
    mixed_commands=400_000,
    open_positions=1_000_000,
    quiet_ticks=20_000,
    liquidations=100_000,
)
QUICK = Sizes(
    accounts=5_000,
    mixed_commands=20_000,
    open_positions=50_000,
    quiet_ticks=2_000,
    liquidations=5_000,
    trailing_stops=5_000,
)


def _tick(asset: str, mid: int, ts_us: int) -> Tick:
    # A spread of about 0.01%: close-side and open-side prices differ, as in a real book.
    half = max(1, mid // 20_000)
    return Tick(asset, Price(mid - half), Price(mid + half), ts_us)


def _open_accounts(engine: Engine, count: int) -> list[str]:
    users = [f"user-{i:07d}" for i in range(count)]
    for i, user in enumerate(users):
        engine.execute(Command(f"acct-{i}", user, f"{user}@example.com", 0, CreateAccount()))
    for asset, mid in START_PRICES.items():
        engine.apply_tick(_tick(asset, mid, 1))
    return users


def bench_commands(sizes: Sizes, rng: random.Random, native: bool = True) -> tuple[float, int, int]:
    """A create/close mix (70/30) over many accounts, with a tick every 50 commands.

    Returns (commands per second, commands, ticks); the time includes the ticks.
    `native=False` runs the pure-Python reference engine instead of the C path.
    """
    engine = Engine(ASSETS, native=native)
    users = _open_accounts(engine, sizes.accounts)
    mids = dict(START_PRICES)
    assets = list(ASSETS)
    leverages = (10, 20, 50, 100, 200, 500, 1000)
    open_trades: list[tuple[str, str]] = []
    inputs: list[Command | Tick] = []
    ticks = 0
    for n in range(sizes.mixed_commands):
        user = users[rng.randrange(len(users))]
        if open_trades and rng.random() < 0.3:
            owner, trade_id = open_trades.pop(rng.randrange(len(open_trades)))
            body: CreateTrade | CloseTrade = CloseTrade(trade_id)
            user = owner
        else:
            asset = assets[rng.randrange(3)]
            mid = mids[asset]
            is_long = rng.random() < 0.5
            stop = take = None
            roll = rng.random()
            # Levels 3-4.5% away keep clear of the walk and inside 20x-and-under liquidations.
            leverage = leverages[rng.randrange(4)] if roll < 0.5 else leverages[rng.randrange(7)]
            if roll < 0.3 and leverage <= 200:
                away = mid * rng.randint(30, 45) // 1000
                stop = Price(mid - away if is_long else mid + away)
                take = Price(mid + away if is_long else mid - away)
            body = CreateTrade(
                asset,
                Direction.LONG if is_long else Direction.SHORT,
                Usd(rng.randint(10, 500) * 10_000),
                leverage,
                stop,
                take,
            )
            # Every input takes one seq, so this command's is known before the run.
            seq = engine.seq + len(inputs) + 1
            open_trades.append((user, trade_id_for(user, f"ord-{n}", seq)))
        inputs.append(Command(f"ord-{n}", user, f"{user}@example.com", n, body))
        if n % 50 == 49:
            asset = assets[rng.randrange(3)]
            mids[asset] += rng.randint(-mids[asset] // 5000, mids[asset] // 5000)
            inputs.append(_tick(asset, mids[asset], n))
            ticks += 1
    execute, apply_tick = engine.execute, engine.apply_tick
    gc.collect()
    started = time.perf_counter()
    for item in inputs:
        if type(item) is Tick:
            apply_tick(item)
        else:
            execute(item)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    return sizes.mixed_commands / elapsed, sizes.mixed_commands, ticks


def build_book(sizes: Sizes, rng: random.Random) -> Engine:
    """`open_positions` positions; the first `liquidations` are 100x LONGs on SOL.

    The rest use at most 20x with stop loss / take profit 3-4.5% away, so a 2% drop in SOL
    liquidates exactly the 100x LONGs (half of which also carry a take profit to unhook).
    """
    engine = Engine(ASSETS, idempotency_per_user=1_000)
    users = _open_accounts(engine, min(sizes.accounts, sizes.open_positions // 10))
    assets = list(ASSETS)
    execute = engine.execute
    for n in range(sizes.open_positions):
        user = users[n % len(users)]
        if n < sizes.liquidations:
            mid = START_PRICES["SOL_USDC"]
            take = Price(mid * 105 // 100) if n % 2 else None
            body = CreateTrade("SOL_USDC", Direction.LONG, Usd(100_000), 1000, None, take)
        else:
            asset = assets[n % 3]
            mid = START_PRICES[asset]
            is_long = rng.random() < 0.5
            away = mid * rng.randint(30, 45) // 1000
            stop = take = None
            if rng.random() < 0.5:
                stop = Price(mid - away if is_long else mid + away)
                take = Price(mid + away if is_long else mid - away)
            body = CreateTrade(
                asset,
                Direction.LONG if is_long else Direction.SHORT,
                Usd(100_000),
                rng.choice((10, 20, 50, 100, 200)),
                stop,
                take,
            )
        outcome = execute(Command(f"book-{n}", user, f"{user}@example.com", n, body))
        if outcome.response is None or not outcome.response.ok:
            raise RuntimeError(f"setup trade {n} rejected: {outcome.response}")
    return engine


def bench_quiet_ticks(engine: Engine, count: int, rng: random.Random) -> tuple[float, float]:
    """Median and p99 in microseconds of ticks within 0.05% of the start: nothing crosses."""
    assets = list(ASSETS)
    ticks = []
    for i in range(count):
        asset = assets[i % 3]
        mid = START_PRICES[asset]
        ticks.append(_tick(asset, mid + rng.randint(-mid // 2000, mid // 2000), 10 + i))
    apply_tick = engine.apply_tick
    clock = time.perf_counter_ns
    samples = []
    gc.collect()
    for tick in ticks:
        started = clock()
        events = apply_tick(tick)
        samples.append(clock() - started)
        if events:
            raise RuntimeError("a quiet tick crossed a level")
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def bench_liquidation(engine: Engine, expected: int) -> float:
    mid = START_PRICES["SOL_USDC"] * 98 // 100
    gc.collect()
    started = time.perf_counter()
    events = engine.apply_tick(_tick("SOL_USDC", mid, 10**12))
    elapsed = time.perf_counter() - started
    if len(events) != expected:
        raise RuntimeError(f"expected {expected} liquidations, got {len(events)}")
    return elapsed


TRAIL_GROUPS = 100


def bench_trailing_highs(count: int, ticks: int) -> tuple[float, float, float]:
    """`count` LONG trailing stops on SOL, set at TRAIL_GROUPS falling prices (so in as many
    groups), then `ticks` ticks each making a new high, none firing.

    Returns (the first new high, which merges every group, in ms; median and p99 of the
    following ones in microseconds).
    """
    engine = Engine(ASSETS, max_open_trades_per_user=1_000)
    users = _open_accounts(engine, max(1, count // 500))
    mid = START_PRICES["SOL_USDC"]
    step = mid // 10_000
    distance = Price(mid // 10)  # far: a 1x LONG's room is its whole bid
    execute = engine.execute
    for n in range(count):
        if n % max(1, count // TRAIL_GROUPS) == 0:
            engine.apply_tick(_tick("SOL_USDC", mid - (n * TRAIL_GROUPS // count) * step, 2))
        user = users[n % len(users)]
        body = CreateTrade("SOL_USDC", Direction.LONG, Usd(10_000), 10, None, None, distance)
        outcome = execute(Command(f"trail-{n}", user, f"{user}@example.com", 3, body))
        if outcome.response is None or not outcome.response.ok:
            raise RuntimeError(f"setup trailing stop {n} rejected: {outcome.response}")
    highs = [_tick("SOL_USDC", mid + (i + 1) * step, 10 + i) for i in range(ticks + 1)]
    apply_tick = engine.apply_tick
    clock = time.perf_counter_ns
    gc.collect()
    samples = []
    for tick in highs:
        started = clock()
        events = apply_tick(tick)
        samples.append(clock() - started)
        if events:
            raise RuntimeError("a new high fired a trailing stop")
    first, rest = samples[0], sorted(samples[1:])
    return first / 1e6, statistics.median(rest) / 1000, rest[int(len(rest) * 0.99)] / 1000


def bench_snapshot(engine: Engine) -> tuple[float, float]:
    started = time.perf_counter()
    data = engine.snapshot()
    dumped = time.perf_counter()
    Engine.restore(data, ASSETS, idempotency_per_user=engine.orders.per_user)
    return dumped - started, time.perf_counter() - dumped


def interpreter_step_ns(steps: int = 5_000_000) -> float:
    """Nanoseconds per step of a tiny pure-Python loop: how fast this host runs Python.

    Context for comparing tables from different hosts (see BENCHMARKS.md): the core is pure
    Python, so its figures move with this one.
    """
    started = time.perf_counter()
    total = 0
    for i in range(steps):
        total += i
    return (time.perf_counter() - started) / steps * 1e9


def memory_latency_ns(count: int) -> float:
    """Nanoseconds per read of an attribute of `count` objects visited in random order.

    Context for the table: in a heap of millions of objects, each cache and TLB miss costs
    this much, and a command touches a dozen places that are unlikely to be cached.
    """

    class Cell:
        __slots__ = ("value",)

        def __init__(self, value: int) -> None:
            self.value = value

    cells = [Cell(i) for i in range(count)]
    random.Random(1).shuffle(cells)
    started = time.perf_counter()
    total = 0
    for cell in cells:
        total += cell.value
    shuffled = time.perf_counter() - started
    cells.sort(key=lambda cell: cell.value)
    started = time.perf_counter()
    for cell in cells:
        total += cell.value
    in_order = time.perf_counter() - started
    return (shuffled - in_order) / count * 1e9


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine_svc.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--runs", type=int, default=3, help="runs of the command mix, each on a fresh engine"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    rng = random.Random(args.seed)
    rows: list[tuple[str, str, str]] = []

    def row(name: str, value: str, target: str = "") -> None:
        rows.append((name, value, target))

    # A VM's speed moves from one second to the next: the median of a few runs, with their range.
    runs = [bench_commands(sizes, random.Random(args.seed)) for _ in range(max(1, args.runs))]
    rates = sorted(rate for rate, _, _ in runs)
    _, commands, ticks = runs[0]
    row(
        f"create/close mix, {sizes.accounts:,} accounts ({commands:,} commands + {ticks:,} ticks)",
        f"{statistics.median(rates):,.0f} commands/s",
        f">= {TARGETS['commands']:,.0f}",
    )
    if len(rates) > 1:
        row(f"  range over {len(rates)} runs", f"{rates[0]:,.0f} - {rates[-1]:,.0f}")
    rate, _, _ = bench_commands(sizes, random.Random(args.seed), native=False)
    row("the same, pure-Python reference engine (native=False)", f"{rate:,.0f} commands/s")
    setup = time.perf_counter()
    engine = build_book(sizes, rng)
    setup = time.perf_counter() - setup
    row(
        f"open {sizes.open_positions:,} positions through execute (setup)",
        f"{sizes.open_positions / setup:,.0f} creates/s",
    )
    median, p99 = bench_quiet_ticks(engine, sizes.quiet_ticks, rng)
    open_count = f"{len(engine.positions):,}"
    row(
        f"tick crossing nothing, {open_count} open: median",
        f"{median:.1f} us",
        f"< {TARGETS['quiet_tick_us']:.0f} us",
    )
    row("tick crossing nothing: p99", f"{p99:.1f} us")
    liquidated = bench_liquidation(engine, sizes.liquidations)
    row(
        f"one tick liquidating {sizes.liquidations:,} (events included)",
        f"{liquidated:.3f} s",
        f"< {TARGETS['liquidation_s']:.0f} s",
    )
    first, median, p99 = bench_trailing_highs(sizes.trailing_stops, sizes.quiet_ticks)
    row(
        f"tick making a new high, {sizes.trailing_stops:,} trailing stops open: median",
        f"{median:.1f} us",
        f"< {TARGETS['trailing_high_us']:.0f} us",
    )
    row("tick making a new high: p99", f"{p99:.1f} us")
    row(f"  the first, merging {TRAIL_GROUPS} trailing groups into one", f"{first:.1f} ms")
    dumped, restored = bench_snapshot(engine)
    row(f"snapshot() with {len(engine.positions):,} open", f"{dumped:.2f} s")
    row("restore() of that snapshot, beside the live engine", f"{restored:.2f} s")
    row(
        "random-order object read (memory latency)",
        f"{memory_latency_ns(sizes.open_positions):.0f} ns",
    )
    row("pure-Python loop step (host speed)", f"{interpreter_step_ns():.1f} ns")

    width = max(len(r[0]) for r in rows)
    title = "engine core benchmark" + (" (quick sizes)" if args.quick else "")
    print(f"{title:<{width}}  {'result':>20}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>20}  {target}")
    return 0
