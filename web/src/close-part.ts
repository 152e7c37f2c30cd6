// Closing part of a position: a margin to close (typed, or a quarter, half, three quarters or
// all of it), the part's PnL and return at the live mark before confirming, then CLOSE_TRADE
// with that margin (SPEC section 3a). The part's PnL is section 4's on its own notional, capped
// at the part's margin: money.ts's cappedPnl, the formula the engine's vectors test.

import { l10Of } from "./account";
import { engine, Raw } from "./api";
import { rejectionErrors, showFieldErrors } from "./field-errors";
import { apiPrice, apiUsd, market, usd } from "./format";
import { cappedPnl, floorDiv, fromUnits, toUnits, USD_SCALE } from "./money";
import { notify } from "./notices";
import { decimalsOf, store } from "./store";
import { positiveDecimal } from "./ticket-input";
import { showFigure } from "./figures";
import type { OpenTrade } from "./types";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const INPUTS = { margin: "cp-margin" };

interface Closed {
  asset: string;
  pnl: number;
  closePrice: number;
  totalReturn: number;
  remainingMargin: number;
}

let closing: { trade: OpenTrade; margin: bigint; after: () => void } | null = null;

/** `pct` percent of a margin, floored to the USD unit (100 is all of it, exactly). */
export function marginPart(margin: bigint, pct: number): bigint {
  return pct >= 100 ? margin : floorDiv(margin * BigInt(pct), 100n);
}

/** The smallest margin that closes: one USD unit, as the page writes USD (0.0001 USD). */
const SMALLEST_PART = `${usd(1n)} USD`;

/** What the chips say under them when one of them closes nothing. */
export const CHIPS_HINT =
  `A share smaller than ${SMALLEST_PART} cannot be closed: close it all, or type the part.`;

/** Why a chip's share of `margin` cannot be closed, or null. A share floored to nothing (a
 * quarter of one USD unit) closes nothing, and the exchange refuses a margin of 0. (Floored, a
 * share below 100% never reaches the whole margin, so "All" is the only chip that closes it.) */
export function chipRefusal(margin: bigint, pct: number): string | null {
  if (marginPart(margin, pct) > 0n) return null;
  return `${pct}% of ${usd(margin)} USD is less than ${SMALLEST_PART}, the smallest part that closes`;
}

/** What closing `part` of the position at the current quote would give, or null. */
export function partPreview(trade: OpenTrade, part: bigint, bid: bigint, ask: bigint, decimals: number):
  { pnl: bigint; returned: bigint } | null {
  const entry = toUnits(trade.entryPrice, decimals);
  if (entry === null || entry <= 0n || part <= 0n) return null;
  const long = trade.direction === "LONG";
  const pnl = cappedPnl(long, part, l10Of(trade), entry, long ? bid : ask);
  return { pnl, returned: part + pnl };
}

function readPart(): bigint | string {
  if (!closing) return "no position";
  const part = positiveDecimal($<HTMLInputElement>("cp-margin").value, USD_SCALE, "margin");
  if (typeof part === "string") return part;
  if (part > closing.margin) return `at most the position's margin, ${usd(closing.margin)} USD`;
  return part;
}

export function renderPartPreview(): void {
  if (!closing || !$<HTMLDialogElement>("close-part").open) return;
  const out = (k: string, v: string): void => showFigure("#cp-preview", k, v);
  const part = readPart();
  const quote = store.quotes.get(closing.trade.asset);
  const p = typeof part === "string" || !quote ? null
    : partPreview(closing.trade, part, quote.bid, quote.ask, quote.decimals);
  out("pnl", p ? `${usd(p.pnl, { signed: true })} USD` : "–");
  out("returned", p ? `${usd(p.returned)} USD` : "–");
  out("left", typeof part === "string" ? "–" : `${usd(closing.margin - part)} USD`);
}

export function openPartClose(trade: OpenTrade, after: () => void): void {
  const margin = toUnits(trade.margin, USD_SCALE) ?? 0n;
  closing = { trade, margin, after };
  $("cp-what").textContent = `${trade.direction} ${market(trade.asset)} from ` +
    `${apiPrice(trade.entryPrice, decimalsOf(trade.asset))}, margin ${apiUsd(trade.margin)} USD`;
  const half = marginPart(margin, 50);
  $<HTMLInputElement>("cp-margin").value = half > 0n ? fromUnits(half, USD_SCALE) : "";
  renderChips(margin);
  showFieldErrors($("cp-form"), INPUTS, {});
  $<HTMLDialogElement>("close-part").showModal();
  $<HTMLInputElement>("cp-margin").select();
  renderPartPreview();
}

/** A chip whose share closes nothing is disabled, and says why (its tooltip and the hint). */
function renderChips(margin: bigint): void {
  let refused = false;
  for (const chip of document.querySelectorAll<HTMLButtonElement>("#close-part [data-pct]")) {
    const refusal = chipRefusal(margin, Number(chip.dataset.pct));
    chip.disabled = refusal !== null;
    chip.title = refusal ?? "";
    refused ||= refusal !== null;
  }
  $("cp-chips-hint").textContent = refused ? CHIPS_HINT : "";
}

async function submit(): Promise<void> {
  if (!closing) return;
  const current = closing;
  const part = readPart();
  if (typeof part === "string") {
    showFieldErrors($("cp-form"), INPUTS, { margin: part });
    return;
  }
  showFieldErrors($("cp-form"), INPUTS, {});
  const button = $<HTMLButtonElement>("cp-submit");
  button.disabled = true;
  try {
    const d = await engine<Closed>({ command: "CLOSE_TRADE", tradeId: current.trade.tradeId,
      margin: new Raw(fromUnits(part, USD_SCALE)) });
    $<HTMLDialogElement>("close-part").close();
    const left = toUnits(d.remainingMargin, USD_SCALE) ?? 0n;
    notify(`Closed ${usd(part)} USD of ${market(d.asset)} ` +
      `${current.trade.direction} at ${apiPrice(d.closePrice, decimalsOf(d.asset))}: PnL ` +
      `${apiUsd(d.pnl, { signed: true })} USD, ${apiUsd(d.totalReturn)} USD returned` +
      (left > 0n ? `, ${usd(left)} USD still open` : ""), "info");
  } catch (err) {
    showFieldErrors($("cp-form"), INPUTS, rejectionErrors(err));
  } finally {
    button.disabled = false;
    current.after(); // after any answer: the page's own command's event reloads nothing (ownOrder)
  }
}

export function setupPartClose(): void {
  $<HTMLFormElement>("cp-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void submit();
  });
  $("cp-form").addEventListener("input", renderPartPreview);
  for (const chip of document.querySelectorAll<HTMLButtonElement>("#close-part [data-pct]")) {
    chip.addEventListener("click", () => {
      if (!closing) return;
      $<HTMLInputElement>("cp-margin").value =
        fromUnits(marginPart(closing.margin, Number(chip.dataset.pct)), USD_SCALE);
      renderPartPreview();
    });
  }
  $<HTMLDialogElement>("close-part").addEventListener("close", () => {
    closing = null;
  });
}
