// The account panel's numbers, computed from the server's free balance and the same live
// quotes that mark the positions: one price drives both, so they always agree.
// Equity = free balance + used margin + margin reserved by pending orders + unrealized PnL;
// margin level = equity / used * 100 % (MetaTrader's percentage), as
// engine_svc/core/engine.py's account summary does.

import { cappedPnl, floorDiv, toUnits, USD_SCALE } from "./money";
import type { OpenTrade, Quote } from "./types";

export interface LiveAccount {
  balance: bigint;
  usedMargin: bigint;
  unrealizedPnl: bigint;
  equity: bigint;
  freeMargin: bigint;
  marginLevelPct: bigint | null; // percent with 2 decimals (scale 2), floored
}

/** A position's leverage as L10 ("100" -> 1000, "1.5" -> 15). */
export function l10Of(trade: Pick<OpenTrade, "leverage">): number {
  const units = toUnits(trade.leverage, 1);
  if (units === null) throw new Error(`bad leverage ${trade.leverage}`);
  return Number(units);
}

/** Unrealized PnL at the close-side price (bid for LONG, ask for SHORT), or null without a
 * quote for the asset yet. */
export function livePnl(trade: OpenTrade, quote: Quote | undefined): bigint | null {
  if (!quote) return null;
  const entry = toUnits(trade.entryPrice, quote.decimals);
  const margin = toUnits(trade.margin, USD_SCALE);
  if (entry === null || margin === null || entry <= 0n) return null;
  const long = trade.direction === "LONG";
  return cappedPnl(long, margin, l10Of(trade), entry, long ? quote.bid : quote.ask);
}

export function liveAccount(
  balance: bigint, reserved: bigint, trades: OpenTrade[], quotes: ReadonlyMap<string, Quote>,
): LiveAccount {
  let used = 0n;
  let unrealized = 0n;
  for (const trade of trades) {
    used += toUnits(trade.margin, USD_SCALE) ?? 0n;
    const fromQuote = livePnl(trade, quotes.get(trade.asset));
    // Before the first tick of an asset, the server's own mark stands in.
    unrealized += fromQuote ?? toUnits(trade.unrealizedPnl ?? 0, USD_SCALE) ?? 0n;
  }
  const equity = balance + used + reserved + unrealized;
  return {
    balance,
    usedMargin: used,
    unrealizedPnl: unrealized,
    equity,
    freeMargin: balance,
    marginLevelPct: used > 0n ? floorDiv(equity * 100n * 100n, used) : null,
  };
}
