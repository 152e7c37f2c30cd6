"""Candles from ask prices: 1-minute and 1-hour rows, written from the same ticks, and every
interval aggregated in SQL from the finest of them that divides it (1m, 5m and 15m from the
minutes; 1h, 4h and 1d from the hours), so a request reads at most 24 rows per bar.

Writes are idempotent and order-independent: high/low are max/min, and open/close are chosen
by the source time of their tick (kept beside them), so a batch replayed after a crash, or
claimed late from a dead consumer, leaves the same candle as one clean pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from exchange.v1 import prices_pb2
from sqlalchemy import Table, case, func, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.sql import Insert

from gateway_svc.db.rows import decimal_units, ms_to_ts
from gateway_svc.db.schema import candles_1h, candles_1m
from mesh.assets import ASSET_DECIMALS
from mesh.config import MAX_CANDLE_BARS

log = logging.getLogger(__name__)

INTERVALS_S = (60, 300, 900, 3600, 14400, 86400)
MAX_CANDLES = MAX_CANDLE_BARS  # CANDLES_MAX_BARS's bound
_MINUTE_US = 60_000_000
_HOUR_US = 3_600_000_000
HOURLY_FROM_S = 3600
"""Intervals from this one up are aggregated from the hourly rows."""


@dataclass
class _Bar:
    open: int
    high: int
    low: int
    close: int
    open_us: int
    close_us: int

    def take(self, other: _Bar) -> None:
        """Fold `other` in by the SQL's rules: high/low are max/min, open and close those of
        the earliest and latest source times (a tie keeps the earlier open and takes the later
        close, in the order folded)."""
        self.high = max(self.high, other.high)
        self.low = min(self.low, other.low)
        if other.open_us < self.open_us:
            self.open, self.open_us = other.open, other.open_us
        if other.close_us >= self.close_us:
            self.close, self.close_us = other.close, other.close_us


def minute_bars(ticks: Sequence[prices_pb2.PriceTick]) -> list[dict[str, Any]]:
    """One row per (asset, minute) for this batch. Postgres cannot upsert the same row twice
    in one statement, so the batch is folded here first, by the same rules as the SQL."""
    bars: list[tuple[str, int, _Bar]] = []
    for tick in ticks:
        scale = ASSET_DECIMALS.get(tick.asset)
        if scale is None or not tick.HasField("ask"):
            log.warning("candles: skipping a tick for %r without a usable ask", tick.asset)
            continue
        try:
            ask = decimal_units(tick.ask, scale, f"{tick.asset} ask")
        except ValueError as exc:
            log.warning("candles: skipping tick: %s", exc)
            continue
        ts = tick.ts_us
        bars.append((tick.asset, ts, _Bar(ask, ask, ask, ask, ts, ts)))
    return _folded(bars, _MINUTE_US)


def hour_bars(minutes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (asset, hour) for this batch, from its `minute_bars`: each keeps its ticks'
    source times, so the hours come out as if folded from the ticks themselves."""
    bars = [
        (
            row["asset"],
            row["open_time_us"],
            _Bar(
                row["open"],
                row["high"],
                row["low"],
                row["close"],
                row["open_time_us"],
                row["close_time_us"],
            ),
        )
        for row in minutes
    ]
    return _folded(bars, _HOUR_US)


def _folded(bars: Sequence[tuple[str, int, _Bar]], width_us: int) -> list[dict[str, Any]]:
    """(asset, source time, bar) folded into one row per (asset, bucket of `width_us`)."""
    folded: dict[tuple[str, int], _Bar] = {}
    for asset, at_us, bar in bars:
        key = (asset, at_us - at_us % width_us)
        into = folded.get(key)
        if into is None:
            folded[key] = bar
        else:
            into.take(bar)
    return [
        {
            "asset": asset,
            "bucket_start": ms_to_ts(start_us // 1000),
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "scale": ASSET_DECIMALS[asset],
            "open_time_us": bar.open_us,
            "close_time_us": bar.close_us,
        }
        # In key order: two batches written at once lock shared rows in the same order.
        for (asset, start_us), bar in sorted(folded.items())
    ]


def upsert_bars(rows: list[dict[str, Any]], table: Table = candles_1m) -> Insert:
    stmt = insert(table).values(rows)
    new, old = stmt.excluded, table.c
    earlier = new.open_time_us < old.open_time_us
    later = new.close_time_us >= old.close_time_us
    return stmt.on_conflict_do_update(
        index_elements=[old.asset, old.bucket_start],
        set_={
            "open": case((earlier, new.open), else_=old.open),
            "open_time_us": func.least(old.open_time_us, new.open_time_us),
            "high": func.greatest(old.high, new.high),
            "low": func.least(old.low, new.low),
            "close": case((later, new.close), else_=old.close),
            "close_time_us": func.greatest(old.close_time_us, new.close_time_us),
            "scale": new.scale,
        },
    )


# First open and last close per bucket; rows sit on whole minutes (or hours), so the epoch
# cast is exact.
_AGGREGATE = """
SELECT bucket_s, open, high, low, close, scale FROM (
    SELECT (extract(epoch FROM bucket_start)::bigint / :interval_s) * :interval_s AS bucket_s,
           (array_agg(open ORDER BY bucket_start))[1] AS open,
           max(high) AS high,
           min(low) AS low,
           (array_agg(close ORDER BY bucket_start DESC))[1] AS close,
           max(scale) AS scale
    FROM {table}
    WHERE asset = :asset AND bucket_start >= :low AND bucket_start < :high
    GROUP BY 1
) AS buckets
ORDER BY bucket_s {order}
LIMIT :limit
"""


@dataclass(frozen=True)
class CandleQueries:
    """What a request runs against one table: where its bars begin (or end), then the bars."""

    first: Any
    last: Any
    oldest_first: Any
    newest_first: Any


# Where a request's bars really begin or end (the primary key's index answers both): the
# first row in [low, high) when it names a start, else the last one. The window of at most
# `bars` buckets is laid from there, so a start long before the first candle, an end long
# after the last, or a gap, does not spend the window on buckets that hold nothing.
_EDGE = (
    "SELECT {agg}(bucket_start) FROM {table}"
    " WHERE asset = :asset AND bucket_start >= :low AND bucket_start < :high"
)


def _queries(table: Table) -> CandleQueries:
    return CandleQueries(
        first=text(_EDGE.format(agg="min", table=table.name)),
        last=text(_EDGE.format(agg="max", table=table.name)),
        oldest_first=text(_AGGREGATE.format(table=table.name, order="ASC")),
        newest_first=text(_AGGREGATE.format(table=table.name, order="DESC")),
    )


_BY_MINUTE, _BY_HOUR = _queries(candles_1m), _queries(candles_1h)


def queries_for(interval_s: int) -> CandleQueries:
    return _BY_HOUR if interval_s >= HOURLY_FROM_S else _BY_MINUTE


# Far enough either way for timestamptz, and whole days, so they align with every interval.
_FAR_PAST_MS = -(10**13) // 86_400_000 * 86_400_000
_FAR_FUTURE_MS = 10**14 // 86_400_000 * 86_400_000


def bucket_range(
    interval_s: int, start_ms: int | None, end_ms: int | None, bars: int | None = None
) -> tuple[int, int]:
    """[low, high) in ms covering whole buckets: the bucket holding start_ms through the one
    holding end_ms, so no candle comes back half-built from a partial range.

    With `bars`, the range is also at most that many buckets wide, so the aggregate reads
    only the rows it can return (a public read must not fold the whole history): the
    first `bars` from start_ms, or without start_ms the last `bars` up to end_ms."""
    if interval_s not in INTERVALS_S:
        raise ValueError(f"interval must be one of {INTERVALS_S} seconds, got {interval_s}")
    step = interval_s * 1000
    low = _FAR_PAST_MS if start_ms is None else start_ms - start_ms % step
    high = _FAR_FUTURE_MS if end_ms is None else end_ms - end_ms % step + step
    if bars is not None:
        if start_ms is not None:
            high = min(high, low + bars * step)
        else:
            low = max(low, high - bars * step)
    return low, high
