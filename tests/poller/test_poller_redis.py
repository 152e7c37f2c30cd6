"""The whole poller against real Redis: every tick of the source reaches `engine_input`, in
order, none dropped, including those still queued when it is told to stop."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import AsyncGenerator
from decimal import Decimal
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from exchange.v1 import prices_pb2

import poller_svc.main as poller_main
from mesh.assets import ASSET_DECIMALS
from mesh.config import ConfigError, Settings, load_settings
from mesh.streams import PAYLOAD, PRICES
from poller_svc.publisher import build_batch
from poller_svc.sources.tick import Tick
from tests.conftest import REPO_ROOT
from tests.polling import poll, poll_async

ASSETS = ("BTC_USDC", "ETH_USDC", "SOL_USDC")


def _replay_file(tmp_path: Path, rows: int) -> tuple[Path, list[Tick]]:
    lines = ["ts_ms,asset,bid,ask"]
    expected = []
    for i in range(rows):
        asset = ASSETS[i % 3]
        bid, ask = 100 + i, 101 + i
        ts_ms = 1_700_000_000_000 + 10 * i
        lines.append(f"{ts_ms},{asset},{bid}.5,{ask}")
        scale = 4 if asset == "BTC_USDC" else 6
        expected.append(
            Tick(asset, (bid * 10 + 5) * 10 ** (scale - 1), ask * 10**scale, ts_ms * 1000)
        )
        if i % 50 == 0:
            lines.append(f"{ts_ms},{asset},oops,1")  # a bad row among them: skipped
    path = tmp_path / "prices.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, expected


def _settings(redis_url: str, source: str) -> Settings:
    return dataclasses.replace(
        load_settings(),
        redis_url=redis_url,
        poller_source=source,
        poller_assets=ASSETS,
        poller_replay_speed=Decimal(1000),
        poller_replay_loop=False,
        poller_update_interval_ms=10,
    )


async def _stream_ticks(client: aioredis.Redis) -> list[Tick]:
    ticks = []
    for _id, fields in await client.xrange(PRICES):
        batch = prices_pb2.PriceBatch.FromString(fields[PAYLOAD])
        ticks.extend(Tick(t.asset, t.bid.units, t.ask.units, t.ts_us) for t in batch.ticks)
    return ticks


async def _wait_for_ticks(client: aioredis.Redis, count: int, timeout: float = 20.0) -> None:
    await poll_async(
        lambda: _stream_ticks(client),
        lambda ticks: len(ticks) >= count,
        timeout_s=timeout,
        what=f"{count} ticks on the price stream",
    )


async def test_replay_file_lands_in_engine_input_complete_and_in_order(
    redis_url: str, tmp_path: Path
) -> None:
    path, expected = _replay_file(tmp_path, 300)
    stop = asyncio.Event()
    running = asyncio.create_task(poller_main.run(_settings(redis_url, f"replay:{path}"), stop))
    client = aioredis.Redis.from_url(redis_url)
    try:
        await _wait_for_ticks(client, len(expected))
        stop.set()
        assert await asyncio.wait_for(running, 10) == 0
        assert await _stream_ticks(client) == expected
        first = prices_pb2.PriceBatch.FromString(
            (await client.xrange(PRICES, count=1))[0][1][PAYLOAD]
        )
        assert first.source == "replay"
    finally:
        running.cancel()
        await client.aclose()


async def test_a_restarted_simulator_goes_on_from_the_last_published_prices(
    redis_url: str,
) -> None:
    """The price stream outlives a restart (the embedded Redis keeps an AOF): the simulator
    resumes from the newest tick of each asset instead of jumping back to its start prices."""
    client = aioredis.Redis.from_url(redis_url)
    left = {"BTC_USDC": 1_012_345_678, "ETH_USDC": 3_456_000_000, "SOL_USDC": 301_000_000}
    older = prices_pb2.PriceBatch(source="simulator")
    for asset in ASSETS:  # an older tick of each, then the newest ones
        tick = older.ticks.add(asset=asset, ts_us=1)
        tick.bid.units, tick.bid.scale = 5, ASSET_DECIMALS[asset]
        tick.ask.units, tick.ask.scale = 7, ASSET_DECIMALS[asset]
    await client.xadd(PRICES, {PAYLOAD: older.SerializeToString()})
    newest = build_batch([Tick(a, mid - 100, mid + 100, 2) for a, mid in left.items()], "x")
    await client.xadd(PRICES, {PAYLOAD: newest.SerializeToString()})
    last_id = await client.xadd(PRICES, {PAYLOAD: b"not a price batch"})  # skipped
    stop = asyncio.Event()
    running = asyncio.create_task(poller_main.run(_settings(redis_url, "simulator"), stop))
    try:
        while len(entries := await client.xrange(PRICES, min=b"(" + last_id)) < 3:
            await asyncio.sleep(0.01)
        stop.set()
        assert await asyncio.wait_for(running, 10) == 0
    finally:
        running.cancel()
        await client.aclose()
    resumed = [t for _id, f in entries for t in prices_pb2.PriceBatch.FromString(f[PAYLOAD]).ticks]
    resumed = [Tick(t.asset, t.bid.units, t.ask.units, t.ts_us) for t in resumed]
    for tick in resumed[:3]:
        mid = (tick.bid + tick.ask) // 2
        assert abs(mid - left[tick.asset]) < left[tick.asset] // 1000, tick  # one step at most


class CountingSource:
    """Yields ticks as fast as it can and counts what it handed over."""

    name = "simulator"

    def __init__(self, count: int) -> None:
        self.count = count
        self.yielded = 0
        self.closed = False

    def __aiter__(self) -> AsyncGenerator[Tick, None]:
        return self._ticks()

    async def _ticks(self) -> AsyncGenerator[Tick, None]:
        try:
            for i in range(self.count):
                yield Tick("SOL_USDC", 1_000_000 + i, 1_000_001 + i, i)
                self.yielded += 1
                if i % 100 == 0:
                    await asyncio.sleep(0)
            await asyncio.Future()
        finally:
            self.closed = True


async def test_stop_closes_the_feed_and_flushes_the_queue(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = CountingSource(20_000)
    monkeypatch.setattr(poller_main, "open_source", lambda settings: source)
    stop = asyncio.Event()
    running = asyncio.create_task(poller_main.run(_settings(redis_url, "simulator"), stop))
    client = aioredis.Redis.from_url(redis_url)
    try:
        while await client.xlen(PRICES) == 0:
            await asyncio.sleep(0.001)
        stop.set()  # with ticks still queued: the publisher takes at most 500 per batch
        assert await asyncio.wait_for(running, 20) == 0
        ticks = await _stream_ticks(client)
    finally:
        running.cancel()
        await client.aclose()
    assert source.closed
    assert 0 < len(ticks) == source.yielded
    assert [t.ts_us for t in ticks] == list(range(len(ticks)))


def test_sigterm_stops_the_process_cleanly(redis_url: str, tmp_path: Path) -> None:
    path, expected = _replay_file(tmp_path, 60)
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        POLLER_SOURCE=f"replay:{path}",
        POLLER_REPLAY_SPEED="1000",
        POLLER_ASSETS=",".join(ASSETS),
        PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{REPO_ROOT / 'gen'}",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "poller_svc.main"],
        cwd=tmp_path,  # away from any .env in the checkout
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = redis.Redis.from_url(redis_url)
    try:

        def published() -> int:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            return sum(
                len(prices_pb2.PriceBatch.FromString(f[PAYLOAD]).ticks)
                for _id, f in client.xrange(PRICES)
            )

        poll(
            published,
            lambda ticks: ticks >= len(expected),
            timeout_s=30,
            every_s=0.05,
            what=f"{len(expected)} ticks on the price stream",
        )
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
        client.close()
    assert process.returncode == 0, err
    assert "poller: stopping" in err and "stopped after publishing 60 ticks" in err


def test_unknown_source_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Raised for `exchange` to report in one line with exit status 2, as every service's
    (tests/poller/test_sources_factory.py runs the command)."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("POLLER_SOURCE", "carrier-pigeon")
    monkeypatch.setattr("mesh.logs.setup", lambda service: None)
    with pytest.raises(ConfigError, match="POLLER_SOURCE must be simulator, backpack or replay"):
        poller_main.main()
