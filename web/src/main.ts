// The terminal's wiring: session, one WebSocket, the one quote store, and the panels.

import "./style.css";
import { l10Of } from "./account";
import { api, engine, holdRequests, ownOrder, releaseRequests, whenReachable } from "./api";
import { INTERVALS, type Interval, type UnitCandle } from "./candles";
import { PriceChart, positionLines, type PriceLineSpec } from "./chart";
import { renderPartPreview, setupPartClose } from "./close-part";
import { moveLine } from "./line-moves";
import { renderModifyMarket, setupModify } from "./modify";
import { renderOrders } from "./orders";
import { market, price } from "./format";
import { setupHistoryFilters } from "./history";
import { renderMarkets, select } from "./markets";
import { toUnits } from "./money";
import { describeTradeEvent, notify, reportError } from "./notices";
import { renderPositionMarks, renderPositions } from "./positions";
import { LiveSocket, type SocketLike, type SocketState } from "./socket";
import { type FeedNews, staleSince, stalePricesText } from "./feed";
import { decimalsOf, emit, on, store } from "./store";
import { signInRefusal } from "./signin-link";
import { clearTicketPrices, renderTicket, setupLeverage, submitTicket } from "./ticket";
import { clearFieldError, clearUnreachable } from "./field-errors";
import {
  refreshAccount, refreshAfterEvents, refreshTrading, renderAccount, sessionEnded, sessionEnds,
  setSession, tell,
} from "./trading";
import { SIGN_IN_MARK, SIGN_OUT_MARK, signOutFailure } from "./session-end";
import { followTrails } from "./trailing";
import { remember, remembered } from "./prefs";
import type { Candle, PriceMessage, TradeEventMessage } from "./types";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const CANDLES_SHOWN = 300;
let chart: PriceChart;
let interval: Interval = (remembered("interval") as Interval | null) ?? "1m";
if (!(interval in INTERVALS)) interval = "1m";
let socket: LiveSocket;

// ---------- market data ----------

async function loadQuote(asset: string): Promise<void> {
  const p = await api<{ bid?: string; ask?: string; price: string; decimal: number }>(
    `/api/v1/price?asset=${asset}`);
  store.quotes.set(asset, { bid: BigInt(p.bid ?? p.price), ask: BigInt(p.ask ?? p.price),
    decimals: p.decimal, ts: Date.now() });
}

async function loadDayOpen(asset: string): Promise<void> {
  const since = Date.now() - 24 * 3_600_000;
  const candles = await api<Candle[]>(`/api/v1/candles?asset=${asset}&interval=1h&startTime=${since}`);
  const open = candles.length ? toUnits(candles[0].open, decimalsOf(asset)) : null;
  if (open !== null) store.dayOpen.set(asset, open);
}

async function loadMarketData(): Promise<void> {
  await Promise.allSettled(store.assets.map((a) => loadQuote(a)));
  await Promise.allSettled(store.assets.map((a) => loadDayOpen(a)));
  emit("quotes");
}

async function loadCandles(): Promise<void> {
  const asset = store.selected;
  const chosen = interval;
  const start = Date.now() - CANDLES_SHOWN * INTERVALS[chosen];
  try {
    const rows = await api<Candle[]>(
      `/api/v1/candles?asset=${asset}&interval=${chosen}&startTime=${start}`);
    if (asset !== store.selected || chosen !== interval) return; // a newer request won
    const d = decimalsOf(asset);
    const candles: UnitCandle[] = [];
    for (const c of rows) {
      const [open, high, low, close] = [c.open, c.high, c.low, c.close].map((v) => toUnits(v, d));
      if (open === null || high === null || low === null || close === null) continue;
      candles.push({ time: c.time, open, high, low, close });
    }
    chart.setCandles(asset, candles, d, chosen);
    // No history yet (a new exchange, a quiet market): the price now is the first candle, so
    // the chart has a scale and the positions' lines can be drawn on it.
    const quote = store.quotes.get(asset);
    if (!candles.length && quote) chart.addTick(asset, Date.now(), quote.ask);
    renderChartLines();
  } catch (err) {
    notify(`chart: ${err instanceof Error ? err.message : String(err)}`, "bad");
  }
}

function renderChartLines(): void {
  const asset = store.selected;
  const d = decimalsOf(asset);
  const level = (v: number | string | null | undefined): bigint | null =>
    v === null || v === undefined ? null : toUnits(v, d);
  const trades = store.openTrades.filter((t) => t.asset === asset).map((t) => ({
    tradeId: t.tradeId, direction: t.direction, l10: l10Of(t), entry: level(t.entryPrice) ?? 0n,
    stopLoss: level(t.stopLossPrice), trailing: level(t.trailingStopDistance) !== null,
    takeProfit: level(t.takeProfitPrice), liquidation: level(t.liquidationPrice),
  }));
  const orders = store.pendingOrders.filter((o) => o.asset === asset).map((o) => ({
    tradeId: o.tradeId, direction: o.direction, orderType: o.orderType, l10: l10Of(o),
    price: level(o.price) ?? 0n, stopLoss: level(o.stopLossPrice),
    takeProfit: level(o.takeProfitPrice),
  }));
  chart.setLines(positionLines(trades, orders));
}

/** A line let go on the chart: the server decides, and the lines are redrawn from its state
 * either way (a refused move springs back). */
function onLineMoved(spec: PriceLineSpec, price: string): Promise<void> {
  return moveLine(spec, price).then(() => refreshTrading(), (err: unknown) => {
    reportError(err);
    return refreshTrading();
  });
}

function renderIntervals(): void {
  const box = $("intervals");
  box.replaceChildren();
  for (const name of Object.keys(INTERVALS) as Interval[]) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = name;
    button.className = "chip";
    button.setAttribute("aria-pressed", String(name === interval));
    button.addEventListener("click", () => {
      interval = name;
      remember("interval", name);
      renderIntervals();
      void loadCandles();
    });
    box.append(button);
  }
}

// ---------- the live feed ----------

let frame = 0;
function scheduleRender(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    renderMarkets();
    renderPositionMarks();
    renderAccount();
    renderTicket();
    renderPartPreview();
    renderModifyMarket();
    const q = store.quotes.get(store.selected);
    $("chart-last").textContent = q ? `bid ${price(q.bid, q.decimals)} · ask ${price(q.ask, q.decimals)}` : "";
  });
}

/** Waiting for the socket's first message, which tells whether the page is signed in. */
let firstMessage: ((message: { type?: string; status?: string; code?: string }) => void) | null =
  null;

/** The gateway authenticates a socket by its session cookie before it sends anything else
 * (gateway_svc/rest/ws.py): the first message is {"type":"auth","status":"ok"} for a valid
 * session, an UNAUTHENTICATED error for a stale one, and a price without a cookie. So the page
 * learns whether it is signed in without a request that would fail with a 401. null: no
 * message in time (no feed, no socket); the page then asks GET /api/v1/account. */
function sessionFromSocket(timeoutMs: number): Promise<boolean | null> {
  return new Promise((resolve) => {
    const timer = window.setTimeout(() => {
      firstMessage = null;
      resolve(null);
    }, timeoutMs);
    firstMessage = (message) => {
      const decided = message.type === "auth" || message.type === "price" ||
        (message.type === "error" && message.code === "UNAUTHENTICATED");
      if (!decided) return; // e.g. the price stream restarting: wait for the next message
      firstMessage = null;
      window.clearTimeout(timer);
      resolve(message.type === "auth" && message.status === "ok");
    };
  });
}

function onMessage(raw: unknown): void {
  const message = raw as { type?: string; code?: string; status?: string };
  firstMessage?.(message);
  if (message.type === "price") {
    const m = raw as PriceMessage;
    const quote = { bid: BigInt(m.bid), ask: BigInt(m.ask), decimals: m.decimal, ts: m.ts };
    store.quotes.set(m.asset, quote);
    if (m.asset === store.selected) chart.addTick(m.asset, m.ts, quote.ask);
    if (followTrails(m.asset, quote) && m.asset === store.selected) renderChartLines();
    if (store.staleSince !== null) feedNews("price");
    scheduleRender();
  } else if (message.type === "trade") {
    const event = raw as TradeEventMessage;
    tell(describeTradeEvent(event), event.trade.tradeId);
    // Caused by one of this page's commands, whose answer is followed by a reload: one reload
    // per action, not two (each spends four of the user's command tokens). A partial close
    // still reloads on its event: the trade stays open, so nothing waits for its history row
    // (awaitHistory), which the ledger may not have written at the answer's reload.
    if (!ownOrder(event.orderId) || event.event === "TRADE_PARTIALLY_CLOSED") {
      refreshAfterEvents();
    }
  } else if (message.type === "error" && message.code === "UNAUTHENTICATED") {
    sessionEnded();
  } else if (message.type === "error" && message.code === "ENGINE_UNAVAILABLE") {
    feedNews("interrupted"); // the server's price stream broke; it says so and reconnects
  }
}

function onSocketState(state: SocketState, attempt: number): void {
  const box = $("conn");
  box.dataset.state = state;
  if (state === "live") clearUnreachable();
  box.textContent = state === "live" ? "Live" : state === "connecting" ? "Connecting…"
    : `Disconnected: reconnecting (attempt ${attempt})…`;
  feedNews(state);
}

/** The prices' staleness after `news`: marked on the page, and the ticket paused meanwhile. */
function feedNews(news: FeedNews): void {
  const since = staleSince(store.staleSince, news, Date.now());
  if (since === store.staleSince) return;
  store.staleSince = since;
  // The last prices stay on screen, marked stale; the ticket pauses (ticket.ts).
  document.body.classList.toggle("prices-stale", since !== null);
  $("prices-stale").hidden = since === null;
  $("prices-stale").textContent = since === null ? "" : stalePricesText(since);
  renderTicket();
}

async function onLive(reconnected: boolean): Promise<void> {
  if (!reconnected) return;
  // Catch up on what the socket missed: prices, candles, and any trade that ended meanwhile.
  // Signed out (a sign-out restarts the socket too), there is no account to catch up on, and
  // asking for one would come back 401.
  await loadMarketData();
  const signedOut = store.session === "signed-out";
  await Promise.all([loadCandles(), signedOut ? Promise.resolve() : refreshTrading()]);
}

// ---------- start ----------

async function requestLink(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const email = $<HTMLInputElement>("email").value.trim();
  const mode = (event.submitter as HTMLButtonElement | null)?.dataset.mode === "signup" ? "signup" : "signin";
  const help = $("signin-help");
  try {
    await api(`/api/v1/user/${mode}`, { method: "POST", body: JSON.stringify({ email }) });
    help.textContent = `A sign-in link is on its way to ${email}: open it in this browser. ` +
      "Running the exchange locally without SMTP? The link is printed in the console where " +
      "`make run` runs.";
    help.hidden = false;
  } catch (err) {
    reportError(err);
  }
}

async function signOut(): Promise<void> {
  await holdRequests(); // nothing of the old session may reach the server after the revocation
  try {
    // The logout fails closed: refused (the revocation could not be stored) or never
    // answered, the session is still valid, and the trader is told so, still signed in.
    await sessionEnds.signOut(() => api("/api/v1/user/logout", { method: "POST", whileHeld: true }));
  } catch (err) {
    releaseRequests();
    if (store.session !== "signed-out") notify(signOutFailure(err), "bad"); // else told why
    return;
  }
  setSession("signed-out");
  releaseRequests();
  socket.restart(); // the old session's trade events must stop
}

function setupTabs(): void {
  const tabs = [$("tab-positions"), $("tab-orders"), $("tab-history")];
  const show = (index: number): void => {
    tabs.forEach((tab, i) => {
      tab.setAttribute("aria-selected", String(i === index));
      tab.tabIndex = i === index ? 0 : -1;
      $(tab.getAttribute("aria-controls") ?? "").hidden = i !== index;
    });
    tabs[index].focus();
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => show(i));
    tab.addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight") show((i + 1) % tabs.length);
      if (e.key === "ArrowLeft") show((i + tabs.length - 1) % tabs.length);
    });
  });
}

async function start(): Promise<void> {
  chart = new PriceChart($("chart"), $("chart-legend"), onLineMoved);
  try {
    store.assets = await api<string[]>("/api/v1/supportedAssets");
  } catch {
    store.assets = ["SOL_USDC", "ETH_USDC", "BTC_USDC"];
  }
  const saved = remembered("asset");
  store.selected = saved && store.assets.includes(saved) ? saved : store.assets[0];
  const assetSelect = $<HTMLSelectElement>("t-asset");
  for (const asset of store.assets) assetSelect.add(new Option(market(asset), asset));
  assetSelect.value = store.selected;
  assetSelect.addEventListener("change", () => select(assetSelect.value));

  on("selected", () => {
    // Prices are the market's own: a BTC order at the SOL price typed before means nothing
    // (a trader audit placed one with a click). Margin and leverage carry over.
    clearTicketPrices(); // emitted only when the market changes
    assetSelect.value = store.selected;
    $("chart-asset").textContent = market(store.selected);
    void loadCandles();
    scheduleRender();
  });
  on("quotes", scheduleRender);
  on("trades", () => {
    renderPositions(() => void refreshTrading());
    renderOrders(() => void refreshTrading());
    renderChartLines();
    renderAccount();
  });

  $("chart-asset").textContent = market(store.selected);
  const refusal = signInRefusal(location.hash);
  if (refusal !== null) history.replaceState(null, "", location.pathname + location.search);
  $<HTMLFormElement>("signin-form").addEventListener("submit", (e) => void requestLink(e));
  $("logout").addEventListener("click", () => void signOut());
  // Another tab or window of this browser signed out: this page's session ended with it.
  window.addEventListener("storage", (event) => {
    if (event.key === SIGN_IN_MARK) {
      // Signed in again in another tab or window: its cookie is this page's too.
      if (store.session === "signed-out") {
        socket.restart(); // the socket authenticates by the cookie when it opens
        void refreshTrading();
      }
      return;
    }
    if (event.key !== SIGN_OUT_MARK || sessionEnds.signedOutAt(event.newValue) === null) return;
    if (sessionEnded(event.newValue)) socket.restart(); // the old session's events stop
  });
  $("create-account").addEventListener("click", () => {
    void engine({ command: "CREATE_ACCOUNT" }).then(() => refreshTrading(),
      (err: unknown) => notify(err instanceof Error ? err.message : String(err), "bad"));
  });
  $<HTMLFormElement>("ticket").addEventListener("submit", (e) => {
    e.preventDefault();
    void submitTicket(() => void refreshTrading());
  });
  $("ticket").addEventListener("input", (event) => {
    clearFieldError(event.target);
    renderTicket();
  });
  whenReachable(clearUnreachable);
  setupTabs();
  setupModify();
  setupPartClose();
  setupLeverage();
  setupHistoryFilters();
  renderIntervals();
  renderMarkets();

  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new LiveSocket({
    url: `${scheme}://${location.host}/api/v1/ws`,
    open: (url) => new WebSocket(url) as unknown as SocketLike,
    onMessage,
    onState: onSocketState,
    onLive: (reconnected) => void onLive(reconnected),
  });
  const signedIn = sessionFromSocket(8_000);
  socket.start();
  await loadMarketData();
  const verdict = await signedIn;
  if (verdict === false) setSession("signed-out");
  if (verdict === false && refusal !== null) {
    // Said once, and only to someone still signed out: a mail scanner's earlier click on the
    // link of a trader now signed in is nothing to tell.
    $("signin-help").textContent = refusal;
    $("signin-help").hidden = false;
  }
  await Promise.all([loadCandles(), verdict === false ? Promise.resolve() : refreshTrading()]);
  window.setInterval(() => {
    if (store.session === "signed-in") void refreshAccount().then(renderAccount, reportError);
  }, 15_000);
  // The day's open moves once an hour at most; a market without one yet (no candle when the
  // page loaded, a new exchange) asks again every few seconds until the candles exist.
  window.setInterval(() => void Promise.allSettled(store.assets.map(loadDayOpen)).then(scheduleRender), 600_000);
  window.setInterval(() => {
    const missing = store.assets.filter((a) => !store.dayOpen.has(a) && store.quotes.has(a));
    if (missing.length) void Promise.allSettled(missing.map(loadDayOpen)).then(scheduleRender);
  }, 5_000);
  document.body.dataset.ready = "true";
}

void start();
