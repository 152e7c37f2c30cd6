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

/** The notice a trade event deserves, or null. Events the page caused itself (OPENED, a
 * CLOSED it asked for) are already told by the command's answer. */
export function describeTradeEvent(
  message: TradeEventMessage, decimals: (asset: string) => number = decimalsOf,
): { text: string; kind: NoticeKind } | null {
  const outcome = OUTCOMES[message.event];
  if (!outcome) return null;
  const t = message.trade;
  const at = apiPrice(t.exitPrice, decimals(t.asset));
  return {
    text: `${t.asset} ${t.direction} ${outcome[0]} at ${at}: PnL ${apiUsd(t.pnl)} USD`,
    kind: outcome[1],
  };
}
