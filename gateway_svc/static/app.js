// The trading page: sign-in, live prices over /api/v1/ws, a candle chart, an order ticket,
// positions and the account, all through the documented HTTP API. No build step.

import { CandleChart } from "./chart.js";
import { fromUnits, isDecimalText, pnlUnits, toUnits, USD_SCALE } from "./fixed.js";

const INTERVAL_MS = { "1m": 60e3, "5m": 300e3, "15m": 900e3, "1h": 3600e3, "4h": 14400e3,
  "1d": 86400e3 };
const FIELD_INPUTS = { margin: "t-margin", leverage: "t-leverage", stopLossPrice: "t-sl",
  takeProfitPrice: "t-tp", asset: "t-asset", direction: "t-asset" };

const state = {
  assets: [],
  prices: {}, // asset -> {bid, ask: BigInt units, decimal}
  signedIn: false,
  openTrades: [],
  closedCursor: null,
  chartAsset: null,
  socket: null,
};

const $ = (id) => document.getElementById(id);
let chart;

// ---------- talking to the API ----------

class ApiError extends Error {
  constructor(message, status, code, field) {
    super(message);
    Object.assign(this, { status, code, field });
  }
}

async function api(path, { method = "GET", body } = {}) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError("cannot reach the exchange: check your connection", 0);
  }
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) {
    const message = data?.error || `request failed (HTTP ${response.status})`;
    throw new ApiError(message, response.status, data?.code, data?.field);
  }
  return data;
}

function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Engine commands are written as raw JSON so decimal inputs go out exactly as typed
// (canonicalized), never through a float.
async function engine(fields) {
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${JSON.stringify(k)}:${v.raw ?? JSON.stringify(v)}`);
  const body = `{${parts.join(",")}}`;
  try {
    return await api("/api/v1/engine", { method: "POST", body });
  } catch (err) {
    // A lost connection is retried once with the same orderId: the engine de-duplicates it.
    if (err.status === 0 && fields.orderId) {
      return api("/api/v1/engine", { method: "POST", body });
    }
    throw err;
  }
}

const raw = (text) => ({ raw: text });

// ---------- small view helpers ----------

function notice(text, kind = "info") {
  const el = $("notice");
  el.textContent = text;
  el.className = kind;
  el.hidden = !text;
  clearTimeout(notice.timer);
  if (kind !== "error") notice.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text ?? "–";
  if (className) td.className = className;
  return td;
}

const signClass = (text) => (String(text).startsWith("-") ? "neg" : "pos");
const show = (value) => (value === null || value === undefined ? "–" : String(value));
const time = (ms) => (ms ? new Date(ms).toLocaleString() : "–");

// ---------- prices ----------

function renderPrice(asset) {
  const body = $("prices").tBodies[0];
  let row = body.querySelector(`tr[data-asset="${asset}"]`);
  if (!row) {
    row = body.insertRow();
    row.dataset.asset = asset;
    row.tabIndex = 0;
    cell(row, asset); cell(row, "–", "num"); cell(row, "–", "num");
    const pick = () => selectAsset(asset);
    row.addEventListener("click", pick);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") pick(); });
  }
  row.classList.toggle("selected", asset === state.chartAsset);
  const p = state.prices[asset];
  if (!p) return;
  row.cells[1].textContent = fromUnits(p.bid, p.decimal, 2);
  row.cells[2].textContent = fromUnits(p.ask, p.decimal, 2);
}

function onPrice(msg) {
  const tick = { bid: BigInt(msg.bid), ask: BigInt(msg.ask), decimal: msg.decimal };
  state.prices[msg.asset] = tick;
  renderPrice(msg.asset);
  if (msg.asset === state.chartAsset) {
    chart.addPrice(msg.ts, Number(fromUnits(tick.ask, tick.decimal)));
  }
  renderLivePnl();
  updateNotional();
}

function selectAsset(asset) {
  state.chartAsset = asset;
  $("chart-asset").textContent = asset;
  $("t-asset").value = asset;
  state.assets.forEach(renderPrice);
  loadCandles();
  updateNotional();
}

async function loadCandles() {
  const asset = state.chartAsset;
  const interval = $("chart-interval").value;
  const ms = INTERVAL_MS[interval];
  const start = Date.now() - 120 * ms;
  try {
    const candles = await api(
      `/api/v1/candles?asset=${asset}&interval=${interval}&startTime=${start}`);
    if (asset === state.chartAsset) chart.setCandles(candles, ms);
  } catch (err) {
    chart.setCandles([], ms);
    notice(`chart: ${err.message}`, "error");
  }
}

// ---------- the WebSocket ----------

function connectSocket(attempt = 0) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/v1/ws`);
  state.socket = socket;
  socket.onopen = () => { $("ws-state").textContent = "live"; attempt = 0; };
  socket.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    if (msg.type === "price") onPrice(msg);
    else if (msg.type === "trade") onTradeEvent(msg);
  };
  socket.onclose = () => {
    if (state.socket !== socket) return; // replaced on purpose
    $("ws-state").textContent = "reconnecting…";
    setTimeout(() => connectSocket(attempt + 1), Math.min(1000 * 2 ** attempt, 15000));
  };
}

function reconnectSocket() {
  const old = state.socket;
  state.socket = null;
  if (old) old.close();
  connectSocket();
}

function onTradeEvent(msg) {
  const t = msg.trade;
  if (msg.event !== "OPENED") {
    const words = { CLOSED: "closed", LIQUIDATED: "liquidated", STOP_LOSS: "stopped out",
      TAKE_PROFIT: "took profit" };
    notice(`${t.asset} ${t.direction} ${words[msg.event] || msg.event}: PnL ${show(t.pnl)} USD`,
      msg.event === "LIQUIDATED" ? "error" : "info");
  }
  refreshTrading();
}

// ---------- session ----------

function setSignedIn(signedIn) {
  state.signedIn = signedIn;
  $("signin-form").hidden = signedIn;
  $("signed-in").hidden = !signedIn;
  $("t-submit").disabled = !signedIn;
  if (!signedIn) {
    state.openTrades = [];
    renderOpenTrades();
    $("closed-trades").tBodies[0].replaceChildren();
    document.querySelectorAll("#account dd").forEach((dd) => { dd.textContent = "–"; });
  }
}

async function refreshAccount() {
  try {
    const account = await api("/api/v1/account");
    setSignedIn(true);
    $("create-account").hidden = true;
    for (const dd of document.querySelectorAll("#account dd")) {
      const value = account[dd.dataset.k];
      dd.textContent = dd.dataset.k === "marginLevel" ? show(value) : `${show(value)} USD`;
      if (dd.dataset.k === "unrealizedPnl") dd.className = signClass(value);
    }
    return true;
  } catch (err) {
    if (err.status === 401) { setSignedIn(false); return false; }
    if (err.code === "ACCOUNT_NOT_FOUND") { setSignedIn(true); $("create-account").hidden = false; }
    else notice(`account: ${err.message}`, "error");
    return false;
  }
}

async function refreshTrading() {
  if (!(await refreshAccount())) return;
  await Promise.all([loadOpenTrades(), loadClosedTrades(false)]);
}

// ---------- positions ----------

async function loadOpenTrades() {
  try {
    state.openTrades = (await api("/api/v1/trades/open")).trades;
    renderOpenTrades();
  } catch (err) {
    notice(`open positions: ${err.message}`, "error");
  }
}

function renderOpenTrades() {
  const body = $("open-trades").tBodies[0];
  body.replaceChildren();
  for (const t of state.openTrades) {
    const row = body.insertRow();
    row.dataset.trade = t.tradeId;
    cell(row, t.asset);
    cell(row, t.direction, t.direction === "LONG" ? "pos" : "neg");
    cell(row, show(t.margin), "num");
    cell(row, `${show(t.leverage)}x`, "num");
    cell(row, show(t.entryPrice), "num");
    cell(row, show(t.liquidationPrice), "num");
    cell(row, show(t.stopLossPrice), "num");
    cell(row, show(t.takeProfitPrice), "num");
    cell(row, show(t.unrealizedPnl), `num pnl ${signClass(t.unrealizedPnl)}`);
    const button = document.createElement("button");
    button.textContent = "Close";
    button.className = "secondary";
    button.addEventListener("click", () => closeTrade(t, button));
    row.insertCell().append(button);
  }
  if (!state.openTrades.length) {
    const row = body.insertRow();
    const td = cell(row, state.signedIn ? "No open positions." : "Sign in to trade.", "muted");
    td.colSpan = 10;
  }
  renderLivePnl();
}

// Mark each open position to the live close-side price (bid for LONG, ask for SHORT).
function renderLivePnl() {
  for (const t of state.openTrades) {
    const p = state.prices[t.asset];
    const row = document.querySelector(`#open-trades tr[data-trade="${CSS.escape(t.tradeId)}"]`);
    if (!p || !row) continue;
    const entryUnits = toUnits(t.entryPrice, p.decimal);
    const marginUnits = toUnits(t.margin, USD_SCALE);
    const l10 = toUnits(t.leverage, 1);
    if (entryUnits === null || marginUnits === null || l10 === null || entryUnits === 0n) continue;
    const pnl = pnlUnits({ marginUnits, l10: Number(l10), entryUnits, direction: t.direction,
      priceUnits: t.direction === "LONG" ? p.bid : p.ask });
    const text = fromUnits(pnl, USD_SCALE);
    const td = row.querySelector(".pnl");
    td.textContent = text;
    td.className = `num pnl ${signClass(text)}`;
  }
}

async function closeTrade(trade, button) {
  button.disabled = true;
  try {
    const reply = await engine({ command: "CLOSE_TRADE", tradeId: trade.tradeId,
      orderId: uuid4() });
    const d = reply.engineResponse.data;
    notice(`Closed ${d.asset} at ${d.closePrice}: PnL ${d.pnl} USD, ${d.totalReturn} USD returned`);
  } catch (err) {
    notice(err.message, "error");
    button.disabled = false;
  }
  refreshTrading();
}

async function loadClosedTrades(more) {
  const cursor = more && state.closedCursor ? `&cursor=${encodeURIComponent(state.closedCursor)}`
    : "";
  try {
    const page = await api(`/api/v1/trades/closed?limit=20${cursor}`);
    const body = $("closed-trades").tBodies[0];
    if (!more) body.replaceChildren();
    for (const t of page.trades) {
      const row = body.insertRow();
      cell(row, time(t.closedAt));
      cell(row, t.asset);
      cell(row, t.direction);
      cell(row, t.status, t.status === "LIQUIDATED" || t.status === "STOP_LOSS" ? "neg" : "");
      cell(row, show(t.margin), "num");
      cell(row, `${show(t.leverage)}x`, "num");
      cell(row, show(t.entryPrice), "num");
      cell(row, show(t.exitPrice), "num");
      cell(row, show(t.pnl), `num ${signClass(t.pnl)}`);
    }
    state.closedCursor = page.nextCursor;
    $("closed-more").hidden = !page.nextCursor;
  } catch (err) {
    notice(`closed positions: ${err.message}`, "error");
  }
}

// ---------- the order ticket ----------

function canonical(text, scale, field) {
  const units = isDecimalText(text) ? toUnits(text, scale) : null;
  if (units === null) {
    throw new ApiError(`${field} must be a number with at most ${scale} decimals`, 400,
      "INVALID_ARGUMENT", field);
  }
  return raw(fromUnits(units, scale));
}

function updateNotional() {
  const l10 = Number($("t-leverage").value);
  $("t-leverage-out").textContent = `${(l10 / 10).toFixed(1)}x`;
  const margin = isDecimalText($("t-margin").value) ? toUnits($("t-margin").value, 4) : null;
  $("t-notional").textContent = margin && margin > 0n
    ? `Position size ${fromUnits(margin * BigInt(l10), 5)} USD` : "";
}

async function submitTicket(event) {
  event.preventDefault();
  document.querySelectorAll("#ticket .invalid").forEach((el) => el.classList.remove("invalid"));
  const asset = $("t-asset").value;
  const decimals = state.prices[asset]?.decimal ?? { BTC_USDC: 4 }[asset] ?? 6;
  const button = $("t-submit");
  try {
    const fields = {
      command: "CREATE_TRADE",
      orderId: uuid4(),
      asset,
      direction: document.querySelector('input[name="direction"]:checked').value,
      margin: canonical($("t-margin").value, 4, "margin"),
      leverage: raw(String(Number($("t-leverage").value))),
      stopLossPrice: $("t-sl").value.trim()
        ? canonical($("t-sl").value, decimals, "stopLossPrice") : undefined,
      takeProfitPrice: $("t-tp").value.trim()
        ? canonical($("t-tp").value, decimals, "takeProfitPrice") : undefined,
    };
    button.disabled = true;
    const reply = await engine(fields);
    const d = reply.engineResponse.data;
    notice(`Opened ${fields.direction} ${asset} at ${d.entryPrice}, ${d.leverage}x` +
      (d.liquidationPrice !== undefined ? `, liquidation at ${d.liquidationPrice}` : ""));
    $("t-sl").value = "";
    $("t-tp").value = "";
  } catch (err) {
    notice(err.message, "error");
    const input = FIELD_INPUTS[err.field];
    if (input) $(input).classList.add("invalid");
  } finally {
    button.disabled = !state.signedIn;
  }
  refreshTrading();
}

// ---------- start ----------

async function signIn(event) {
  event.preventDefault();
  const mode = event.submitter?.dataset.mode === "signup" ? "signup" : "signin";
  try {
    await api(`/api/v1/user/${mode}`, { method: "POST", body: { email: $("email").value } });
    notice("Check your e-mail for the sign-in link (without SMTP it is in the gateway log).");
  } catch (err) {
    notice(err.message, "error");
  }
}

async function logout() {
  try { await api("/api/v1/user/logout", { method: "POST" }); } catch { /* cookie cleared */ }
  setSignedIn(false);
  reconnectSocket(); // drop the trade-event stream of the old session
}

async function createAccount() {
  try {
    await engine({ command: "CREATE_ACCOUNT", orderId: uuid4() });
    notice("Trading account created.");
  } catch (err) {
    notice(err.message, "error");
  }
  refreshTrading();
}

async function start() {
  chart = new CandleChart($("chart"));
  $("signin-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", logout);
  $("create-account").addEventListener("click", createAccount);
  $("ticket").addEventListener("submit", submitTicket);
  $("t-leverage").addEventListener("input", updateNotional);
  $("t-margin").addEventListener("input", updateNotional);
  $("t-asset").addEventListener("change", () => selectAsset($("t-asset").value));
  $("chart-interval").addEventListener("change", loadCandles);
  $("closed-more").addEventListener("click", () => loadClosedTrades(true));

  try {
    state.assets = await api("/api/v1/supportedAssets");
  } catch (err) {
    notice(err.message, "error");
    state.assets = ["SOL_USDC", "ETH_USDC", "BTC_USDC"];
  }
  for (const asset of state.assets) {
    $("t-asset").add(new Option(asset, asset));
    renderPrice(asset);
  }
  selectAsset(state.assets[0]);
  updateNotional();
  connectSocket();
  await refreshTrading();
  setInterval(() => { if (state.signedIn) refreshTrading(); }, 10000);
  setInterval(loadCandles, 60000);
}

start();
