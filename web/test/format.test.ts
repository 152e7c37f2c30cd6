import { describe, expect, it } from "vitest";
import {
  apiPnl, apiPrice, apiUsd, change, chartPrice, groupThousands, leverage, market, percent, price,
  signClass, usd,
} from "../src/format";
import { historyCells } from "../src/history";
import { filterHistory, historyCsv } from "../src/csv";
import { describeTradeEvent, NOTICES_SHOWN, overflowing } from "../src/notices";
import { ASSET_DECIMALS, notional } from "../src/money";
import type { ClosedTrade, TradeEventMessage } from "../src/types";

describe("format", () => {
  it("groups thousands without touching digits", () => {
    expect(groupThousands("1234567.891")).toBe("1,234,567.891");
    expect(groupThousands("-1000")).toBe("-1,000");
    expect(groupThousands("999")).toBe("999");
  });

  it("shows USD one way: grouped, always the unit's 4 decimals, PnL signed", () => {
    expect(usd(50_000_000n)).toBe("5,000.0000");
    expect(usd(12_345n)).toBe("1.2345");
    expect(usd(12_000_000_100n)).toBe("1,200,000.0100");
    expect(usd(1_000n, { signed: true })).toBe("+0.1000");
    expect(usd(125_000n, { signed: true })).toBe("+12.5000");
    expect(usd(-31_000n, { signed: true })).toBe("-3.1000");
    expect(usd(-1n, { signed: true })).toBe("-0.0001");
    expect(usd(0n, { signed: true })).toBe("0.0000");
    // A notional is exact to 5 decimals: shown to 4 at most, rounded down (round_down).
    expect(usd(1_000_000_000n, { scale: 5 })).toBe("10,000.0000");
    expect(usd(123_456_789n, { scale: 5 })).toBe("1,234.5678");
    expect(usd(-123_456_789n, { scale: 5 })).toBe("-1,234.5679");
    expect(usd(15n, { scale: 5, signed: true })).toBe("+0.0001");
    expect(usd(9n, { scale: 5, signed: true })).toBe("0.0000");
    // 111.0999 margin at 9.9x: exact 1,099.88901, shown 1,099.8890 (the 5th decimal dropped).
    const n = notional(1_110_999n, 99);
    expect(usd(n.units, { scale: n.scale })).toBe("1,099.8890");
    expect(apiUsd(6.3573, { signed: true })).toBe("+6.3573");
    expect(apiUsd(1234.5)).toBe("1,234.5000");
    expect(apiPnl(12.5)).toEqual({ text: "+12.5000", cls: "pos" });
    expect(apiPnl("-3.1")).toEqual({ text: "-3.1000", cls: "neg" });
    expect(apiPnl(0)).toEqual({ text: "0.0000", cls: "" });
    expect(apiPnl(null)).toEqual({ text: "–", cls: "" });
  });

  it("gives every USD figure of a column the same width (the audit's -3.868 beside -2.6292)", () => {
    const column = [-38_680n, -26_292n, 125_000n, 0n, 4n].map((u) => usd(u, { signed: true }));
    expect(column).toEqual(["-3.8680", "-2.6292", "+12.5000", "0.0000", "+0.0004"]);
    expect(new Set(column.map((text) => text.split(".")[1].length))).toEqual(new Set([4]));
  });

  it("shows prices with every decimal of the asset, thousands grouped", () => {
    expect(ASSET_DECIMALS).toEqual({ BTC_USDC: 4, ETH_USDC: 6, SOL_USDC: 6 });
    expect(price(900_127_000n, 4)).toBe("90,012.7000");
    expect(price(901_661_300n, 4)).toBe("90,166.1300");
    expect(price(904_455_470n, 4)).toBe("90,445.5470");
    expect(price(235_950_001n, 6)).toBe("235.950001");
    expect(price(236_735_730n, 6)).toBe("236.735730");
    expect(price(3_001_110_000n, 6)).toBe("3,001.110000");
    expect(price(5n, 4)).toBe("0.0005");
    expect(apiPrice(235.95, 6)).toBe("235.950000");
    expect(apiPrice("90445.547", 4)).toBe("90,445.5470");
    expect(apiPrice(null, 6)).toBe("–");
    expect(apiUsd("-12.5")).toBe("-12.5000");
  });

  it("labels the chart's scale as the page shows a price", () => {
    expect(chartPrice(93000, 4)).toBe("93,000.0000");
    expect(chartPrice(236.73573, 6)).toBe("236.735730");
    expect(chartPrice(0.1 + 0.2, 6)).toBe("0.300000"); // a double's noise never shows
    expect(chartPrice(-1.5, 4)).toBe("-1.5000");
    expect(chartPrice(Number.NaN, 4)).toBe("");
  });

  it("shows the margin level as a percentage, not a ratio", () => {
    // The engine's 50.000379 ratio is 5000.03% (floored to 2 decimals).
    expect(percent(500_003n)).toBe("5,000.03%");
    expect(percent(null)).toBe("–");
  });

  it("shows the day's change with a sign, rounded toward zero", () => {
    expect(change(100_000_000n, 101_250_000n)).toBe("+1.25%");
    expect(change(100_000_000n, 98_765_432n)).toBe("-1.23%");
    expect(change(100_000_000n, 100_000_000n)).toBe("0.00%");
    expect(change(0n, 1n)).toBe("–");
  });

  it("shows leverage as a multiplier", () => {
    expect(leverage(1000)).toBe("100x");
    expect(leverage(15)).toBe("1.5x");
    expect(signClass(-1n)).toBe("neg");
    expect(signClass(0n)).toBe("");
  });
});

const trade = (over: Partial<ClosedTrade>): ClosedTrade => ({
  tradeId: "t1", asset: "SOL_USDC", direction: "LONG", margin: 100, leverage: 100,
  entryPrice: 235.95, liquidationPrice: 233.5905, stopLossPrice: null, takeProfitPrice: null,
  openedAt: 1_700_000_000_000, status: "CLOSED", exitPrice: 236.1, pnl: 6.3573,
  totalReturn: 106.3573, closedAt: 1_700_000_060_000, ...over,
});

describe("history", () => {
  it("exports CSV with exact numbers, ISO times and quoting", () => {
    const csv = historyCsv([trade({}), trade({ tradeId: 'a,"b"', pnl: null })]);
    const lines = csv.trimEnd().split("\r\n");
    expect(lines[0]).toBe("closedAt,tradeId,asset,direction,status,margin,leverage,entryPrice," +
      "exitPrice,pnl,totalReturn,openedAt,partial,orderType,price,reason");
    expect(lines[1]).toBe("2023-11-14T22:14:20.000Z,t1,SOL_USDC,LONG,CLOSED,100,100,235.95,236.1," +
      "6.3573,106.3573,2023-11-14T22:13:20.000Z,,,,");
    expect(lines[2].split(",")[1]).toBe('"a');
    expect(lines[2]).toContain('"a,""b"""');
    expect(lines[2]).toContain("236.1,,106.3573");
  });

  it("keeps a partial close's part and a rejected order's reason", () => {
    const csv = historyCsv([
      trade({ partial: true }),
      trade({ status: "REJECTED", orderType: "LIMIT", price: 230.5, reason: "too many, open" }),
    ]);
    const [, part, rejected] = csv.trimEnd().split("\r\n");
    expect(part.endsWith(",true,,,")).toBe(true);
    expect(rejected.endsWith(',LIMIT,230.5,"too many, open"')).toBe(true);
  });

  it("shows a PnL with its sign and colour, a margin as USD", () => {
    const pnlCell = (over: Partial<ClosedTrade>): string[] => historyCells(trade(over))[9];
    expect(pnlCell({})).toEqual(["+6.3573", "num pos"]);
    expect(pnlCell({ pnl: -2.1182 })).toEqual(["-2.1182", "num neg"]);
    expect(pnlCell({ pnl: null, status: "CANCELLED" })).toEqual(["–", "num"]);
    expect(historyCells(trade({ margin: 1500 }))[4]).toEqual(["1,500.0000", "num"]);
  });

  it("shows an unfilled order's price as the order's, never as an entry", () => {
    const cells = (over: Partial<ClosedTrade>): string[] =>
      historyCells(trade(over)).slice(6, 8).map(([text]) => text);
    const order = { orderType: "LIMIT" as const, price: 230, entryPrice: 230, exitPrice: null,
      pnl: null };
    expect(cells({ ...order, status: "CANCELLED" })).toEqual(["LIMIT 230.000000", "–"]);
    expect(cells({ ...order, status: "EXPIRED" })).toEqual(["LIMIT 230.000000", "–"]);
    expect(cells({ ...order, status: "REJECTED" })).toEqual(["LIMIT 230.000000", "–"]);
    // Filled, it has both: the order's price and the fill's.
    expect(cells({ ...order, entryPrice: 229.95 })).toEqual(["LIMIT 230.000000", "229.950000"]);
    expect(cells({})).toEqual(["Market", "235.950000"]);
    const csv = historyCsv([trade({ ...order, status: "CANCELLED" })]).trimEnd().split("\r\n");
    expect(csv[1].split(",").slice(7, 9)).toEqual(["", ""]); // no entry, no exit
    expect(csv[1].split(",")[14]).toBe("230");
  });

  it("filters by market and status", () => {
    const rows = [trade({}), trade({ tradeId: "t2", status: "LIQUIDATED" }),
      trade({ tradeId: "t3", asset: "BTC_USDC" })];
    expect(filterHistory(rows, "", "").length).toBe(3);
    expect(filterHistory(rows, "SOL_USDC", "").map((t) => t.tradeId)).toEqual(["t1", "t2"]);
    expect(filterHistory(rows, "", "LIQUIDATED").map((t) => t.tradeId)).toEqual(["t2"]);
  });
});

describe("trade notices", () => {
  const event = (kind: string, over: Partial<ClosedTrade> = {}): TradeEventMessage => ({
    type: "trade", event: kind, eventSeq: 1, orderId: null, ts: 0, trade: trade(over),
  });

  it("tells liquidation, stop loss and take profit", () => {
    const liq = describeTradeEvent(event("LIQUIDATED", { pnl: -100, exitPrice: 233.5 }), () => 6);
    expect(liq).toEqual({ kind: "bad", about: "end", sticky: true,
      text: "SOL/USDC LONG was liquidated at 233.500000: PnL -100.0000 USD" });
    expect(describeTradeEvent(event("STOP_LOSS"), () => 6)?.text).toContain("stopped out");
    const profit = describeTradeEvent(event("TAKE_PROFIT"), () => 6);
    expect(profit?.kind).toBe("good");
    expect(profit?.text).toBe("SOL/USDC LONG took profit at 236.100000: PnL +6.3573 USD");
    expect(profit?.sticky).toBe(true); // ended without the trader: stays until dismissed
  });

  it("stays quiet about what the page did itself", () => {
    const own = { ...event("OPENED"), orderId: "3f1c2b9e-0000-4000-8000-000000000001" };
    expect(describeTradeEvent(own, () => 6)).toBeNull();
    expect(describeTradeEvent(event("CLOSED"), () => 6)).toBeNull();
    expect(describeTradeEvent(event("ORDER_PLACED"), () => 6)).toBeNull();
    expect(describeTradeEvent(event("ORDER_CANCELLED"), () => 6)).toBeNull();
  });

  it("tells an order's fill, expiry and rejection, live or caught up from the history", () => {
    const fill = describeTradeEvent(event("OPENED", { entryPrice: 230.5 }), () => 6);
    expect(fill).toEqual({ kind: "good", about: "fill", text: "SOL/USDC LONG order filled at 230.500000" });
    // As GET /api/v1/trades/closed and the WebSocket send an ended order: with its price.
    const expired = describeTradeEvent(event("ORDER_EXPIRED", { margin: 50, status: "EXPIRED",
      orderType: "LIMIT", price: 230, exitPrice: null, pnl: null }), () => 6);
    expect(expired?.text).toBe("SOL/USDC LONG order at 230.000000 expired: 50.0000 USD margin returned");
    expect(describeTradeEvent(event("EXPIRED"), () => 6)?.about).toBe("end");
    const rejected = describeTradeEvent(event("REJECTED", { reason: "too many open trades" }), () => 6);
    expect(rejected?.kind).toBe("bad");
    expect(rejected?.text).toContain("rejected when it filled: too many open trades");
  });
});

describe("engine command bodies", () => {
  it("writes decimals as JSON numbers exactly as given, keeps null, drops undefined", async () => {
    const { commandBody, Raw } = await import("../src/api");
    expect(commandBody({ command: "CREATE_TRADE", margin: new Raw("0.1"),
      stopLossPrice: undefined, takeProfitPrice: null, asset: "SOL_USDC" }))
      .toBe('{"command":"CREATE_TRADE","margin":0.1,"takeProfitPrice":null,"asset":"SOL_USDC"}');
    // 12345678901234.5678 is not a double: as text it reaches the server unrounded.
    expect(commandBody({ margin: new Raw("12345678901234.5678") }))
      .toBe('{"margin":12345678901234.5678}');
  });
});

describe("how many notices show", () => {
  // Newest first, as on screen; true = sticky (an error, a trade ended by a trigger).
  it("drops the oldest transient notice past the cap", () => {
    expect(NOTICES_SHOWN).toBe(3);
    expect(overflowing([false, false, false])).toEqual([]);
    expect(overflowing([false, false, false, false])).toEqual([3]);
    expect(overflowing([false, false, false, false, false])).toEqual([4, 3]);
  });

  it("never pushes out a sticky notice: a stop-out stays under three newer ones", () => {
    // The audit's case: a stop-out, then three confirmations on top of it.
    expect(overflowing([false, false, false, true])).toEqual([2]);
    expect(overflowing([false, true, false, false])).toEqual([3]);
    expect(overflowing([false, false, true, true, false])).toEqual([4, 1]);
  });

  it("keeps every sticky notice and the newest one when only those are left", () => {
    expect(overflowing([true, true, true, true])).toEqual([]);
    expect(overflowing([false, true, true, true])).toEqual([]);
    expect(overflowing([false, true, true, true, false])).toEqual([4]);
  });
});

describe("market", () => {
  it("names a market as the page shows it, the API's id unchanged elsewhere", () => {
    expect(market("SOL_USDC")).toBe("SOL/USDC");
    expect(market("BTC_USDC")).toBe("BTC/USDC");
  });
});
