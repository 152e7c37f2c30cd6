import { describe, expect, it } from "vitest";
import vectors from "./money-vectors.json";
import {
  cappedPnl, ceilDiv, floorDiv, fromUnits, isDecimalText, liquidationPrice, notional, pnl, toUnits,
} from "../src/money";
import { previewOrder } from "../src/preview";

describe("money.ts against the engine's own answers (tests/browser/make_vectors.py)", () => {
  it("has vectors", () => {
    expect(vectors.pnl.length).toBeGreaterThan(500);
    expect(vectors.liquidation.length).toBeGreaterThan(500);
  });

  it("computes every PnL and capped PnL exactly as engine_svc.core.money", () => {
    for (const c of vectors.pnl) {
      const args = [c.long, BigInt(c.margin), c.leverage, BigInt(c.entry), BigInt(c.price)] as const;
      expect(pnl(...args).toString(), JSON.stringify(c)).toBe(c.pnl);
      expect(cappedPnl(...args).toString(), JSON.stringify(c)).toBe(c.cappedPnl);
    }
  });

  it("computes every liquidation price exactly as engine_svc.core.money", () => {
    for (const c of vectors.liquidation) {
      const level = liquidationPrice(c.long, BigInt(c.entry), c.leverage, c.maintenancePpm);
      expect(level === null ? null : level.toString(), JSON.stringify(c)).toBe(c.liquidation);
    }
  });
});

describe("units", () => {
  it("parses decimals exactly and refuses extra decimals instead of rounding", () => {
    expect(toUnits("235.95", 6)).toBe(235_950_000n);
    expect(toUnits(235.95, 6)).toBe(235_950_000n);
    expect(toUnits("0.1", 4)).toBe(1000n);
    expect(toUnits("-3.5", 4)).toBe(-35000n);
    expect(toUnits("1.00000", 4)).toBe(10000n); // trailing zeros are not extra precision
    expect(toUnits("1.00001", 4)).toBeNull();
    expect(toUnits("1e3", 4)).toBeNull();
    expect(toUnits("abc", 4)).toBeNull();
    expect(toUnits("", 4)).toBeNull();
  });

  it("reads a leading dot as typed (\".5\" is 0.5), still refusing what is not a decimal", () => {
    expect(toUnits(".5", 4)).toBe(5000n);
    expect(toUnits(" .25 ", 6)).toBe(250_000n);
    expect(toUnits("-.5", 4)).toBe(-5000n);
    expect(isDecimalText(".5")).toBe(true);
    for (const bad of [".", "-.", "5.", "..5", ".5.", "1.2.3", ".e5", ". 5", "+.5", "0x1"]) {
      expect(toUnits(bad, 4), bad).toBeNull();
      expect(isDecimalText(bad), bad).toBe(false);
    }
    expect(toUnits(".00001", 4)).toBeNull(); // too many decimals: refused, never rounded
  });

  it("formats units back without losing digits", () => {
    expect(fromUnits(235_950_000n, 6)).toBe("235.95");
    expect(fromUnits(5n, 4)).toBe("0.0005");
    expect(fromUnits(-5n, 4)).toBe("-0.0005");
    expect(fromUnits(50_000_000n, 4, 2)).toBe("5000.00");
    expect(fromUnits(900_127_000n, 4)).toBe("90012.7");
    // Beyond a double's 53 bits: still exact.
    expect(fromUnits(12_345_678_901_234_567_891n, 4)).toBe("1234567890123456.7891");
  });

  it("rounds toward minus infinity, as the engine's round_down", () => {
    expect(floorDiv(7n, 2n)).toBe(3n);
    expect(floorDiv(-7n, 2n)).toBe(-4n);
    expect(floorDiv(7n, -2n)).toBe(-4n);
    expect(floorDiv(-6n, 2n)).toBe(-3n);
    expect(ceilDiv(7n, 2n)).toBe(4n);
    expect(ceilDiv(-7n, 2n)).toBe(-3n);
  });
});

describe("the ticket preview", () => {
  it("shows the seed's SHORT 100x example: liquidation 238.3095 at 235.95", () => {
    const p = previewOrder({ direction: "SHORT", margin: 1_000_000n, l10: 1000,
      bid: 235_950_000n, ask: 236_000_000n, stopLoss: null, takeProfit: null, maintenancePpm: 0 });
    expect(p.entry).toBe(235_950_000n);
    expect(fromUnits(p.liquidation ?? 0n, 6)).toBe("238.3095");
    expect(fromUnits(p.notional.units, p.notional.scale)).toBe("10000");
  });

  it("opens a LONG at the ask, caps the loss at the margin, and has no 1x LONG liquidation", () => {
    const p = previewOrder({ direction: "LONG", margin: 1_000_000n, l10: 10,
      bid: 235_900_000n, ask: 235_950_000n, stopLoss: 1n, takeProfit: 471_900_000n,
      maintenancePpm: 0 });
    expect(p.entry).toBe(235_950_000n);
    expect(p.liquidation).toBeNull();
    expect(p.requiredMargin).toBe(1_000_000n);
    expect(p.pnlAtTakeProfit).toBe(pnl(true, 1_000_000n, 10, 235_950_000n, 471_900_000n));
    const deep = previewOrder({ direction: "LONG", margin: 1_000_000n, l10: 1000,
      bid: 235_900_000n, ask: 235_950_000n, stopLoss: 1n, takeProfit: null, maintenancePpm: 0 });
    expect(deep.pnlAtStopLoss).toBe(-1_000_000n);
    expect(deep.pnlAtTakeProfit).toBeNull();
  });

  it("opens a limit or stop order at its own price, whatever the quote", () => {
    const p = previewOrder({ direction: "SHORT", margin: 1_000_000n, l10: 1000,
      bid: 230_000_000n, ask: 230_050_000n, stopLoss: null, takeProfit: 230_000_000n,
      maintenancePpm: 0, price: 235_950_000n });
    expect(p.entry).toBe(235_950_000n);
    expect(fromUnits(p.liquidation ?? 0n, 6)).toBe("238.3095");
    expect(p.pnlAtTakeProfit).toBe(pnl(false, 1_000_000n, 1000, 235_950_000n, 230_000_000n));
  });

  it("keeps the notional exact at 5 decimals (margin * L10 / 10)", () => {
    expect(notional(1n, 15)).toEqual({ units: 15n, scale: 5 }); // 0.0001 * 1.5 = 0.00015
  });
});
