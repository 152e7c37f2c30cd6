// Trailing stops between the server's answers: a stop that moves is not an event (SPEC 3a),
// so the page folds each tick into its open trades' trailing stops itself, and the positions,
// the chart's trail line and the modify dialog all read the one `stopLossPrice`.

import { fromUnits, toUnits, trailedStop } from "./money";
import { store } from "./store";
import type { Quote } from "./types";

/** Moves the trailing stops of `asset`'s open trades with `quote`; true when one moved. */
export function followTrails(asset: string, quote: Quote): boolean {
  let moved = false;
  for (const trade of store.openTrades) {
    const { trailingStopDistance: trail, stopLossPrice: level } = trade;
    if (trade.asset !== asset || trail === null || trail === undefined || level === null) continue;
    const stop = toUnits(level, quote.decimals);
    const distance = toUnits(trail, quote.decimals);
    if (stop === null || distance === null) continue;
    const next = trailedStop(trade.direction === "LONG", stop, quote.bid, quote.ask, distance);
    if (next !== stop) {
      trade.stopLossPrice = fromUnits(next, quote.decimals);
      moved = true;
    }
  }
  return moved;
}
