// The order ticket: market, limit and stop orders (LONG/SHORT, margin, leverage, optional SL,
// TP, trailing distance, and an expiry for a pending order), with the preview from money.ts
// before confirming and the server's rejection beside the field it names.

import { engine, Raw } from "./api";
import { clearFieldError, rejectionErrors, showFieldErrors } from "./field-errors";
import { apiPrice, leverage, market, price, usd } from "./format";
import { fromUnits, MAINTENANCE_PPM, USD_SCALE } from "./money";
import { notify } from "./notices";
import { previewOrder } from "./preview";
import { leverageL10, readTicket, type TicketText, type TicketType } from "./ticket-input";
import { decimalsOf, store } from "./store";
import { showFigure } from "./figures";
import { stalePricesPause } from "./feed";
import type { Direction } from "./types";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** The field names (the server's and the ticket's own) -> the input they are about. The error
 * line under input `x` is `x-error`. */
const INPUTS: Record<string, string> = {
  price: "t-price",
  margin: "t-margin",
  leverage: "t-leverage-x",
  stopLossPrice: "t-sl",
  takeProfitPrice: "t-tp",
  trailingStopDistance: "t-trail",
  expiresAt: "t-expiry",
};

function text(): TicketText {
  return {
    asset: $<HTMLSelectElement>("t-asset").value,
    direction: (document.querySelector<HTMLInputElement>('input[name="direction"]:checked')
      ?.value ?? "LONG") as Direction,
    orderType: $<HTMLSelectElement>("t-type").value as TicketType,
    price: $<HTMLInputElement>("t-price").value,
    margin: $<HTMLInputElement>("t-margin").value,
    leverage: $<HTMLInputElement>("t-leverage-x").value,
    stopLossPrice: $<HTMLInputElement>("t-sl").value,
    takeProfitPrice: $<HTMLInputElement>("t-tp").value,
    trailingStopDistance: $<HTMLInputElement>("t-trail").value,
    expiresAt: $<HTMLInputElement>("t-expiry").value,
  };
}

export function renderTicket(): void {
  const t = text();
  const long = t.direction === "LONG";
  const pending = t.orderType !== "MARKET";
  const submit = $<HTMLButtonElement>("t-submit");
  const verb = long ? "Buy / Long" : "Sell / Short";
  submit.textContent = pending ? `Place ${t.orderType.toLowerCase()} ${long ? "buy" : "sell"} ` +
    `order ${market(t.asset)}` : `${verb} ${market(t.asset)}`;
  submit.className = long ? "long" : "short";
  submit.disabled = !canOrder() || submitting;
  if (store.session === "signed-out") submit.textContent = "Sign in to trade";
  else if (store.staleSince !== null) submit.textContent = "Prices stale: orders paused";
  const paused = store.staleSince === null ? "" : stalePricesPause(store.staleSince);
  if ($("t-paused").textContent !== paused) $("t-paused").textContent = paused;
  for (const el of document.querySelectorAll<HTMLElement>("#ticket .pending-only")) el.hidden = !pending;
  $("t-entry-label").textContent = pending ? "Entry (at the order's price)" : "Entry (at market)";
  $("t-price-hint").textContent = !pending ? "" : priceHint(t.orderType, long);
  const decimals = decimalsOf(t.asset);
  const { values, errors } = readTicket(t, decimals);
  const quote = store.quotes.get(t.asset);
  const out = (k: string, v: string): void => showFigure("#preview", k, v);
  if (!quote || errors.margin || errors.leverage || (pending && values.price === null)) {
    for (const k of ["entry", "notional", "required", "liquidation", "pnlSl", "pnlTp"]) out(k, "–");
    return;
  }
  const p = previewOrder({ ...values, bid: quote.bid, ask: quote.ask,
    maintenancePpm: MAINTENANCE_PPM, price: pending ? values.price : null });
  out("entry", price(p.entry, decimals));
  out("notional", `${usd(p.notional.units, { scale: p.notional.scale })} USD`);
  out("required", `${usd(p.requiredMargin)} USD`);
  out("liquidation", p.liquidation === null ? "none" : price(p.liquidation, decimals));
  // A stop that would close at a profit, or a target at a loss, is on the wrong side of the
  // entry: the exchange refuses it, so no figure is shown as if it were one (a trader audit
  // read "PnL at stop loss +160.94 USD").
  const atLevel = (pnl: bigint | null, wrong: boolean): string =>
    pnl === null ? "–" : wrong ? "wrong side of the entry" : `${usd(pnl, { signed: true })} USD`;
  out("pnlSl", atLevel(p.pnlAtStopLoss, (p.pnlAtStopLoss ?? 0n) > 0n));
  out("pnlTp", atLevel(p.pnlAtTakeProfit, (p.pnlAtTakeProfit ?? 0n) < 0n));
}

/** Signed in, with live prices: the ticket takes an order. */
function canOrder(): boolean {
  return store.session === "signed-in" && store.staleSince === null;
}

/** The leverage slider (L10, steps of 0.1x) and the leverage typed in x follow each other: the
 * typed text is what the ticket reads; the slider moves to a valid typed value. Each listens on
 * its own element, so it has followed before the ticket's form re-renders. */
export function setupLeverage(): void {
  const slider = $<HTMLInputElement>("t-leverage");
  const typed = $<HTMLInputElement>("t-leverage-x");
  const follow = (l10: number): void => {
    slider.value = String(l10);
    slider.setAttribute("aria-valuetext", leverage(l10));
  };
  slider.addEventListener("input", () => {
    const l10 = Number(slider.value);
    typed.value = fromUnits(BigInt(l10), 1);
    clearFieldError(typed); // the slider put a valid value there
    follow(l10);
  });
  typed.addEventListener("input", () => {
    const l10 = leverageL10(typed.value);
    if (typeof l10 === "number") follow(l10);
  });
}

/** Where a pending order's price must be (SPEC section 3a), said before the server says it. */
function priceHint(type: TicketType, long: boolean): string {
  if (type === "LIMIT") return long ? "below the ask: buys on a dip" : "above the bid: sells on a rise";
  return long ? "above the ask: buys on a breakout" : "below the bid: sells on a breakdown";
}

interface Opened {
  tradeId: string;
  entryPrice: number;
  liquidationPrice?: number;
  leverage: number;
}

interface Placed {
  tradeId: string;
  orderType: string;
  price: number;
}

/** An order on its way: the ticket sends no other until it is answered. (Every render, on each
 * tick and keystroke, sets the button's state, so the lock lives here, not in the button.) */
let submitting = false;

/** Empty the ticket's price fields (order price, stop loss, take profit, trailing distance). */
export function clearTicketPrices(): void {
  for (const id of ["t-price", "t-sl", "t-tp", "t-trail"]) $<HTMLInputElement>(id).value = "";
  showFieldErrors($("ticket"), INPUTS, {});
}

export async function submitTicket(afterTrade: () => void): Promise<void> {
  if (submitting || !canOrder()) return;
  const t = text();
  const decimals = decimalsOf(t.asset);
  const { values, errors } = readTicket(t, decimals);
  showFieldErrors($("ticket"), INPUTS, errors as Record<string, string>);
  if (Object.keys(errors).length) return;
  const submit = $<HTMLButtonElement>("t-submit");
  submitting = true;
  submit.disabled = true;
  const level = (units: bigint | null): Raw | undefined =>
    units === null ? undefined : new Raw(fromUnits(units, decimals));
  const common = {
    asset: values.asset,
    direction: values.direction,
    margin: new Raw(fromUnits(values.margin, USD_SCALE)),
    leverage: new Raw(String(values.l10)),
    stopLossPrice: level(values.stopLoss),
    takeProfitPrice: level(values.takeProfit),
    trailingStopDistance: level(values.trailingDistance),
  };
  // No answer in time: the order may still run, so the page asks again (same orderId) until
  // it knows, instead of showing a refusal for an order that opens a moment later.
  const unknown = (): void => notify(
    "No answer from the exchange yet: checking whether the order went through…", "info");
  try {
    if (values.orderType === "MARKET") {
      const opened = await engine<Opened>({ command: "CREATE_TRADE", ...common }, unknown);
      notify(`Opened ${values.direction} ${market(values.asset)} at ` +
        `${apiPrice(opened.entryPrice, decimals)}, ${leverage(values.l10)}` +
        (opened.liquidationPrice !== undefined
          ? `, liquidation ${apiPrice(opened.liquidationPrice, decimals)}` : ""), "good");
    } else {
      const placed = await engine<Placed>({ command: "PLACE_ORDER", ...common,
        orderType: values.orderType, price: level(values.price),
        expiresAt: values.expiresAt ?? undefined }, unknown);
      notify(`Placed ${placed.orderType} ${values.direction} ${market(values.asset)} at ` +
        `${apiPrice(placed.price, decimals)}, ${leverage(values.l10)}`, "good");
      // The order's own price and expiry: the next order is given its own.
      $<HTMLInputElement>("t-price").value = "";
      $<HTMLInputElement>("t-expiry").value = "";
    }
    for (const id of ["t-sl", "t-tp", "t-trail"]) $<HTMLInputElement>(id).value = "";
    renderTicket();
  } catch (err) {
    showFieldErrors($("ticket"), INPUTS, rejectionErrors(err));
  } finally {
    submitting = false;
    submit.disabled = !canOrder();
    afterTrade();
  }
}
