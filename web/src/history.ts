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

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

export async function loadHistory(more: boolean): Promise<void> {
  const cursor = more && store.historyCursor ? `&cursor=${encodeURIComponent(store.historyCursor)}` : "";
  const page = await api<{ trades: ClosedTrade[]; nextCursor: string | null }>(
    `/api/v1/trades/closed?limit=${PAGE}${cursor}`);
  store.history = more ? [...store.history, ...page.trades] : page.trades;
  store.historyCursor = page.nextCursor;
  renderHistory();
}

export function setupHistoryFilters(): void {
  const assetSelect = $<HTMLSelectElement>("h-asset");
  for (const asset of store.assets) assetSelect.add(new Option(asset.replace("_", "/"), asset));
  const statusSelect = $<HTMLSelectElement>("h-status");
  for (const status of STATUSES) statusSelect.add(new Option(status.replace("_", " "), status));
  assetSelect.addEventListener("change", renderHistory);
  statusSelect.addEventListener("change", renderHistory);
  $("h-csv").addEventListener("click", exportCsv);
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
    td.textContent = store.session === "signed-in" ? "No closed trades." : "Sign in to see your history.";
  }
  $("h-more").hidden = !store.historyCursor;
}

function exportCsv(): void {
  const blob = new Blob([historyCsv(visible())], { type: "text/csv" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `trades-${new Date().toISOString().slice(0, 10)}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
