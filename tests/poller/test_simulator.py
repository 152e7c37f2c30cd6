"""The default source: seeded, integer-only, sane prices."""

from __future__ import annotations

from mesh.assets import ASSET_DECIMALS
from poller_svc.sources.simulator import SimulatorSource
from tests.poller.helpers import FakeTime, take

ASSETS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")


def _source(seed: int, fake: FakeTime, interval_ms: int = 100) -> SimulatorSource:
    return SimulatorSource(
        ASSETS, interval_ms, seed, sleep=fake.sleep, clock_us=lambda: 7, monotonic=fake.clock
    )


async def test_same_seed_same_ticks_and_other_seed_differs() -> None:
    first = await take(_source(42, FakeTime()), 300)
    again = await take(_source(42, FakeTime()), 300)
    other = await take(_source(43, FakeTime()), 300)
    assert first == again
    assert [(t.bid, t.ask) for t in first] != [(t.bid, t.ask) for t in other]


async def test_one_tick_per_asset_per_interval() -> None:
    fake = FakeTime()
    ticks = await take(_source(1, fake, interval_ms=250), 3 * 5)
    assert [t.asset for t in ticks] == list(ASSETS) * 5
    assert fake.requested == [0.25] * 4  # between five rounds


async def test_realistic_start_prices() -> None:
    ticks = await take(_source(7, FakeTime()), 3)
    mids = {t.asset: (t.bid + t.ask) / 2 / 10 ** ASSET_DECIMALS[t.asset] for t in ticks}
    assert 89_000 < mids["BTC_USDC"] < 91_000
    assert 2_970 < mids["ETH_USDC"] < 3_030
    assert 233 < mids["SOL_USDC"] < 239


async def test_it_goes_on_from_the_prices_it_is_given_within_its_bounds() -> None:
    source = _source(7, FakeTime())
    # SOL where the market was left, BTC far beyond the walk's ceiling, ETH not given.
    source.start_from({"SOL_USDC": 250_123_456, "BTC_USDC": 90_000 * 10**4 * 1000})
    ticks = {t.asset: t for t in await take(source, 3)}
    sol, btc, eth = ticks["SOL_USDC"], ticks["BTC_USDC"], ticks["ETH_USDC"]
    assert abs((sol.bid + sol.ask) // 2 - 250_123_456) < 250_123_456 // 1000
    ceiling = 90_000 * 10**4 * 100
    assert ceiling * 999 // 1000 < (btc.bid + btc.ask) // 2 <= ceiling  # clamped to it
    assert 2_970 * 10**6 < (eth.bid + eth.ask) // 2 < 3_030 * 10**6  # the profile's start


async def test_integers_positive_and_bid_below_ask_over_many_steps() -> None:
    ticks = await take(_source(2024, FakeTime()), 3 * 20_000)
    for tick in ticks:
        assert type(tick.bid) is int and type(tick.ask) is int and type(tick.ts_us) is int
        assert 0 < tick.bid < tick.ask
        # A spread of a few basis points, not a random gap.
        assert (tick.ask - tick.bid) * 10_000 <= tick.ask * 10
    sol = [t for t in ticks if t.asset == "SOL_USDC"]
    assert len({t.bid for t in sol}) > 1_000  # it does walk
