"""poller_svc.resume alone, against a stand-in for Redis: the mids it reads back, ticks at
another scale, and a Redis that cannot be read (the simulator then starts from its profiles)."""

from __future__ import annotations

from typing import Any

import pytest
from exchange.v1 import prices_pb2
from redis.exceptions import ConnectionError as RedisConnectionError

from mesh import streams
from poller_svc import resume


class Stream:
    """xrevrange over fixed entries, newest first; or failing `failures` times first."""

    def __init__(self, batches: list[prices_pb2.PriceBatch], failures: int = 0) -> None:
        self.entries = [
            (f"{i}-0".encode(), {streams.PAYLOAD: b.SerializeToString()})
            for i, b in enumerate(batches, 1)
        ][::-1]
        self.failures = failures
        self.calls = 0

    async def xrevrange(self, name: str, upper: Any, lower: Any, count: int) -> list[Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise RedisConnectionError("loading the dataset in memory")
        return self.entries[:count]


def batch(*ticks: tuple[str, int, int, int]) -> prices_pb2.PriceBatch:
    out = prices_pb2.PriceBatch(source="simulator")
    for asset, bid, ask, scale in ticks:
        tick = out.ticks.add(asset=asset)
        tick.bid.units, tick.bid.scale = bid, scale
        tick.ask.units, tick.ask.scale = ask, scale
    return out


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resume, "BETWEEN_ATTEMPTS_S", 0)


async def test_the_newest_tick_of_each_asset_as_a_mid_in_its_units() -> None:
    stream = Stream(
        [
            batch(("SOL_USDC", 1, 3, 6), ("BTC_USDC", 1, 3, 4)),
            # Newer: SOL at a coarser scale (exact in the asset's), BTC at a finer one (skipped,
            # so the older BTC tick is not taken either: it is not the newest).
            batch(("SOL_USDC", 2_300, 2_302, 1), ("BTC_USDC", 900_000_001, 900_000_003, 5)),
        ]
    )
    mids = await resume.last_mids(stream, ("SOL_USDC", "BTC_USDC", "ETH_USDC"))
    assert mids == {"SOL_USDC": 230_100_000}


async def test_a_redis_still_starting_is_asked_again() -> None:
    stream = Stream([batch(("ETH_USDC", 3_000_000_000, 3_000_000_002, 6))], failures=2)
    assert await resume.last_mids(stream, ("ETH_USDC",)) == {"ETH_USDC": 3_000_000_001}
    assert stream.calls == 3


async def test_a_redis_that_never_answers_means_the_profiles() -> None:
    stream = Stream([batch(("ETH_USDC", 1, 2, 6))], failures=resume.ATTEMPTS)
    assert await resume.last_mids(stream, ("ETH_USDC",)) == {}
    assert stream.calls == resume.ATTEMPTS
