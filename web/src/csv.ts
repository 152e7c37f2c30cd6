// History as CSV: RFC 4180 quoting, numbers exactly as the API sent them.

import { unfilled } from "./ended";
import type { ClosedTrade } from "./types";

export const CSV_COLUMNS = ["closedAt", "tradeId", "asset", "direction", "status", "margin",
  "leverage", "entryPrice", "exitPrice", "pnl", "totalReturn", "openedAt",
  // What the table shows beside the status: the part of a partial close, the order a trade came
  // from (or that ended unfilled), and why an order was rejected.
  "partial", "orderType", "price", "reason"] as const;

const TIMES = new Set<string>(["closedAt", "openedAt"]);

function field(column: string, value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = TIMES.has(column) && typeof value === "number"
    ? new Date(value).toISOString() : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A row as the file holds it: an order that ended unfilled has no entry price (its price is
 * in `price`), as in the table. */
export function historyCsv(trades: ClosedTrade[]): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const trade of trades) {
    const noEntry = unfilled(trade);
    lines.push(CSV_COLUMNS.map((column) => field(column,
      noEntry && column === "entryPrice" ? null : trade[column as keyof ClosedTrade])).join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}

export function filterHistory(trades: ClosedTrade[], asset: string, status: string): ClosedTrade[] {
  return trades.filter((t) => (!asset || t.asset === asset) && (!status || t.status === status));
}
