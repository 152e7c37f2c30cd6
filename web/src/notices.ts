// Short messages in a corner: trade outcomes from the WebSocket, answers to the page's own
// commands, and errors. Errors stay until dismissed; the rest fade after a while.

import { ApiError } from "./api";
import { apiPrice, apiUsd } from "./format";
import type { TradeEventMessage } from "./types";
import { decimalsOf } from "./store";

export type NoticeKind = "info" | "good" | "bad";

export function notify(text: string, kind: NoticeKind = "info"): void {
  const box = document.getElementById("notices");
  if (!box) return;
  const item = document.createElement("div");
  item.className = `notice ${kind}`;
  item.setAttribute("role", kind === "bad" ? "alert" : "status");
  const span = document.createElement("span");
  span.textContent = text;
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "dismiss";
  dismiss.setAttribute("aria-label", "Dismiss");
  dismiss.textContent = "×";
  dismiss.addEventListener("click", () => item.remove());
  item.append(span, dismiss);
  box.prepend(item);
  while (box.children.length > 3) box.lastElementChild?.remove();
  if (kind !== "bad") window.setTimeout(() => item.remove(), 8_000);
}

/** A failed background call: told, except a lost connection, which the connection badge
 * already shows (and the reconnect catches up on). */
export function reportError(err: unknown): void {
  if (err instanceof ApiError && err.status === 0) return;
  notify(err instanceof Error ? err.message : String(err), "bad");
}

const OUTCOMES: Record<string, [string, NoticeKind]> = {
  LIQUIDATED: ["was liquidated", "bad"],
  STOP_LOSS: ["was stopped out", "bad"],
  TAKE_PROFIT: ["took profit", "good"],
};

export interface TradeNotice {
  text: string;
  kind: NoticeKind;
  /** What it tells about the trade ("fill" or "end"): each is told once, live or caught up. */
  about: "fill" | "end";
}

/** The notice a trade event deserves, or null. Events the page caused itself (OPENED by its
 * CREATE_TRADE, a CLOSED, ORDER_PLACED, ORDER_MODIFIED it asked for) are already told by the
 * command's answer. Ends caught up from the history arrive here as their status
 * (LIQUIDATED, EXPIRED, REJECTED...), which names them as the event does. */
export function describeTradeEvent(
  message: TradeEventMessage, decimals: (asset: string) => number = decimalsOf,
): TradeNotice | null {
  const t = message.trade;
  const d = decimals(t.asset);
  const name = `${t.asset} ${t.direction}`;
  switch (message.event) {
    case "OPENED":
      // Opened by a price, not by a command: an order filled.
      if (message.orderId !== null) return null;
      return { text: `${name} order filled at ${apiPrice(t.entryPrice, d)}`, kind: "good",
        about: "fill" };
    case "ORDER_EXPIRED":
    case "EXPIRED":
      return { text: `${name} order at ${apiPrice(t.price ?? null, d)} expired: ` +
        `${apiUsd(t.margin)} USD margin returned`, kind: "info", about: "end" };
    case "ORDER_REJECTED":
    case "REJECTED":
      return { text: `${name} order was rejected when it filled` +
        (t.reason ? `: ${t.reason}` : "") + `; ${apiUsd(t.margin)} USD margin returned`,
      kind: "bad", about: "end" };
  }
  const outcome = OUTCOMES[message.event];
  if (!outcome) return null;
  return {
    text: `${name} ${outcome[0]} at ${apiPrice(t.exitPrice, d)}: PnL ${apiUsd(t.pnl)} USD`,
    kind: outcome[1],
    about: "end",
  };
}
