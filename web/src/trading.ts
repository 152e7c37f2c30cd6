// The signed-in side of the page: the session, the account panel, the positions and history
// reloaded from the server, and the outcomes told once whether they came live or were missed.

import { liveAccount } from "./account";
import { api, ApiError, engine } from "./api";
import { percent, signClass, usd } from "./format";
import { loadHistory, renderHistory } from "./history";
import { toUnits, USD_SCALE } from "./money";
import { describeTradeEvent, notify, reportError, type TradeNotice } from "./notices";
import { SessionEnds } from "./session-end";
import { emit, type Session, store } from "./store";
import { renderTicket } from "./ticket";
import type { AccountReply } from "./types";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** The next look for trades missing from the history (awaitHistory), if one is due. */
let historyRetry = 0;

/** Why a session ended, told in the banner under the header (session-end.ts). */
export const sessionEnds = new SessionEnds(() => localStorage, (text) => {
  const banner = $("signin-help");
  banner.textContent = text;
  banner.hidden = false;
});

const signedIn = (session: Session): boolean => session === "signed-in" || session === "no-account";

export function setSession(session: Session): void {
  if (signedIn(session) && !signedIn(store.session)) {
    sessionEnds.began(Date.now());
    $("signin-help").hidden = true; // why it was signed out, or a link on its way: past now
  }
  // Whoever signs in next (in this tab, or in another: SIGN_IN_MARK) is asked for again.
  if (session === "signed-out") store.email = "";
  store.session = session;
  $("signin-form").hidden = session !== "signed-out";
  $("signed-in").hidden = session === "signed-out" || session === "unknown";
  $("create-account").hidden = session !== "no-account";
  $("user-email").textContent = store.email;
  document.body.dataset.session = session;
  if (session !== "signed-in") {
    window.clearTimeout(historyRetry); // the old session's history is nobody's to wait for
    stopReloads();
    store.openTrades = [];
    store.pendingOrders = [];
    store.history = [];
    store.historyCursor = null; // no "Load more" of the old session's history
    store.balance = null;
  }
  emit("trades");
  renderHistory();
  renderTicket();
}

/** The session ended without this page's sign-out: the server refused it, or another tab's
 * sign-out mark came (`mark`, its text). Returns whether the page was signed in until now. */
export function sessionEnded(mark?: string | null): boolean {
  const was = signedIn(store.session);
  setSession("signed-out");
  sessionEnds.ended(was, mark);
  return was;
}

export async function refreshAccount(): Promise<void> {
  try {
    const account = await api<AccountReply>("/api/v1/account");
    store.balance = toUnits(account.balance, USD_SCALE);
    store.reservedMargin = account.reservedMargin === undefined || account.reservedMargin === null
      ? null : toUnits(account.reservedMargin, USD_SCALE);
    if (store.session !== "signed-in") {
      if (!store.email) {
        store.email = (await engine<{ email: string }>({ command: "GET_USD_BALANCE" })).email;
      }
      setSession("signed-in");
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) sessionEnded();
    else if (err instanceof ApiError && err.code === "ACCOUNT_NOT_FOUND") setSession("no-account");
    else throw err;
  }
}

/** How long the page waits after a trade event for the rest of its burst (one tick that stops
 * out ten positions sends ten events) before it reloads once for all of them. */
const EVENT_BURST_MS = 250;
let burst: number | undefined;
let reloading = false;
let reloadAgain = false;

/** One reload for a burst of trade events, and one more for events that came during it, but
 * never one each: each reload spends four of the user's command tokens, and ten at once ran
 * into the rate limit (a trader audit: 47 requests and "too many requests" after 13 stops). */
export function refreshAfterEvents(): void {
  if (store.session !== "signed-in") return;
  if (reloading) {
    reloadAgain = true;
    return;
  }
  if (burst !== undefined) return;
  burst = window.setTimeout(() => {
    burst = undefined;
    // Signed out meanwhile (an event of the old session came during the sign-out): its
    // reload would only be refused (a 401 in the console of a browser test now and then).
    if (store.session !== "signed-in") return;
    reloading = true;
    void refreshTrading().finally(() => {
      reloading = false;
      if (reloadAgain) {
        reloadAgain = false;
        refreshAfterEvents();
      }
    });
  }, EVENT_BURST_MS);
}

/** Account, positions, orders and history from the server: at start, after a trade event or
 * one of the page's own commands, and after a reconnect (whatever happened while away). */
export async function refreshTrading(): Promise<void> {
  try {
    await refreshAccount();
    if (store.session !== "signed-in") return;
    const before = new Set([...store.openTrades, ...store.pendingOrders].map((t) => t.tradeId));
    const pendingBefore = new Set(store.pendingOrders.map((t) => t.tradeId));
    const [open, pending] = await Promise.all([
      api<{ trades: typeof store.openTrades }>("/api/v1/trades/open"),
      api<{ trades: typeof store.pendingOrders }>("/api/v1/trades/pending"),
    ]);
    store.openTrades = open.trades;
    store.pendingOrders = pending.trades;
    emit("trades");
    await loadHistory(false);
    tellMissedFills(pendingBefore);
    tellMissedOutcomes(before);
    awaitHistory(before);
    failedReloads = 0;
  } catch (err) {
    reportError(err);
    // The exchange answered, but could not say (its engine or database away for a moment):
    // what changed meanwhile (an order that ran late) shows once it can, without a click.
    if (err instanceof ApiError && err.status >= 500 && failedReloads < RELOAD_RETRIES) {
      failedReloads += 1;
      reloadRetry = window.setTimeout(refreshAfterEvents, RELOAD_RETRY_MS * failedReloads);
    }
  }
}

/** No reload of a session that has ended: the pending burst and the retries are dropped. */
function stopReloads(): void {
  window.clearTimeout(burst);
  burst = undefined;
  reloadAgain = false;
  window.clearTimeout(reloadRetry);
  failedReloads = 0;
}

const RELOAD_RETRIES = 8;
const RELOAD_RETRY_MS = 2000;
let failedReloads = 0;
let reloadRetry: number | undefined;

/** What the page has told about each trade ("<tradeId>:fill", "<tradeId>:end"), so nothing is
 * told twice, whether it came live or was caught up. */
export const told = new Set<string>();

export function tell(notice: TradeNotice | null, tradeId: string): void {
  if (!notice || told.has(`${tradeId}:${notice.about}`)) return;
  told.add(`${tradeId}:${notice.about}`);
  notify(notice.text, notice.kind, notice.sticky);
}

/** Orders that filled while the socket was away: pending before, open now. */
function tellMissedFills(pendingBefore: Set<string>): void {
  for (const trade of store.openTrades) {
    if (!pendingBefore.has(trade.tradeId)) continue;
    tell(describeTradeEvent({ type: "trade", event: "OPENED", eventSeq: 0, orderId: null,
      ts: trade.openedAt, trade: { ...trade, status: "OPEN", exitPrice: null, pnl: null,
        totalReturn: null, closedAt: null } }), trade.tradeId);
  }
}

/** Positions and orders that ended while the socket was away: their outcome, from the
 * history. */
function tellMissedOutcomes(before: Set<string>): void {
  const still = new Set([...store.openTrades, ...store.pendingOrders].map((t) => t.tradeId));
  for (const trade of store.history) {
    if (!before.has(trade.tradeId) || still.has(trade.tradeId) || trade.partial) continue;
    tell(describeTradeEvent({ type: "trade", event: trade.status, eventSeq: 0,
      orderId: null, ts: trade.closedAt ?? 0, trade }), trade.tradeId);
  }
}

/** The history is written by the ledger a moment after a trade ends: a position that left
 * the open list but is not in the history yet is looked for again, a few times. */
function awaitHistory(openBefore: Set<string>, attempt = 0): void {
  const stillOpen = new Set([...store.openTrades, ...store.pendingOrders].map((t) => t.tradeId));
  const known = new Set(store.history.map((t) => t.tradeId));
  const missing = [...openBefore].filter((id) => !stillOpen.has(id) && !known.has(id));
  window.clearTimeout(historyRetry);
  if (!missing.length || attempt >= 20) return;
  historyRetry = window.setTimeout(() => {
    if (store.session !== "signed-in") return;
    void loadHistory(false).then(() => {
      tellMissedOutcomes(openBefore);
      awaitHistory(openBefore, attempt + 1);
    }, () => undefined);
  }, 500 + 250 * attempt);
}

export function renderAccount(): void {
  const out = (k: string, text: string, cls = ""): void => {
    const dd = document.querySelector<HTMLElement>(`#account dd[data-k="${k}"]`);
    if (!dd) return;
    if (dd.textContent !== text) dd.textContent = text;
    dd.className = cls;
  };
  if (store.balance === null) {
    for (const dd of document.querySelectorAll("#account dd")) dd.textContent = "–";
    return;
  }
  const a = liveAccount(store.balance, store.reservedMargin ?? 0n, store.openTrades,
    store.quotes);
  out("balance", `${usd(a.balance)} USD`);
  out("equity", `${usd(a.equity)} USD`);
  out("unrealizedPnl", `${usd(a.unrealizedPnl, { signed: true })} USD`, signClass(a.unrealizedPnl));
  out("usedMargin", `${usd(a.usedMargin)} USD`);
  out("freeMargin", `${usd(a.freeMargin)} USD`);
  out("reservedMargin", store.reservedMargin === null ? "–" : `${usd(store.reservedMargin)} USD`);
  out("marginLevel", percent(a.marginLevelPct));
}
