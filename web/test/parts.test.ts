import { describe, expect, it } from "vitest";
import { l10Of, liveAccount, livePnl } from "../src/account";
import { bucketStart, foldTick } from "../src/candles";
import { cappedPnl } from "../src/money";
import { leverageL10, positiveDecimal, readTicket } from "../src/ticket-input";
import type { OpenTrade, Quote } from "../src/types";

const open = (over: Partial<OpenTrade>): OpenTrade => ({
  tradeId: "t", asset: "SOL_USDC", direction: "LONG", margin: 100, leverage: 100,
  entryPrice: 235.95, liquidationPrice: 233.5905, stopLossPrice: null, takeProfitPrice: null,
  unrealizedPnl: 0, openedAt: 0, ...over,
});
const quote = (bid: bigint, ask: bigint): Quote => ({ bid, ask, decimals: 6, ts: 0 });

describe("the account and the positions read one price", () => {
  it("marks a LONG at the bid and a SHORT at the ask", () => {
    const q = quote(236_000_000n, 236_100_000n);
    expect(livePnl(open({}), q)).toBe(cappedPnl(true, 1_000_000n, 1000, 235_950_000n, 236_000_000n));
    expect(livePnl(open({ direction: "SHORT", entryPrice: 235.9 }), q))
      .toBe(cappedPnl(false, 1_000_000n, 1000, 235_900_000n, 236_100_000n));
    expect(livePnl(open({}), undefined)).toBeNull();
  });

  it("sums the same PnL into equity and gives the margin level in percent", () => {
    const trades = [open({ tradeId: "a" }), open({ tradeId: "b", direction: "SHORT", margin: 50 })];
    const quotes = new Map([["SOL_USDC", quote(236_000_000n, 236_100_000n)]]);
    const a = liveAccount(48_500_000n, 0n, trades, quotes);
    const pnls = trades.map((t) => livePnl(t, quotes.get(t.asset)) ?? 0n);
    expect(a.unrealizedPnl).toBe(pnls[0] + pnls[1]);
    expect(a.usedMargin).toBe(1_500_000n);
    expect(a.equity).toBe(48_500_000n + 1_500_000n + a.unrealizedPnl);
    expect(a.marginLevelPct).toBe((a.equity * 10_000n) / 1_500_000n);
    expect(liveAccount(50_000_000n, 0n, [], quotes).marginLevelPct).toBeNull();
    // Margin reserved by pending orders is the trader's: in equity, not in the free balance.
    const withOrder = liveAccount(48_500_000n, 400_000n, trades, quotes);
    expect(withOrder.equity).toBe(a.equity + 400_000n);
    expect(withOrder.freeMargin).toBe(48_500_000n);
  });

  it("uses the server's mark for an asset without a quote yet", () => {
    const a = liveAccount(0n, 0n, [open({ asset: "ETH_USDC", unrealizedPnl: -1.5 })], new Map());
    expect(a.unrealizedPnl).toBe(-15_000n);
  });

  it("reads leverage as L10", () => {
    expect(l10Of({ leverage: 100 })).toBe(1000);
    expect(l10Of({ leverage: "1.5" })).toBe(15);
  });
});

describe("candles", () => {
  it("aligns buckets like the server (UTC, time // size)", () => {
    expect(bucketStart(60_000 * 5 + 59_999, "1m")).toBe(300_000);
    expect(bucketStart(86_400_000 * 3 + 5, "1d")).toBe(86_400_000 * 3);
  });

  it("folds ticks into the last candle, opens the next, and never rewrites history", () => {
    const first = foldTick(undefined, 61_000, 10n, "1m");
    expect(first).toEqual({ time: 60_000, open: 10n, high: 10n, low: 10n, close: 10n });
    const up = foldTick(first ?? undefined, 62_000, 12n, "1m");
    const down = foldTick(up ?? undefined, 63_000, 9n, "1m");
    expect(down).toEqual({ time: 60_000, open: 10n, high: 12n, low: 9n, close: 9n });
    expect(foldTick(down ?? undefined, 120_000, 11n, "1m")?.time).toBe(120_000);
    expect(foldTick(down ?? undefined, 59_000, 11n, "1m")).toBeNull();
  });
});

describe("the ticket's fields", () => {
  const base = { asset: "SOL_USDC", direction: "LONG" as const, orderType: "MARKET" as const,
    price: "", margin: "100", leverage: "10", stopLossPrice: "", takeProfitPrice: "",
    trailingStopDistance: "", expiresAt: "" };
  const NOW = new Date("2026-11-29T12:00").getTime();

  it("reads exact values", () => {
    const { values, errors } = readTicket({ ...base, stopLossPrice: "230.5" }, 6);
    expect(errors).toEqual({});
    expect(values).toEqual({ asset: "SOL_USDC", direction: "LONG", orderType: "MARKET",
      price: null, margin: 1_000_000n, l10: 100, stopLoss: 230_500_000n, takeProfit: null,
      trailingDistance: null, expiresAt: null });
  });

  it("reads a limit order's price and expiry, and ignores them for a market order", () => {
    const limit = { ...base, orderType: "LIMIT" as const, price: "230", expiresAt: "2026-11-29T18:30" };
    const { values, errors } = readTicket(limit, 6, NOW);
    expect(errors).toEqual({});
    expect(values.price).toBe(230_000_000n);
    expect(values.expiresAt).toBe(new Date("2026-11-29T18:30").getTime());
    const market = readTicket({ ...limit, orderType: "MARKET" }, 6, NOW);
    expect(market.values.price).toBeNull();
    expect(market.values.expiresAt).toBeNull();
  });

  it("asks a pending order for a price and a future expiry", () => {
    const stop = { ...base, orderType: "STOP" as const };
    expect(readTicket(stop, 6, NOW).errors).toEqual({ price: "a limit or stop order needs a price" });
    expect(readTicket({ ...stop, price: "240", expiresAt: "2026-11-29T11:00" }, 6, NOW).errors)
      .toEqual({ expiresAt: "expiry must be in the future" });
    expect(readTicket({ ...stop, price: "240.0000001" }, 6, NOW).errors)
      .toEqual({ price: "price has at most 6 decimals" });
  });

  it("takes a trailing distance or a stop loss, not both", () => {
    const trailing = readTicket({ ...base, trailingStopDistance: "2.5" }, 6);
    expect(trailing.values.trailingDistance).toBe(2_500_000n);
    expect(readTicket({ ...base, trailingStopDistance: "2.5", stopLossPrice: "230" }, 6).errors)
      .toEqual({ trailingStopDistance: "a trailing stop replaces the stop loss: give one of them" });
  });

  it("takes \".5\" as 0.5 in any amount or price, still refusing too many decimals", () => {
    expect(readTicket({ ...base, margin: ".5" }, 6)).toMatchObject({ errors: {},
      values: { margin: 5_000n } });
    expect(readTicket({ ...base, stopLossPrice: ".25" }, 6).values.stopLoss).toBe(250_000n);
    expect(readTicket({ ...base, margin: ".00001" }, 6).errors).toEqual({
      margin: "margin has at most 4 decimals" });
    expect(readTicket({ ...base, margin: "." }, 6).errors).toEqual({
      margin: "margin must be a number" });
  });

  it("reads leverage in x to the tenth, as the engine's L10 (10..1000)", () => {
    expect(readTicket({ ...base, leverage: "12.5" }, 6).values.l10).toBe(125);
    expect([leverageL10("1"), leverageL10("1.1"), leverageL10("99.9"), leverageL10("100"),
      leverageL10(" 12.5x ")]).toEqual([10, 11, 999, 1000, 125]);
    for (const bad of ["0.9", ".5", "12.55", "100.1", "", "x", "ten"]) {
      expect(leverageL10(bad), bad).toBe("leverage is 1x to 100x, in steps of 0.1x");
    }
  });

  it("names the field at fault, with the server's field names", () => {
    expect(readTicket({ ...base, margin: "1.00001" }, 6).errors).toEqual({
      margin: "margin has at most 4 decimals" });
    expect(readTicket({ ...base, margin: "0" }, 6).errors.margin).toBe("margin must be above 0");
    // Empty is missing, not a bad number; the partial close's margin reads the same rule.
    expect(readTicket({ ...base, margin: "" }, 6).errors.margin).toBe("margin is required");
    expect(readTicket({ ...base, margin: "  " }, 6).errors.margin).toBe("margin is required");
    expect(positiveDecimal("", 4, "margin")).toBe("margin is required");
    expect(readTicket({ ...base, takeProfitPrice: "1.12345" }, 4).errors).toEqual({
      takeProfitPrice: "take profit has at most 4 decimals" });
    expect(readTicket({ ...base, stopLossPrice: "x" }, 6).errors.stopLossPrice)
      .toBe("stop loss must be a number");
    expect(readTicket({ ...base, leverage: "100.1" }, 6).errors.leverage)
      .toBe("leverage is 1x to 100x, in steps of 0.1x");
  });
});
