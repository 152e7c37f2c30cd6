// Pending limit and stop orders: price, margin, levels and expiry, with modify and cancel.
// Cancelling returns the reserved margin (SPEC section 3a).

import { l10Of } from "./account";
import { engine } from "./api";
import { apiPrice, apiUsd, dateTime, leverage, market } from "./format";
import { openModify } from "./modify";
import { notify } from "./notices";
import { actionButton, rebuildKeepingFocus } from "./positions";
import { decimalsOf, store } from "./store";
import type { PendingOrder } from "./types";

interface Cancelled {
  tradeId: string;
  marginReturned: number;
}

export function renderOrders(after: () => void): void {
  const body = (document.getElementById("orders") as HTMLTableElement).tBodies[0];
  rebuildKeepingFocus(body, () => orderRows(body, after));
}

function orderRows(body: HTMLTableSectionElement, after: () => void): void {
  const count = document.getElementById("orders-count");
  if (count) count.textContent = store.pendingOrders.length ? `(${store.pendingOrders.length})` : "";
  for (const o of store.pendingOrders) {
    const d = decimalsOf(o.asset);
    const row = body.insertRow();
    row.dataset.trade = o.tradeId;
    row.dataset.asset = o.asset;
    const cells: [string, string][] = [
      [market(o.asset), ""],
      [o.direction, o.direction === "LONG" ? "pos" : "neg"],
      [o.orderType, ""],
      [apiPrice(o.price, d), "num price lead"],
      [apiUsd(o.margin), "num"],
      [leverage(l10Of(o)), "num"],
      [apiPrice(o.stopLossPrice, d), "num sl"],
      [apiPrice(o.takeProfitPrice, d), "num tp"],
      [apiPrice(o.trailingStopDistance, d), "num"],
      [o.expiresAt ? dateTime(o.expiresAt) : "GTC", ""],
    ];
    for (const [text, cls] of cells) {
      const td = row.insertCell();
      td.textContent = text;
      if (cls) td.className = cls;
    }
    const actions = row.insertCell();
    actions.className = "actions";
    const what = `${o.orderType} ${o.direction} ${market(o.asset)} order`;
    const modify = actionButton("Modify", `Modify ${what}`);
    modify.addEventListener("click", () => openModify(o, after));
    const cancel = actionButton("Cancel", `Cancel ${what}`);
    cancel.addEventListener("click", () => void cancelOrder(o, cancel, after));
    actions.append(modify, cancel);
  }
  if (!store.pendingOrders.length) {
    const td = body.insertRow().insertCell();
    td.colSpan = 11;
    td.className = "muted empty";
    td.textContent = store.session === "signed-in" ? "No pending orders." : "Sign in to trade.";
  }
}

async function cancelOrder(order: PendingOrder, button: HTMLButtonElement, after: () => void): Promise<void> {
  button.disabled = true;
  try {
    const d = await engine<Cancelled>({ command: "CANCEL_ORDER", tradeId: order.tradeId });
    notify(`Cancelled ${order.orderType} ${order.direction} ${market(order.asset)}: ` +
      `${apiUsd(d.marginReturned)} USD returned`, "info");
  } catch (err) {
    notify(err instanceof Error ? err.message : String(err), "bad");
    button.disabled = false;
  }
  after();
}
