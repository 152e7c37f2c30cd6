"""Costly public reads: ListCandles answers at most CANDLES_MAX_BARS bars, no range means the
latest bars, and the SQL reads only the range it can return (gateway_svc/db/candle_sql.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import exchange_service_pb2_grpc
from sqlalchemy import event

from gateway_svc.db import Database
from gateway_svc.db.candle_sql import bucket_range
from mesh.config import Settings
from tests.db.factories import MINUTE_MS, T0_MS, tick

MAX_BARS = 5
HISTORY = 40  # minutes of ticks, one a minute


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, candles_max_bars=MAX_BARS)


async def record_history(db: Database) -> None:
    await db.record_ticks([tick(T0_MS + i * MINUTE_MS, 100_000_000 + i) for i in range(HISTORY)])


@pytest.fixture
def candle_ranges(db: Database) -> Iterator[list[tuple[datetime, datetime]]]:
    """The (low, high) of every aggregate the database runs."""
    seen: list[tuple[datetime, datetime]] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if "FROM candles_1m" in statement and "GROUP BY" in statement:
            values = params if isinstance(params, dict) else {}
            seen.append((values.get("low"), values.get("high")))

    engine = db._engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    yield seen
    event.remove(engine, "before_cursor_execute", before)


def opens(reply: xs.ListCandlesResponse) -> list[int]:
    return [candle.open.units for candle in reply.candles]


async def test_no_range_gives_the_latest_bars_up_to_the_cap(
    exchange: exchange_service_pb2_grpc.ExchangeServiceStub, db: Database, candle_ranges: list
) -> None:
    await record_history(db)
    reply = await exchange.ListCandles(
        xs.ListCandlesRequest(asset="SOL_USDC", interval=xs.CANDLE_INTERVAL_1M)
    )
    last = 100_000_000 + HISTORY - 1
    assert opens(reply) == list(range(last - MAX_BARS + 1, last + 1))
    # The aggregate read MAX_BARS minutes, not the whole history.
    ((low, high),) = candle_ranges
    assert (high - low).total_seconds() == MAX_BARS * 60


async def test_a_wide_range_is_cut_to_the_cap_from_its_start(
    exchange: exchange_service_pb2_grpc.ExchangeServiceStub, db: Database, candle_ranges: list
) -> None:
    await record_history(db)
    reply = await exchange.ListCandles(
        xs.ListCandlesRequest(
            asset="SOL_USDC", interval=xs.CANDLE_INTERVAL_1M, start_time_ms=1, end_time_ms=10**13
        )
    )
    # From the start: the first bars there are (the range began long before the history).
    assert len(reply.candles) <= MAX_BARS
    ((low, high),) = candle_ranges
    assert (high - low).total_seconds() == MAX_BARS * 60
    from_t0 = await exchange.ListCandles(
        xs.ListCandlesRequest(asset="SOL_USDC", interval=xs.CANDLE_INTERVAL_1M, start_time_ms=T0_MS)
    )
    assert opens(from_t0) == [100_000_000 + i for i in range(MAX_BARS)]


async def test_an_end_alone_gives_the_bars_before_it(
    exchange: exchange_service_pb2_grpc.ExchangeServiceStub, db: Database
) -> None:
    await record_history(db)
    end = T0_MS + 20 * MINUTE_MS
    reply = await exchange.ListCandles(
        xs.ListCandlesRequest(asset="SOL_USDC", interval=xs.CANDLE_INTERVAL_1M, end_time_ms=end)
    )
    assert opens(reply) == [100_000_000 + i for i in range(20 - MAX_BARS + 1, 21)]


async def test_coarse_intervals_are_capped_in_bars_too(
    exchange: exchange_service_pb2_grpc.ExchangeServiceStub, db: Database
) -> None:
    await record_history(db)
    reply = await exchange.ListCandles(
        xs.ListCandlesRequest(asset="SOL_USDC", interval=xs.CANDLE_INTERVAL_5M, start_time_ms=1)
    )
    assert len(reply.candles) <= MAX_BARS
    empty = await exchange.ListCandles(
        xs.ListCandlesRequest(asset="BTC_USDC", interval=xs.CANDLE_INTERVAL_1H)
    )
    assert list(empty.candles) == []


def test_bucket_range_with_bars() -> None:
    step = 60_000
    assert bucket_range(60, T0_MS, None, bars=3) == (T0_MS, T0_MS + 3 * step)
    assert bucket_range(60, None, T0_MS, bars=3) == (T0_MS - 2 * step, T0_MS + step)
    # A range narrower than the cap stays as asked.
    assert bucket_range(60, T0_MS, T0_MS + step, bars=10) == (T0_MS, T0_MS + 2 * step)
