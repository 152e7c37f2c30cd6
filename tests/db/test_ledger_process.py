"""`exchange ledger` as a whole: three writers, /metrics, and a restart that resumes its own."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from exchange.v1 import prices_pb2

from gateway_svc.ledger import main as ledger_main
from gateway_svc.ledger import metrics
from gateway_svc.ledger.stream_consumer import StreamConsumer
from mesh.config import load_settings
from mesh.embedded import free_port
from mesh.streams import AUDIT, EVENT_GROUP, EVENTS, PAYLOAD, PRICES, connect, ensure_group
from tests.conftest import REPO_ROOT
from tests.db.factories import FIRST_MINUTE, audit, closed, opened
from tests.db.helpers import count

EVENTS_SQL = "SELECT count(*) FROM trade_events"


@asynccontextmanager
async def _ledger(name: str = "ledger-test") -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(ledger_main.run(load_settings(need_secrets=False), stop, name))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


async def _until(condition: object, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return str(reply.read().decode())


@pytest.fixture
def env(redis_url: str, migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    port = free_port()
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("LEDGER_METRICS_PORT", str(port))
    monkeypatch.setattr(metrics, "STREAM_SAMPLE_S", 0.1)
    return port


async def test_writes_every_stream_and_serves_metrics(
    env: int, redis_url: str, migrated_url: str
) -> None:
    client = connect(redis_url)
    await client.xadd(EVENTS, {PAYLOAD: opened(1, "t1").SerializeToString()})
    await client.xadd(EVENTS, {PAYLOAD: closed(2, "t1").SerializeToString()})
    await client.xadd(EVENTS, {PAYLOAD: b"junk"})
    await client.xadd(AUDIT, {PAYLOAD: audit("o1").SerializeToString()})
    await client.xadd(
        PRICES, {PAYLOAD: prices_pb2.PriceBatch(ticks=FIRST_MINUTE).SerializeToString()}
    )
    async with _ledger():
        await _until(
            lambda: (
                count(migrated_url, EVENTS_SQL) == 2
                and count(migrated_url, "SELECT count(*) FROM orders") == 1
                and count(migrated_url, "SELECT count(*) FROM candles_1m") == 1
            )
        )
        await _until(lambda: "ledger_dead_letters_total" in _scrape(env))
        await asyncio.sleep(0.3)  # a stream sample or two
        text = await asyncio.to_thread(_scrape, env)
    assert 'ledger_rows_written_total{writer="events"} 2.0' in text
    assert 'ledger_rows_written_total{writer="audit"} 1.0' in text
    assert 'ledger_rows_written_total{writer="candles"} 4.0' in text  # ticks
    assert 'ledger_dead_letters_total{writer="events"} 1.0' in text
    assert 'ledger_batch_size_count{writer="events"}' in text
    assert "ledger_audit_lag_seconds_count 1.0" in text
    assert "ledger_event_lag_seconds_count 2.0" in text
    assert f'ledger_stream_lag_seconds{{group="{EVENT_GROUP}",stream="{EVENTS}"}} 0.0' in text
    assert f'ledger_stream_pending_entries{{group="{EVENT_GROUP}",stream="{EVENTS}"}} 0.0' in text
    await client.aclose()


async def test_a_restarted_ledger_takes_back_what_it_held_at_once(
    env: int, redis_url: str, migrated_url: str
) -> None:
    """Killed with -9 after reading, before acking: the same consumer name re-reads its
    pending entries on start, long before another consumer could claim them (30 s idle)."""
    client = connect(redis_url)
    await ensure_group(client, EVENTS, EVENT_GROUP)
    for seq in range(1, 5):
        await client.xadd(EVENTS, {PAYLOAD: opened(seq, f"t{seq}").SerializeToString()})
    held = await client.xreadgroup(EVENT_GROUP, "ledger-host", {EVENTS: ">"}, count=10)
    assert len(held[0][1]) == 4
    async with _ledger("ledger-host"):
        await _until(lambda: count(migrated_url, EVENTS_SQL) == 4, timeout_s=5)
        await _until_acked(client)
    await client.aclose()


async def test_the_linger_setting_reaches_every_writer(
    env: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_LINGER_MS", "70")
    made: list[StreamConsumer] = []
    real = ledger_main.writers

    def recording(*args: Any, **kwargs: Any) -> list[StreamConsumer]:
        consumers = real(*args, **kwargs)
        made.extend(consumers)
        return consumers

    monkeypatch.setattr(ledger_main, "writers", recording)
    async with _ledger():
        await _until(lambda: len(made) == 3)
    assert [consumer.linger_s for consumer in made] == [0.07] * 3


async def _until_acked(client: aioredis.Redis) -> None:
    for _ in range(100):
        if (await client.xpending(EVENTS, EVENT_GROUP))["pending"] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("entries still pending")


def test_stream_lag_in_entries_and_in_time() -> None:
    sampled = metrics.LedgerMetrics()
    info = {"name": b"g", "pending": 3, "lag": 7, "last-delivered-id": b"1000-0"}
    metrics._record_group(sampled, "s", "g", info, b"3500-1")
    value = sampled.registry.get_sample_value
    assert value("ledger_stream_lag_seconds", {"stream": "s", "group": "g"}) == 2.5
    assert value("ledger_stream_lag_entries", {"stream": "s", "group": "g"}) == 7
    assert value("ledger_stream_pending_entries", {"stream": "s", "group": "g"}) == 3


async def test_exchange_ledger_runs_as_a_process_and_stops_on_sigterm(
    env: int, redis_url: str, migrated_url: str, tmp_path: Path
) -> None:
    client = connect(redis_url)
    await client.xadd(EVENTS, {PAYLOAD: opened(1, "t1").SerializeToString()})
    child = subprocess.Popen(
        [sys.executable, "-m", "launcher.cli", "ledger"],
        cwd=REPO_ROOT,
        env={**os.environ, "LEDGER_CONSUMER": "ledger-sub", "EXCHANGE_DATA_DIR": str(tmp_path)},
    )
    try:
        await _until(lambda: count(migrated_url, EVENTS_SQL) == 1, timeout_s=30)
        text = await asyncio.to_thread(_scrape, env)
        assert 'ledger_rows_written_total{writer="events"} 1.0' in text
        child.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(child.wait, 15) == 0
    finally:
        if child.poll() is None:
            child.kill()
    consumers = await client.xinfo_consumers(EVENTS, EVENT_GROUP)
    assert [c["name"] for c in consumers] == [b"ledger-sub"]
    await client.aclose()


def _start_ledger(tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "launcher.cli", "ledger"],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "LEDGER_CONSUMER": "ledger-crash",
            "LEDGER_METRICS_PORT": "0",
            "EXCHANGE_DATA_DIR": str(tmp_path),
        },
        stderr=subprocess.DEVNULL,
    )


async def test_kill_9_under_load_loses_nothing_and_writes_nothing_twice(
    env: int, redis_url: str, migrated_url: str, tmp_path: Path
) -> None:
    client = connect(redis_url)
    lifecycles = 3_000
    async with client.pipeline(transaction=False) as pipe:
        for seq in range(1, 2 * lifecycles, 2):
            pipe.xadd(EVENTS, {PAYLOAD: opened(seq, f"t{seq}").SerializeToString()})
            pipe.xadd(EVENTS, {PAYLOAD: closed(seq + 1, f"t{seq}").SerializeToString()})
        await pipe.execute()
    child = _start_ledger(tmp_path)
    try:
        await _until(lambda: count(migrated_url, EVENTS_SQL) > 0, timeout_s=30)
        child.kill()  # SIGKILL mid-stream: batches read, some written, not all acked
        await asyncio.to_thread(child.wait, 10)
        landed = count(migrated_url, EVENTS_SQL)
        child = _start_ledger(tmp_path)
        await _until(lambda: count(migrated_url, EVENTS_SQL) == 2 * lifecycles, timeout_s=60)
        await _until_acked(client)
    finally:
        child.kill()
        child.wait()
    assert landed < 2 * lifecycles, "the kill came too late to test anything"
    assert count(migrated_url, "SELECT count(*) FROM trades WHERE status = 'CLOSED'") == lifecycles
    await client.aclose()
