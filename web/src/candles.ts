// Candle arithmetic for the chart, kept apart from drawing so it is tested: buckets aligned
// like the server's (UTC, time // interval), and ticks folded into the last candle.

export const INTERVALS = { "1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000,
  "4h": 14_400_000, "1d": 86_400_000 } as const;
export type Interval = keyof typeof INTERVALS;

/** A candle in price units (BigInt), start time in ms. */
export interface UnitCandle {
  time: number;
  open: bigint;
  high: bigint;
  low: bigint;
  close: bigint;
}

export function bucketStart(ms: number, interval: Interval): number {
  const size = INTERVALS[interval];
  return Math.floor(ms / size) * size;
}

/** The candle after a tick at `ms` with price `price`: the last one updated, a new one, or
 * null when the tick is older than the last candle (never rewrite history). */
export function foldTick(
  last: UnitCandle | undefined, ms: number, price: bigint, interval: Interval,
): UnitCandle | null {
  const start = bucketStart(ms, interval);
  if (!last || start > last.time) {
    return { time: start, open: price, high: price, low: price, close: price };
  }
  if (start < last.time) return null;
  return {
    time: last.time,
    open: last.open,
    high: price > last.high ? price : last.high,
    low: price < last.low ? price : last.low,
    close: price,
  };
}
