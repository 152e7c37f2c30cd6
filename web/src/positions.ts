// Open positions with the live mark and unrealized PnL from the same quotes as the account,
// and on each row: modify (SL, TP, trailing stop), close part, close.

import { l10Of, livePnl } from "./account";
import { engine } from "./api";
import { openPartClose } from "./close-part";
import { apiPnl, apiPrice, apiUsd, leverage, market, price, signClass, usd } from "./format";
import { openModify } from "./modify";
import { notify } from "./notices";
import { decimalsOf, store } from "./store";
import type { OpenTrade } from "./types";

interface Closed {
  tradeId: string;
  asset: string;
  pnl: number;
  closePrice: number;
  totalReturn: number;
}

function cell(row: HTMLTableRowElement, text: string, className = ""): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

/** A small action button; `label` is what a screen reader says (the row's trade named). */
export function actionButton(text: string, label: string): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "secondary small";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  return b;
}

/** Rows are rebuilt after every change: the button that had focus (a dialog gives it back to
 * its opener when it closes) gets it again in the new row, found by its label. */
export function rebuildKeepingFocus(body: HTMLTableSectionElement, build: () => void): void {
  const active = document.activeElement;
  const label = active && body.contains(active) ? active.getAttribute("aria-label") : null;
  body.replaceChildren();
  build();
  nameCells(body);
  if (label) {
    body.querySelector<HTMLElement>(`button[aria-label="${CSS.escape(label)}"]`)?.focus();
  }
}

/** Each cell is given its column's name (`data-label`, from the table's header): a row shown
 * as a card on a phone names its fields with it. */
function nameCells(body: HTMLTableSectionElement): void {
  const head = (body.parentElement as HTMLTableElement | null)?.tHead?.rows[0];
  if (!head) return;
  for (const row of body.rows) {
    [...row.cells].forEach((td, i) => {
      const name = head.cells[i]?.textContent?.trim();
      if (name && td.colSpan === 1) td.dataset.label = name;
    });
  }
}

export function renderPositions(afterClose: () => void): void {
  const body = (document.getElementById("positions") as HTMLTableElement).tBodies[0];
  rebuildKeepingFocus(body, () => positionRows(body, afterClose));
  renderPositionMarks();
}

function positionRows(body: HTMLTableSectionElement, afterClose: () => void): void {
  const count = document.getElementById("positions-count");
  if (count) count.textContent = store.openTrades.length ? `(${store.openTrades.length})` : "";
  for (const t of store.openTrades) {
    const d = decimalsOf(t.asset);
    const row = body.insertRow();
    row.dataset.trade = t.tradeId;
    row.dataset.asset = t.asset;
    cell(row, market(t.asset));
    cell(row, t.direction, t.direction === "LONG" ? "pos" : "neg");
    cell(row, apiUsd(t.margin), "num margin");
    cell(row, leverage(l10Of(t)), "num");
    cell(row, apiPrice(t.entryPrice, d), "num");
    cell(row, "–", "num mark");
    cell(row, apiPrice(t.liquidationPrice, d), "num");
    const sl = cell(row, "", "num sl");
    const level = document.createElement("span");
    level.className = "level";
    level.textContent = apiPrice(t.stopLossPrice, d);
    sl.append(level);
    if (t.trailingStopDistance !== null && t.trailingStopDistance !== undefined) {
      const badge = document.createElement("small");
      badge.className = "trail muted";
      badge.textContent = ` trail ${apiPrice(t.trailingStopDistance, d)}`;
      sl.append(badge);
    }
    cell(row, apiPrice(t.takeProfitPrice, d), "num tp");
    const pnl = apiPnl(t.unrealizedPnl);
    cell(row, pnl.text, `num pnl lead ${pnl.cls}`.trim());
    const actions = row.insertCell();
    actions.className = "actions";
    const what = `${t.direction} ${market(t.asset)} position`;
    const close = actionButton("Close", `Close ${what}`);
    close.addEventListener("click", () => void closeTrade(t, close, afterClose));
    const modify = actionButton("Modify", `Modify ${what}`);
    modify.addEventListener("click", () => openModify(t, afterClose));
    const part = actionButton("Part", `Close part of ${what}`);
    part.addEventListener("click", () => openPartClose(t, afterClose));
    actions.append(modify, part, close);
  }
  if (!store.openTrades.length) {
    const row = body.insertRow();
    const td = cell(row, store.session === "signed-in" ? "No open positions." : "Sign in to trade.",
      "muted empty");
    td.colSpan = 11;
  }
}

/** Per tick: the mark and PnL cells only (the rows stay, so focus and clicks are not lost). */
export function renderPositionMarks(): void {
  for (const t of store.openTrades) {
    const row = document.querySelector<HTMLTableRowElement>(
      `#positions tr[data-trade="${CSS.escape(t.tradeId)}"]`);
    const quote = store.quotes.get(t.asset);
    if (!row || !quote) continue;
    const mark = t.direction === "LONG" ? quote.bid : quote.ask;
    const pnl = livePnl(t, quote);
    const markCell = row.querySelector(".mark");
    const pnlCell = row.querySelector(".pnl");
    const stopCell = row.querySelector(".sl .level");
    if (markCell) markCell.textContent = price(mark, quote.decimals);
    // A trailing stop moves with the ticks (trailing.ts).
    const stop = apiPrice(t.stopLossPrice, quote.decimals);
    if (stopCell && stopCell.textContent !== stop) stopCell.textContent = stop;
    if (pnlCell && pnl !== null) {
      pnlCell.textContent = usd(pnl, { signed: true });
      pnlCell.className = `num pnl lead ${signClass(pnl)}`.trim();
    }
  }
}

async function closeTrade(trade: OpenTrade, button: HTMLButtonElement, after: () => void): Promise<void> {
  const focused = document.activeElement === button;
  button.disabled = true;
  try {
    const d = await engine<Closed>({ command: "CLOSE_TRADE", tradeId: trade.tradeId });
    notify(`Closed ${market(d.asset)} ${trade.direction} at ${apiPrice(d.closePrice, decimalsOf(d.asset))}: ` +
      `PnL ${apiUsd(d.pnl, { signed: true })} USD, ${apiUsd(d.totalReturn)} USD returned`, "info");
    // Its row goes: focus would fall to the page's top. The list's tab keeps a keyboard user here.
    if (focused) document.getElementById("tab-positions")?.focus();
  } catch (err) {
    notify(err instanceof Error ? err.message : String(err), "bad");
    button.disabled = false;
  }
  after();
}
