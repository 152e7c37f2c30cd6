// Whether the page's prices are live. They come over the one WebSocket: once it is lost, the
// last prices stand still, and they are stale until a fresh one comes. Orders wait meanwhile:
// a market order at a price the trader cannot see is a blind one (a trader audit could click
// Buy on a frozen price and only then read "cannot reach").

import { timeOfDay } from "./format";
import type { SocketState } from "./socket";

/** What the page learns about its prices: the socket's state, the server's word that its
 * price stream was interrupted (the socket stays up while the server reconnects to it), or a
 * price. */
export type FeedNews = SocketState | "interrupted" | "price";

/** When the prices went stale (ms on the viewer's clock), or null while they are live. Lost
 * ("down") or interrupted, they are stale from that moment, through every reconnecting
 * attempt, until a price comes; a restart for a new session goes straight to connecting and
 * loses nothing. A socket live again is not enough: until its first price the page shows the
 * prices from before the outage. The gateway sends each market's latest price first thing on a
 * new socket (StreamPrices), so that first price is a moment behind "live". */
export function staleSince(since: number | null, news: FeedNews, now: number): number | null {
  if (news === "price") return null;
  if (news === "down" || news === "interrupted") return since ?? now;
  return since;
}

/** What the page says while the prices are stale. */
export function stalePricesText(since: number): string {
  return `Prices stale since ${timeOfDay(since)}: reconnecting to the price feed…`;
}

/** Why the ticket takes no order while the prices are stale, and no more: only new orders
 * wait. A position still closes (the exchange closes it at its own price, and closing is how
 * a trader gets out), and its levels can still be changed. */
export function stalePricesPause(since: number): string {
  return `New orders are paused: no live prices since ${timeOfDay(since)}. They resume with ` +
    "the next live price; positions can still be closed, at the exchange's price.";
}
