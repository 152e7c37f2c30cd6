// Closed positions (and, once served, ended orders): newest first, paged, filtered by market
// and status, exported as CSV.

import { api } from "./api";
import { filterHistory, historyCsv } from "./csv";
import { STATUSES, unfilled } from "./ended";
import { apiPnl, apiPrice, apiUsd, dateTime, leverage, market } from "./format";
import { l10Of } from "./account";
import { notify, reportError } from "./notices";
import { decimalsOf, store } from "./store";
import type { ClosedTrade } from "./types";

const PAGE = 50;
/** An export loads at most this many more pages (10,000 rows), a request each. */
const MAX_EXPORT_PAGES = 200;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

interface HistoryPage {
  trades: ClosedTrade[];
  nextCursor: string | null;
}

function fetchPage(cursor: string | null): Promise<HistoryPage> {
  const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
  return api<HistoryPage>(`/api/v1/trades/closed?limit=${PAGE}${after}`);
}

/** A closed row as it is for good (rows never change once written): what a merge matches. */
const rowKey = (t: ClosedTrade): string => JSON.stringify(t);

/** The server's order: newest end first, then the trade id, descending. */
function newestFirst(a: ClosedTrade, b: ClosedTrade): number {
  return (b.closedAt ?? 0) - (a.closedAt ?? 0) || (a.tradeId < b.tradeId ? 1 : a.tradeId > b.tradeId ? -1 : 0);
}

/** The first page again (`more` false: after a trade event, a command, a reconnect), or the
 * next one. Pages the trader loaded stay: the newest page's rows not shown yet join them in
 * the server's order (a row the ledger wrote late, with the same end time as one shown, too),
 * and only when the newest page holds none of the rows shown (a page's worth of ends since)
 * does the history start again from it. */
export async function loadHistory(more: boolean): Promise<void> {
  const page = await fetchPage(more ? store.historyCursor : null);
  if (more) {
    store.history = [...store.history, ...page.trades];
    store.historyCursor = page.nextCursor;
  } else if (store.history.length > PAGE) {
    const shown = new Set(store.history.map(rowKey));
    const fresh = page.trades.filter((t) => !shown.has(rowKey(t)));
    if (fresh.length < page.trades.length) {
      store.history = [...fresh, ...store.history].sort(newestFirst);
    } else {
      store.history = page.trades;
      store.historyCursor = page.nextCursor;
    }
  } else {
    store.history = page.trades;
    store.historyCursor = page.nextCursor;
  }
  renderHistory();
}

export function setupHistoryFilters(): void {
  const assetSelect = $<HTMLSelectElement>("h-asset");
  for (const asset of store.assets) assetSelect.add(new Option(market(asset), asset));
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

/** A closed row's cells (text, class), as the table shows them. The order a row came from (or
 * that ended unfilled) has its type and price in a column of its own: an unfilled order has no
 * entry, and its price under "Entry" read as a fill (a trader audit). */
export function historyCells(t: ClosedTrade): [string, string][] {
  const d = decimalsOf(t.asset);
  const pnl = apiPnl(t.pnl);
  return [
    [dateTime(t.closedAt), ""],
    [market(t.asset), ""],
    [t.direction, t.direction === "LONG" ? "pos" : "neg"],
    [t.status.replace("_", " ") + (t.partial ? " (part)" : ""), `status ${t.status.toLowerCase()}`],
    [apiUsd(t.margin), "num"],
    [leverage(l10Of(t)), "num"],
    [t.orderType ? `${t.orderType} ${apiPrice(t.price, d)}` : "Market", "num order"],
    [unfilled(t) ? "–" : apiPrice(t.entryPrice, d), "num entry"],
    [apiPrice(t.exitPrice, d), "num"],
    [pnl.text, `num ${pnl.cls}`.trim()],
  ];
}

export function renderHistory(): void {
  const body = $<HTMLTableElement>("history").tBodies[0];
  body.replaceChildren();
  const rows = visible();
  for (const t of rows) {
    const row = body.insertRow();
    row.dataset.trade = t.tradeId;
    for (const [text, cls] of historyCells(t)) {
      const td = row.insertCell();
      td.textContent = text;
      if (cls) td.className = cls;
    }
  }
  if (!rows.length) {
    const td = body.insertRow().insertCell();
    td.colSpan = 10;
    td.className = "muted empty";
    td.textContent = store.session !== "signed-in" ? "Sign in to see your history."
      : store.historyCursor ? "None among the trades loaded so far: load more to look further back."
      : "No closed trades.";
  }
  $("h-more").hidden = !store.historyCursor;
}

/** The whole history, filtered as shown: the pages not loaded yet are fetched first (the
 * table is drawn again once, at the end). */
async function exportCsv(): Promise<void> {
  const button = $<HTMLButtonElement>("h-csv");
  button.disabled = true;
  try {
    const fetched: ClosedTrade[] = [];
    let cursor = store.historyCursor;
    for (let pages = 0; cursor && pages < MAX_EXPORT_PAGES; pages += 1) {
      const page = await fetchPage(cursor);
      fetched.push(...page.trades);
      cursor = page.nextCursor;
    }
    if (fetched.length) {
      store.history = [...store.history, ...fetched];
      store.historyCursor = cursor;
      renderHistory();
    }
    if (cursor) {
      notify(`The export holds the newest ${store.history.length} trades; older ones are left out.`);
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
