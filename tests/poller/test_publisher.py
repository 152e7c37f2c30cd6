"""The publisher: batching, and a batch that Redis does not take is retried until it lands."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import redis.asyncio as aioredis
from exchange.v1 import prices_pb2
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from mesh.stats_lines import IDLE_STATS_EVERY_S
from mesh.streams import MAXLEN_PRICES, PAYLOAD, PRICES
from poller_svc.publisher import Publisher, build_batch
from poller_svc.sources.tick import Tick

TICKS = [
    Tick("BTC_USDC", 900_001_000, 900_002_500, 1),
    Tick("SOL_USDC", 235_950_000, 236_010_000, 2),
    Tick("ETH_USDC", 3_000_000_001, 3_000_500_000, 3),
]


class RecordingClient:
    """Stands in for Redis in unit tests; fails with the given errors first."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.failures = list(failures or [])
        self.attempts: list[bytes] = []
        self.landed: list[bytes] = []
        self.options: list[dict[str, Any]] = []

    async def xadd(self, name: str, fields: Any, *, maxlen: int, approximate: bool) -> bytes:
        assert name == PRICES
        self.attempts.append(fields[PAYLOAD])
        self.options.append({"maxlen": maxlen, "approximate": approximate})
        if self.failures:
            raise self.failures.pop(0)
        self.landed.append(fields[PAYLOAD])
        return b"1-0"


def _ticks(batch: bytes) -> list[Tick]:
    parsed = prices_pb2.PriceBatch.FromString(batch)
    return [Tick(t.asset, t.bid.units, t.ask.units, t.ts_us) for t in parsed.ticks]


def test_batch_carries_exact_units_scales_and_source() -> None:
    batch = build_batch(TICKS, "replay")
    assert batch.source == "replay"
    btc, sol, _ = batch.ticks
    assert (btc.asset, btc.bid.units, btc.bid.scale, btc.ask.units, btc.ask.scale, btc.ts_us) == (
        "BTC_USDC",
        900_001_000,
        4,
        900_002_500,
        4,
        1,
    )
    assert (sol.bid.scale, sol.ask.scale) == (6, 6)


async def _drain(publisher: Publisher) -> None:
    task = asyncio.create_task(publisher.run())
    await asyncio.wait_for(publisher.queue.join(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_takes_everything_queued_up_to_the_cap_in_order() -> None:
    queue: asyncio.Queue[Tick] = asyncio.Queue()
    ticks = [Tick("SOL_USDC", 100 + i, 200 + i, i) for i in range(1200)]
    for tick in ticks:
        queue.put_nowait(tick)
    client = RecordingClient()
    await _drain(Publisher(client, queue, "simulator", batch_cap=500))
    assert [len(_ticks(b)) for b in client.landed] == [500, 500, 200]
    assert [t for b in client.landed for t in _ticks(b)] == ticks
    assert client.options[0] == {"maxlen": MAXLEN_PRICES, "approximate": True}


async def test_a_refused_batch_is_retried_with_the_same_bytes() -> None:
    queue: asyncio.Queue[Tick] = asyncio.Queue()
    for tick in TICKS:
        queue.put_nowait(tick)
    delays: list[float] = []

    async def sleep(delay: float) -> None:
        delays.append(delay)

    client = RecordingClient([ResponseError("OOM command not allowed"), ResponseError("READONLY")])
    await _drain(Publisher(client, queue, "simulator", sleep=sleep))
    assert len(client.attempts) == 3 and len(set(client.attempts)) == 1
    assert client.landed == client.attempts[:1]
    assert delays == [0.5, 1.0]


class Clock:
    """The publisher's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stats_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "ticks/s" in r.getMessage()]


async def test_a_feed_at_its_pace_is_reported_every_few_minutes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="poller_svc.publisher")
    clock = Clock()
    publisher = Publisher(RecordingClient(), asyncio.Queue(), "simulator", clock=clock)
    quiet = int(IDLE_STATS_EVERY_S)
    for _ in range(quiet // 10):  # a batch every 10 s, nothing queued behind it
        clock.now += 10
        await publisher.publish(TICKS)
    assert _stats_lines(caplog) == [
        f"published {3 * quiet // 10} ticks in {quiet}s (0.3 ticks/s), 0 queued"
    ]


async def test_a_backlog_is_reported_every_ten_seconds(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="poller_svc.publisher")
    clock = Clock()
    queue: asyncio.Queue[Tick] = asyncio.Queue()
    publisher = Publisher(RecordingClient(), queue, "simulator", clock=clock)
    for _ in range(3):  # Redis slower than the feed: more waits at each line
        for tick in TICKS:
            queue.put_nowait(tick)
        clock.now += 10
        await publisher.publish(TICKS)
    clock.now += 10
    queue = asyncio.Queue()
    publisher.queue = queue  # caught up
    await publisher.publish(TICKS)
    clock.now += 10
    await publisher.publish(TICKS)  # and quiet again
    assert [line.rsplit(", ", 1)[1] for line in _stats_lines(caplog)] == [
        "3 queued", "6 queued", "9 queued", "0 queued"
    ]  # fmt: skip


async def test_a_backlog_that_stays_the_same_size_is_still_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A queue full at every line (Redis slower than the feed for good) is the poller at its
    busiest, not at rest."""
    caplog.set_level(logging.INFO, logger="poller_svc.publisher")
    clock = Clock()
    queue: asyncio.Queue[Tick] = asyncio.Queue()
    for tick in TICKS:
        queue.put_nowait(tick)
    publisher = Publisher(RecordingClient(), queue, "simulator", clock=clock)
    for _ in range(4):
        clock.now += 10
        await publisher.publish(TICKS)
    assert [line.rsplit(", ", 1)[1] for line in _stats_lines(caplog)] == ["3 queued"] * 4


class FlakyRedis:
    """A real Redis client behind a connection that fails the first `failures` calls."""

    def __init__(self, real: aioredis.Redis, failures: int) -> None:
        self.real = real
        self.failures = failures
        self.attempts: list[bytes] = []

    async def xadd(self, name: str, fields: Any, *, maxlen: int, approximate: bool) -> Any:
        self.attempts.append(fields[PAYLOAD])
        if len(self.attempts) <= self.failures:
            raise RedisConnectionError("Connection refused (simulated)")
        return await self.real.xadd(name, fields, maxlen=maxlen, approximate=approximate)


async def test_redis_unavailable_at_first_then_the_batch_lands_once(redis_url: str) -> None:
    real = aioredis.Redis.from_url(redis_url)
    try:
        flaky = FlakyRedis(real, failures=2)
        queue: asyncio.Queue[Tick] = asyncio.Queue()
        for tick in TICKS:
            queue.put_nowait(tick)
        await _drain(Publisher(flaky, queue, "simulator"))
        entries = await real.xrange(PRICES)
    finally:
        await real.aclose()
    assert len(flaky.attempts) == 3 and len(set(flaky.attempts)) == 1
    assert len(entries) == 1
    assert _ticks(entries[0][1][PAYLOAD]) == TICKS
