"""1m and 1h candles from ask prices, and coarser candles aggregated from them, in exact
integers."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import event

from gateway_svc.db import CandleRow, Database
from tests.db.factories import FIRST_MINUTE, MINUTE_MS, SECOND_MINUTE, T0_MS, tick


async def test_one_minute_and_five_minute_candles(db: Database) -> None:
    await db.record_ticks(FIRST_MINUTE[:2])
    await db.record_ticks(FIRST_MINUTE[2:] + SECOND_MINUTE)
    await db.record_ticks([tick(T0_MS, 50_000_000, asset="ETH_USDC")])  # another asset

    one_minute = await db.list_candles("SOL_USDC", 60, None, None)
    assert one_minute == [
        CandleRow(T0_MS, 236_140_000, 237_000_000, 235_500_000, 236_000_000, 6),
        CandleRow(T0_MS + MINUTE_MS, 236_100_000, 238_500_000, 236_100_000, 236_900_000, 6),
    ]
    five_minutes = await db.list_candles("SOL_USDC", 300, None, None)
    assert five_minutes == [
        CandleRow(T0_MS, 236_140_000, 238_500_000, 235_500_000, 236_900_000, 6),
    ]


async def test_replayed_and_reordered_batches_give_the_same_candles(db: Database) -> None:
    await db.record_ticks(SECOND_MINUTE)
    await db.record_ticks(FIRST_MINUTE[2:])
    await db.record_ticks(FIRST_MINUTE[:2])  # a late batch claimed from a dead consumer
    await db.record_ticks(FIRST_MINUTE)  # and a replay
    one_minute = await db.list_candles("SOL_USDC", 60, None, None)
    assert one_minute[0] == CandleRow(T0_MS, 236_140_000, 237_000_000, 235_500_000, 236_000_000, 6)
    assert one_minute[1].close == 236_900_000


async def test_time_range_and_limit(db: Database) -> None:
    await db.record_ticks([tick(T0_MS + i * MINUTE_MS, 100_000_000 + i) for i in range(12)])
    # A range inside a 5m bucket still returns that whole bucket.
    ranged = await db.list_candles("SOL_USDC", 300, T0_MS + 2 * MINUTE_MS, T0_MS + 6 * MINUTE_MS)
    assert [(c.time_ms, c.open, c.close) for c in ranged] == [
        (T0_MS, 100_000_000, 100_000_004),
        (T0_MS + 5 * MINUTE_MS, 100_000_005, 100_000_009),
    ]
    newest = await db.list_candles("SOL_USDC", 60, None, None, limit=3)
    assert [c.open for c in newest] == [100_000_009, 100_000_010, 100_000_011]
    from_start = await db.list_candles("SOL_USDC", 60, T0_MS, None, limit=2)
    assert [c.open for c in from_start] == [100_000_000, 100_000_001]
    assert len(await db.list_candles("SOL_USDC", 3600, None, None)) == 1
    assert await db.list_candles("BTC_USDC", 60, None, None) == []


async def test_the_limit_counts_candles_not_empty_buckets(db: Database) -> None:
    """A window of `limit` buckets laid from the request's start (or end) would hold nothing
    when the start lies long before the first candle (a young exchange) or the end long after
    the last; it is laid from the first (last) candle in the range instead."""
    day_ms = 1440 * MINUTE_MS
    minutes = [0, 1, 2, 3000, 3001]  # two runs of candles, two days apart
    await db.record_ticks([tick(T0_MS + m * MINUTE_MS, 100_000_000 + m) for m in minutes])
    since_long_ago = await db.list_candles("SOL_USDC", 60, T0_MS - 30 * day_ms, None, limit=4)
    assert [c.open for c in since_long_ago] == [100_000_000, 100_000_001, 100_000_002]
    # The window from the first candle holds 3 (the rest lie 3,000 buckets later): the next
    # page starts after the last one returned, and finds the second run.
    after = since_long_ago[-1].time_ms + MINUTE_MS
    assert [c.open for c in await db.list_candles("SOL_USDC", 60, after, None, limit=4)] == [
        100_003_000, 100_003_001
    ]  # fmt: skip
    until_far_ahead = await db.list_candles("SOL_USDC", 60, None, T0_MS + 60 * day_ms, limit=2)
    assert [c.open for c in until_far_ahead] == [100_003_000, 100_003_001]
    before_the_gap = await db.list_candles("SOL_USDC", 60, None, T0_MS + 2000 * MINUTE_MS)
    assert [c.open for c in before_the_gap] == [100_000_000, 100_000_001, 100_000_002]
    assert await db.list_candles("SOL_USDC", 60, T0_MS + 5000 * MINUTE_MS, None) == []
    assert await db.list_candles("SOL_USDC", 60, None, T0_MS - MINUTE_MS) == []


async def test_unusable_ticks_are_skipped_and_bad_intervals_rejected(db: Database) -> None:
    too_precise = tick(T0_MS, 236_140_000_1, scale=7)  # 7 decimals for a 6-decimal asset
    await db.record_ticks([too_precise, tick(T0_MS, 1, asset="DOGE_USDC")])
    assert await db.list_candles("SOL_USDC", 60, None, None) == []
    with pytest.raises(ValueError):
        await db.list_candles("SOL_USDC", 120, None, None)


def _expected(ticks: list, interval_ms: int) -> list[CandleRow]:
    """Candles folded from the ticks themselves, the slow and obvious way."""
    buckets: dict[int, list] = {}
    for t in sorted(ticks, key=lambda t: t.ts_us):
        at_ms = t.ts_us // 1000
        buckets.setdefault(at_ms - at_ms % interval_ms, []).append(t.ask.units)
    return [
        CandleRow(start, asks[0], max(asks), min(asks), asks[-1], 6)
        for start, asks in sorted(buckets.items())
    ]


async def test_hours_days_and_four_hours_come_from_the_hourly_rows_and_agree(
    db: Database,
) -> None:
    """1h, 4h and 1d read the hourly candles; written from the same ticks in any order, in
    batches replayed or late, they give what folding the ticks by hand gives."""
    rng = random.Random(7)
    hour_ms = 60 * MINUTE_MS
    start = T0_MS - T0_MS % (24 * hour_ms)
    at = sorted(rng.sample(range(0, 50 * hour_ms, 1000), 400))  # distinct source times
    ticks = [tick(start + ms, 100_000_000 + rng.randrange(10_000_000)) for ms in at]
    batches = [ticks[i : i + 37] for i in range(0, len(ticks), 37)]
    rng.shuffle(batches)
    for batch in batches + batches[:3]:  # out of order, and three replayed
        await db.record_ticks(batch)

    for interval_s in (3600, 14400, 86400):
        got = await db.list_candles("SOL_USDC", interval_s, None, None)
        assert got == _expected(ticks, interval_s * 1000), interval_s
    # The minutes still agree with the ticks too.
    assert await db.list_candles("SOL_USDC", 900, start, None) == _expected(ticks, 900_000)[:1000]


async def test_a_day_of_bars_reads_the_hours_not_the_minutes(db: Database) -> None:
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "GROUP BY" in statement:
            seen.append(statement)

    await db.record_ticks([tick(T0_MS, 100_000_000)])
    engine = db._engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        assert len(await db.list_candles("SOL_USDC", 86400, None, None)) == 1
        assert len(await db.list_candles("SOL_USDC", 900, None, None)) == 1
    finally:
        event.remove(engine, "before_cursor_execute", before)
    day, quarter = seen
    assert "FROM candles_1h" in day and "candles_1m" not in day
    assert "FROM candles_1m" in quarter
