// The page's state in one place. Quotes from the WebSocket are the single price source: the
// markets, the chart's last candle, the positions' PnL and the account all read `quotes`.

import { ASSET_DECIMALS } from "./money";
import type { ClosedTrade, OpenTrade, PendingOrder, Quote } from "./types";

export type Session = "unknown" | "signed-out" | "no-account" | "signed-in";

export const store = {
  assets: [] as string[],
  quotes: new Map<string, Quote>(),
  /** The open of the candle 24 hours back, per asset, in price units. */
  dayOpen: new Map<string, bigint>(),
  /** When the prices went stale (the socket lost), or null while they are live (feed.ts). */
  staleSince: null as number | null,
  selected: "" as string,
  session: "unknown" as Session,
  email: "",
  /** Free balance from the server (GET /api/v1/account), in USD units. */
  balance: null as bigint | null,
  reservedMargin: null as bigint | null,
  openTrades: [] as OpenTrade[],
  pendingOrders: [] as PendingOrder[],
  history: [] as ClosedTrade[],
  historyCursor: null as string | null,
};

type Listener = () => void;
const listeners = new Map<string, Set<Listener>>();

/** Topics: "quotes", "trades", "account", "session", "selected", "history". */
export function on(topic: string, listener: Listener): void {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic)?.add(listener);
}

export function emit(topic: string): void {
  for (const listener of listeners.get(topic) ?? []) listener();
}

/** The asset's price decimals: as the feed says, else the contract's (SPEC section 4). */
export function decimalsOf(asset: string): number {
  return store.quotes.get(asset)?.decimals ?? ASSET_DECIMALS[asset] ?? 6;
}
