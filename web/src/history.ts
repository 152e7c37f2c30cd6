// Closed positions (and, once served, ended orders): newest first, paged, filtered by market
// and status, exported as CSV.

import { api } from "./api";
import { filterHistory, historyCsv } from "./csv";
import { apiPrice, apiUsd, dateTime, leverage } from "./format";
import { l10Of } from "./account";
import { reportError } from "./notices";
import { decimalsOf, store } from "./store";
import type { ClosedTrade } from "./types";

/** Every end a trade or order can have (SPEC section 3a); the filter offers them all. */
export const STATUSES = ["CLOSED", "LIQUIDATED", "STOP_LOSS", "TAKE_PROFIT", "CANCELLED",
  "EXPIRED", "REJECTED"] as const;
const PAGE = 50;
/** An export loads at most this many more pages (10,000 rows), a request each. */
const MAX_EXPORT_PAGES = 200;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** The first page again (`more` false: after a trade event, a command, a reconnect), or the
 * next one. Pages the trader loaded stay: the newest page's rows above the newest row already
 * shown are put on top, and only when that row is no longer on the newest page (a page's worth
 * of ends since) does the history start again from it. */
export async function loadHistory(more: boolean): Promise<void> {
  const cursor = more && store.historyCursor ? `&cursor=${encodeURIComponent(store.historyCursor)}` : "";
  const page = await api<{ trades: ClosedTrade[]; nextCursor: string | null }>(
    `/api/v1/trades/closed?limit=${PAGE}${cursor}`);
  if (more) {
    store.history = [...store.history, ...page.trades];
    store.historyCursor = page.nextCursor;
  } else {
    const newest = store.history.length > PAGE ? JSON.stringify(store.history[0]) : null;
    const seen = newest === null ? -1 : page.trades.findIndex((t) => JSON.stringify(t) === newest);
    if (seen >= 0) {
      store.history = [...page.trades.slice(0, seen), ...store.history];
    } else {
      store.history = page.trades;
      store.historyCursor = page.nextCursor;
    }
  }
  renderHistory();
}

export function setupHistoryFilters(): void {
  const assetSelect = $<HTMLSelectElement>("h-asset");
  for (const asset of store.assets) assetSelect.add(new Option(asset.replace("_", "/"), asset));
  const statusSelect = $<HTMLSelectElement>("h-status");
  for (const status of STATUSES) statusSelect.add(new Option(status.replace("_", " "), status));
  assetSelect.addEventListener("change", renderHistory);
  statusSelect.addEventListener("change", renderHistory);
  $("h-csv").addEventListener("click", () => void exportCsv().catch(reportError));
  $("h-more").addEventListener("click", () => void loadHistory(true).catch(reportError));
}

function visible(): ClosedTrade[] {
  return filterHistory(store.history, $<HTMLSelectElement>("h-asset").value,
    $<HTMLSelectElement>("h-status").value);
}

export function renderHistory(): void {
  const body = $<HTMLTableElement>("history").tBodies[0];
  body.replaceChildren();
  const rows = visible();
  for (const t of rows) {
    const d = decimalsOf(t.asset);
    const row = body.insertRow();
    row.dataset.trade = t.tradeId;
    const cells: [string, string][] = [
      [dateTime(t.closedAt), ""],
      [t.asset.replace("_", "/"), ""],
      [t.direction, t.direction === "LONG" ? "pos" : "neg"],
      [t.status.replace("_", " ") + (t.partial ? " (part)" : ""), `status ${t.status.toLowerCase()}`],
      [apiUsd(t.margin), "num"],
      [leverage(l10Of(t)), "num"],
      [apiPrice(t.entryPrice, d), "num"],
      [apiPrice(t.exitPrice, d), "num"],
      [apiUsd(t.pnl), `num ${String(t.pnl ?? "").startsWith("-") ? "neg" : t.pnl ? "pos" : ""}`],
    ];
    for (const [text, cls] of cells) {
      const td = row.insertCell();
      td.textContent = text;
      if (cls) td.className = cls;
    }
  }
  if (!rows.length) {
    const td = body.insertRow().insertCell();
    td.colSpan = 9;
    td.className = "muted empty";
    td.textContent = store.session !== "signed-in" ? "Sign in to see your history."
      : store.historyCursor ? "None among the trades loaded so far: load more to look further back."
      : "No closed trades.";
  }
  $("h-more").hidden = !store.historyCursor;
}

/** The whole history, filtered as shown: the pages not loaded yet are loaded first. */
async function exportCsv(): Promise<void> {
  const button = $<HTMLButtonElement>("h-csv");
  button.disabled = true;
  try {
    for (let pages = 0; store.historyCursor && pages < MAX_EXPORT_PAGES; pages += 1) {
      await loadHistory(true);
    }
  } finally {
    button.disabled = false;
  }
  const blob = new Blob([historyCsv(visible())], { type: "text/csv" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `trades-${new Date().toISOString().slice(0, 10)}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
