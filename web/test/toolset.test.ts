import { describe, expect, it } from "vitest";
import { Raw } from "../src/api";
import { positionLines } from "../src/chart";
import { chipRefusal, marginPart, partPreview } from "../src/close-part";
import { trailingDistance } from "../src/line-moves";
import { cappedPnl, trailedStop } from "../src/money";
import { changedFields } from "../src/modify-input";
import type { OpenTrade } from "../src/types";

const raw = (v: unknown): string | unknown => (v instanceof Raw ? `raw:${v.text}` : v);
const shown = (fields: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, raw(v)]));

describe("the modify dialog sends only what changed", () => {
  const trade = { stopLossPrice: "230", takeProfitPrice: "", trailingStopDistance: "" };

  it("sets, keeps and removes levels (null removes)", () => {
    const { fields, errors } = changedFields(trade,
      { stopLossPrice: "", takeProfitPrice: "250.5", trailingStopDistance: "" }, 6);
    expect(errors).toEqual({});
    expect(shown(fields)).toEqual({ stopLossPrice: null, takeProfitPrice: "raw:250.5" });
    expect(changedFields(trade, { ...trade, stopLossPrice: " 230 " }, 6).fields).toEqual({});
  });

  it("replaces a stop loss by a trailing stop in one field, never both", () => {
    const { fields } = changedFields(trade,
      { stopLossPrice: "", takeProfitPrice: "", trailingStopDistance: "1.5" }, 6);
    expect(shown(fields)).toEqual({ trailingStopDistance: "raw:1.5" });
    const trailing = { stopLossPrice: "", takeProfitPrice: "", trailingStopDistance: "1.5" };
    expect(shown(changedFields(trailing, { ...trailing, stopLossPrice: "229",
      trailingStopDistance: "" }, 6).fields)).toEqual({ stopLossPrice: "raw:229" });
    expect(changedFields(trailing, { ...trailing, stopLossPrice: "229",
      trailingStopDistance: "2" }, 6).errors.trailingStopDistance).toContain("one of them");
  });

  it("checks decimals against the asset and keeps an order's price", () => {
    const order = { ...trade, price: "231", expiresAt: "" };
    expect(changedFields(order, { ...order, price: "231.1234567" }, 6).errors)
      .toEqual({ price: "price has at most 6 decimals" });
    expect(changedFields(order, { ...order, price: "" }, 6).errors)
      .toEqual({ price: "an order needs a price" });
    const now = new Date("2026-11-29T12:00").getTime();
    const later = changedFields(order, { ...order, expiresAt: "2026-11-29T13:00" }, 6, now);
    expect(later.fields).toEqual({ expiresAt: new Date("2026-11-29T13:00").getTime() });
    expect(changedFields({ ...order, expiresAt: "2026-11-29T13:00" }, order, 6, now).fields)
      .toEqual({ expiresAt: null });
  });
});

describe("partial close", () => {
  const t: OpenTrade = { tradeId: "t", asset: "SOL_USDC", direction: "SHORT", margin: "100.0001",
    leverage: 50, entryPrice: 236, liquidationPrice: 240.72, stopLossPrice: null,
    takeProfitPrice: null, unrealizedPnl: 0, openedAt: 0 };

  it("takes a share of the margin, floored to 0.0001 USD, all of it exactly", () => {
    expect(marginPart(1_000_001n, 50)).toBe(500_000n);
    expect(marginPart(1_000_001n, 100)).toBe(1_000_001n);
  });

  it("refuses a chip whose share of a tiny margin floors to nothing, and says why", () => {
    expect(chipRefusal(1n, 25)).toBe(
      "25% of 0.0001 USD is less than 0.0001 USD, the smallest part that closes");
    expect(chipRefusal(1n, 75)).not.toBeNull();
    expect(chipRefusal(1n, 100)).toBeNull(); // all of it always closes
    expect(chipRefusal(3n, 25)).not.toBeNull();
    expect(chipRefusal(3n, 50)).toBeNull(); // 0.0001 of 0.0003
    expect(chipRefusal(1_000_001n, 25)).toBeNull();
  });

  it("previews the part's PnL with section 4's formula on the part's notional", () => {
    const p = partPreview(t, 500_000n, 235_000_000n, 235_100_000n, 6);
    expect(p?.pnl).toBe(cappedPnl(false, 500_000n, 500, 236_000_000n, 235_100_000n));
    expect(p?.returned).toBe(500_000n + (p?.pnl ?? 0n));
    expect(partPreview(t, 0n, 1n, 1n, 6)).toBeNull();
  });
});

describe("lines on the chart", () => {
  it("draws a trailing stop as a trail and an order's levels, all movable by trade id", () => {
    const specs = positionLines(
      [{ tradeId: "a", direction: "LONG", l10: 100, entry: 10n, stopLoss: 8n, trailing: true,
        takeProfit: null, liquidation: 1n }],
      [{ tradeId: "o", direction: "SHORT", orderType: "LIMIT", l10: 20, price: 12n, stopLoss: 13n,
        takeProfit: null }]);
    expect(specs.map((s) => [s.title, s.kind, s.tradeId ?? ""])).toEqual([
      ["LONG 10x", "entry", ""], ["Trail", "trail", "a"], ["Liq.", "liq", ""],
      ["LIMIT SHORT 2x", "order", "o"], ["Order SL", "sl", "o"]]);
  });

  it("turns a dragged trailing line into a distance from the close-side price", () => {
    expect(trailingDistance("LONG", 95n, 100n, 101n)).toBe(5n);
    expect(trailingDistance("LONG", 100n, 100n, 101n)).toBeNull();
    expect(trailingDistance("SHORT", 104n, 100n, 101n)).toBe(3n);
    expect(trailingDistance("SHORT", 100n, 100n, 101n)).toBeNull();
  });
});

describe("trailing stops between the server's answers", () => {
  it("rise with a LONG's bid and fall with a SHORT's ask, never back", () => {
    expect(trailedStop(true, 228_900_000n, 231_000_000n, 231_050_000n, 2_000_000n)).toBe(229_000_000n);
    expect(trailedStop(true, 229_000_000n, 230_000_000n, 230_050_000n, 2_000_000n)).toBe(229_000_000n);
    expect(trailedStop(false, 238_000_000n, 235_000_000n, 235_050_000n, 2_000_000n)).toBe(237_050_000n);
    expect(trailedStop(false, 237_050_000n, 236_000_000n, 236_050_000n, 2_000_000n)).toBe(237_050_000n);
  });
});
