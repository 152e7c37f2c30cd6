import { describe, expect, it } from "vitest";
import { liquidationPrice, MAINTENANCE_PPM } from "../src/money";
import { typedLiquidation } from "../src/modify-input";

describe("a pending order's liquidation price follows the price being typed", () => {
  it("is the money rule's figure at the typed price", () => {
    // 10x LONG SOL at 200: floor(200 * (1 - 1/10)) = 180.
    expect(typedLiquidation("200", "235.95", true, 100, 6)).toBe(180_000_000n);
    expect(typedLiquidation("200", "235.95", true, 100, 6))
      .toBe(liquidationPrice(true, 200_000_000n, 100, MAINTENANCE_PPM));
    // 10x SHORT at 200.5: ceil(200.5 * 1.1) = 220.55.
    expect(typedLiquidation(" 200.5 ", "235.95", false, 100, 6)).toBe(220_550_000n);
  });

  it("has none for a 1x LONG", () => {
    expect(typedLiquidation("200", "235.95", true, 10, 6)).toBeNull();
  });

  it("leaves the stored figure while the price is empty, unchanged or not a price", () => {
    for (const typed of ["", "  ", "235.95", "235.950", "abc", "0", "-5", "1.1234567"]) {
      expect(typedLiquidation(typed, "235.95", true, 100, 6)).toBeUndefined();
    }
  });
});
