// The modify dialog: a position's stop loss, take profit and trailing stop, or a pending
// order's price, levels and expiry. One MODIFY_TRADE with what changed; the server's verdict
// is shown beside the field it names, and the dialog closes only when it agrees.

import { engine } from "./api";
import { rejectionErrors, showFieldErrors } from "./field-errors";
import { apiPrice, localInput, market, price } from "./format";
import { decimalText } from "./money";
import { changedFields, type EditText, typedLiquidation } from "./modify-input";
import { notify } from "./notices";
import { l10Of } from "./account";
import { decimalsOf, store } from "./store";
import { showFigure } from "./figures";
import type { OpenTrade, PendingOrder } from "./types";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

const INPUTS: Record<string, string> = {
  price: "m-price",
  stopLossPrice: "m-sl",
  takeProfitPrice: "m-tp",
  trailingStopDistance: "m-trail",
  expiresAt: "m-expiry",
};

interface Editing {
  tradeId: string;
  asset: string;
  pending: boolean;
  /** The side whose price closes it: a LONG's levels trigger on the bid, a SHORT's on the ask. */
  long: boolean;
  /** Leverage in tenths (the engine's L10): a typed order price's liquidation needs it. */
  l10: number;
  liquidation: number | string | null;
  before: EditText;
  after: () => void;
}

let editing: Editing | null = null;

const text = (value: number | string | null | undefined): string =>
  value === null || value === undefined ? "" : decimalText(value);

function isOrder(target: OpenTrade | PendingOrder): target is PendingOrder {
  return "orderType" in target && target.status === "PENDING";
}

export function openModify(target: OpenTrade | PendingOrder, after: () => void): void {
  const pending = isOrder(target);
  const trailing = target.trailingStopDistance !== null && target.trailingStopDistance !== undefined;
  // With a trailing stop, stopLossPrice is where the trail stands now: the stop loss field
  // stays empty (filling it replaces the trail with a fixed stop).
  const before: EditText = {
    stopLossPrice: trailing ? "" : text(target.stopLossPrice),
    takeProfitPrice: text(target.takeProfitPrice),
    trailingStopDistance: text(target.trailingStopDistance),
    ...(pending ? { price: text(target.price), expiresAt: localInput(target.expiresAt) } : {}),
  };
  editing = { tradeId: target.tradeId, asset: target.asset, pending, before, after,
    long: target.direction === "LONG", l10: l10Of(target),
    liquidation: target.liquidationPrice };
  const d = decimalsOf(target.asset);
  const what = pending ? `${target.orderType} ${target.direction} ${market(target.asset)} ` +
    `at ${apiPrice(target.price, d)}` : `${target.direction} ${market(target.asset)} ` +
    `from ${apiPrice(target.entryPrice, d)}`;
  $("modify-h").textContent = pending ? "Modify order" : "Modify position";
  $("modify-what").textContent = what;
  for (const el of document.querySelectorAll<HTMLElement>("#modify .order-only")) el.hidden = !pending;
  $<HTMLInputElement>("m-price").value = before.price ?? "";
  $<HTMLInputElement>("m-sl").value = before.stopLossPrice;
  $<HTMLInputElement>("m-sl").placeholder = !trailing ? "none" : pending
    ? `trails by ${apiPrice(target.trailingStopDistance, d)} from the fill`
    : `trailing, now at ${apiPrice(target.stopLossPrice, d)}`;
  $<HTMLInputElement>("m-tp").value = before.takeProfitPrice;
  $<HTMLInputElement>("m-tp").placeholder = "none";
  $<HTMLInputElement>("m-trail").value = before.trailingStopDistance;
  $<HTMLInputElement>("m-trail").placeholder = "none";
  $<HTMLInputElement>("m-expiry").value = before.expiresAt ?? "";
  $("m-side").textContent = `A ${target.direction} closes at the ${editing.long ? "bid" : "ask"}: ` +
    "its stop loss and take profit trigger there, and the stop loss must stay short of the " +
    "liquidation price.";
  showFieldErrors($("modify-form"), INPUTS, {});
  renderModifyMarket();
  $<HTMLDialogElement>("modify").showModal();
  $<HTMLInputElement>(pending ? "m-price" : "m-sl").focus();
}

/** The market's live bid and ask and the liquidation price, beside the levels being set (on
 * each tick while the dialog is open): a trader placed levels without them (a trader audit). */
export function renderModifyMarket(): void {
  if (!editing) return;
  const d = decimalsOf(editing.asset);
  const quote = store.quotes.get(editing.asset);
  const out = (k: string, v: string): void => showFigure("#m-market", k, v);
  out("bid", quote ? price(quote.bid, quote.decimals) : "–");
  out("ask", quote ? price(quote.ask, quote.decimals) : "–");
  // A pending order's figure follows the price being typed; the stored one is the server's.
  const typed = editing.pending
    ? typedLiquidation($<HTMLInputElement>("m-price").value, editing.before.price ?? "",
      editing.long, editing.l10, d)
    : undefined;
  $("m-liquidation-label").textContent = !editing.pending ? "Liquidation price"
    : typed === undefined ? "Liquidation price (filled at the order's price)"
      : "Liquidation price (filled at the price typed)";
  const shown = typed !== undefined ? typed : editing.liquidation;
  out("liquidation", shown === null ? "none"
    : typeof shown === "bigint" ? price(shown, d) : apiPrice(shown, d));
}

async function save(): Promise<void> {
  if (!editing) return;
  const current = editing;
  const after: EditText = {
    stopLossPrice: $<HTMLInputElement>("m-sl").value,
    takeProfitPrice: $<HTMLInputElement>("m-tp").value,
    trailingStopDistance: $<HTMLInputElement>("m-trail").value,
    ...(current.pending ? { price: $<HTMLInputElement>("m-price").value,
      expiresAt: $<HTMLInputElement>("m-expiry").value } : {}),
  };
  const { fields, errors } = changedFields(current.before, after, decimalsOf(current.asset));
  showFieldErrors($("modify-form"), INPUTS, errors);
  if (Object.keys(errors).length) return;
  if (!Object.keys(fields).length) {
    $<HTMLDialogElement>("modify").close();
    return;
  }
  const button = $<HTMLButtonElement>("m-save");
  button.disabled = true;
  try {
    await engine({ command: "MODIFY_TRADE", tradeId: current.tradeId, ...fields });
    $<HTMLDialogElement>("modify").close();
    notify(`${current.pending ? "Order" : "Position"} ${market(current.asset)} ` +
      "modified: confirmed by the exchange", "good");
  } catch (err) {
    showFieldErrors($("modify-form"), INPUTS, rejectionErrors(err));
  } finally {
    button.disabled = false;
    current.after(); // after any answer: the page's own command's event reloads nothing (ownOrder)
  }
}

export function setupModify(): void {
  $<HTMLFormElement>("modify-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void save();
  });
  for (const dialog of [$<HTMLDialogElement>("modify"), $<HTMLDialogElement>("close-part")]) {
    for (const button of dialog.querySelectorAll<HTMLButtonElement>("[data-close]")) {
      button.addEventListener("click", () => dialog.close());
    }
  }
  $<HTMLInputElement>("m-price").addEventListener("input", renderModifyMarket);
  $<HTMLDialogElement>("modify").addEventListener("close", () => {
    editing = null;
  });
}
