// Short messages under the header: trade outcomes from the WebSocket, answers to the page's
// own commands, and errors. Sticky notices (errors, a trade its own levels or a liquidation
// ended) stay until dismissed, and the cap on how many show never pushes one out; the rest
// fade after a while. A repeat of a notice on screen is counted on it, not stacked.

import { ApiError } from "./api";
import { apiPrice, apiUsd, market } from "./format";
import type { TradeEventMessage } from "./types";
import { decimalsOf } from "./store";

export type NoticeKind = "info" | "good" | "bad";

/** Each notice's fade timer, so a repeat can start it again. */
const fading = new WeakMap<HTMLElement, number>();

/** How many notices show before the oldest transient one goes. */
export const NOTICES_SHOWN = 3;

/** The notices to remove so that at most `cap` show, given which are sticky, newest first (as
 * on screen): the oldest transient ones. A sticky one is never removed, nor the newest (just
 * told); when only those are left, all of them stay. */
export function overflowing(sticky: readonly boolean[], cap: number = NOTICES_SHOWN): number[] {
  const drop: number[] = [];
  let shown = sticky.length;
  for (let i = sticky.length - 1; i > 0 && shown > cap; i -= 1) {
    if (sticky[i]) continue;
    drop.push(i);
    shown -= 1;
  }
  return drop;
}

/** A notice; the same text and kind again while one is on screen (a burst of "too many
 * requests") is counted on it ("×3"), moved to the top and given its full time again. An
 * error is sticky unless told otherwise. */
export function notify(text: string, kind: NoticeKind = "info", sticky = kind === "bad"): void {
  const box = document.getElementById("notices");
  if (!box) return;
  const item = [...box.querySelectorAll<HTMLElement>(".notice")].find(
    (n) => n.dataset.text === text && n.dataset.kind === kind) ?? newNotice(text, kind);
  const count = Number(item.dataset.count ?? "0") + 1;
  item.dataset.count = String(count);
  if (sticky) item.dataset.sticky = "true";
  const times = item.querySelector(".count");
  if (times) times.textContent = count > 1 ? `×${count}` : "";
  box.prepend(item);
  const items = [...box.querySelectorAll<HTMLElement>(".notice")];
  for (const i of overflowing(items.map((n) => n.dataset.sticky === "true"))) items[i].remove();
  window.clearTimeout(fading.get(item));
  if (item.dataset.sticky !== "true") {
    fading.set(item, window.setTimeout(() => dismissNotice(item), 8_000));
  }
  offerDismissAll(box);
}

function dismissNotice(item: HTMLElement): void {
  const box = item.parentElement;
  item.remove();
  if (box) offerDismissAll(box);
}

/** Sticky notices pile up (a crash that liquidates ten positions tells ten): from two on, one
 * button at the top of the stack (it stays in view while the stack scrolls) dismisses them
 * all, so the ticket under them is one click away. */
function offerDismissAll(box: HTMLElement): void {
  let all = box.querySelector<HTMLButtonElement>(".dismiss-all");
  if (!all) {
    all = document.createElement("button");
    all.type = "button";
    all.className = "dismiss-all";
    all.textContent = "Dismiss all";
    all.addEventListener("click", () => {
      for (const notice of box.querySelectorAll(".notice")) notice.remove();
      offerDismissAll(box);
    });
  }
  box.prepend(all); // always first, above the newest
  all.hidden = box.querySelectorAll(".notice").length < 2;
}

function newNotice(text: string, kind: NoticeKind): HTMLElement {
  const item = document.createElement("div");
  item.className = `notice ${kind}`;
  item.dataset.text = text;
  item.dataset.kind = kind;
  item.setAttribute("role", kind === "bad" ? "alert" : "status");
  const span = document.createElement("span");
  span.textContent = text;
  const times = document.createElement("small");
  times.className = "count";
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.className = "dismiss";
  dismiss.setAttribute("aria-label", "Dismiss");
  dismiss.textContent = "×";
  dismiss.addEventListener("click", () => dismissNotice(item));
  item.append(span, times, dismiss);
  return item;
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
  /** Stays until dismissed: a trade ended by its stop loss, take profit or a liquidation, or
   * an order rejected, all without the trader's hand. */
  sticky?: boolean;
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
  const name = `${market(t.asset)} ${t.direction}`;
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
      kind: "bad", about: "end", sticky: true };
  }
  const outcome = OUTCOMES[message.event];
  if (!outcome) return null;
  return {
    text: `${name} ${outcome[0]} at ${apiPrice(t.exitPrice, d)}: ` +
      `PnL ${apiUsd(t.pnl, { signed: true })} USD`,
    kind: outcome[1],
    about: "end",
    sticky: true,
  };
}
