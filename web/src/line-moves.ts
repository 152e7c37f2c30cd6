// A price line moved on the chart -> the MODIFY_TRADE it means, and the server's verdict told.
// A trailing stop's line sets a new distance: from the close-side price the trail follows
// (the bid for a LONG, the ask for a SHORT) to where the line was let go (SPEC section 3a).

import { ApiError, engine, Raw } from "./api";
import type { PriceLineSpec } from "./chart-handles";
import { market, price } from "./format";
import { fromUnits, toUnits } from "./money";
import { notify } from "./notices";
import { decimalsOf, store } from "./store";

const NAMES = { sl: "stop loss", tp: "take profit", trail: "trailing stop", order: "order price" };
const FIELDS = { sl: "stopLossPrice", tp: "takeProfitPrice", trail: "trailingStopDistance",
  order: "price" };

/** The trailing distance a line at `at` means for a trade of `direction`, or null when the line
 * is on the wrong side of the price (a LONG's trail is below the bid, a SHORT's above the ask). */
export function trailingDistance(direction: string, at: bigint, bid: bigint, ask: bigint): bigint | null {
  const distance = direction === "LONG" ? bid - at : at - ask;
  return distance > 0n ? distance : null;
}

export async function moveLine(spec: PriceLineSpec, priceText: string): Promise<void> {
  if (!spec.tradeId || !(spec.kind in FIELDS)) return;
  const kind = spec.kind as keyof typeof FIELDS;
  const trade = [...store.openTrades, ...store.pendingOrders].find((t) => t.tradeId === spec.tradeId);
  if (!trade) return;
  const d = decimalsOf(trade.asset);
  const at = toUnits(priceText, d);
  if (at === null) return;
  let value = at;
  if (kind === "trail") {
    const quote = store.quotes.get(trade.asset);
    const distance = quote ? trailingDistance(trade.direction, at, quote.bid, quote.ask) : null;
    if (distance === null) {
      notify(`Trailing stop not moved: a ${trade.direction} trail stays ` +
        `${trade.direction === "LONG" ? "below the bid" : "above the ask"}`, "bad");
      return;
    }
    value = distance;
  }
  const what = `${NAMES[kind]} of ${market(trade.asset)} ${trade.direction}`;
  const shown = price(value, d);
  try {
    await engine({ command: "MODIFY_TRADE", tradeId: trade.tradeId,
      [FIELDS[kind]]: new Raw(fromUnits(value, d)) });
    notify(kind === "trail" ? `The ${what} now trails by ${shown}: confirmed`
      : `The ${what} is now ${shown}: confirmed`, "good");
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 0) throw err;
    notify(`The ${what} stays where it was: ${err.message}`, "bad");
  }
}
