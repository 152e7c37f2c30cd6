import { describe, expect, it } from "vitest";

import { scaleRange } from "../src/chart-scale";

describe("the chart's price scale", () => {
  const candles = { minValue: 100, maxValue: 102 };

  it("spans the candles and every level a trader set", () => {
    expect(scaleRange(candles, [95, 110], [])).toEqual({ minValue: 95, maxValue: 110 });
  });

  it("takes a liquidation line within one more height of that range", () => {
    // A 100x LONG's, a little below the candles.
    expect(scaleRange(candles, [], [98.5])).toEqual({ minValue: 98.5, maxValue: 102 });
  });

  it("leaves a far liquidation line out, so the candles keep their height", () => {
    // A 1x SHORT's, at twice the entry: the candles would be a flat line at the bottom.
    expect(scaleRange(candles, [101], [202])).toEqual(candles);
    // The reach grows with the levels: a stop far below brings a liquidation near it in.
    expect(scaleRange(candles, [90], [85])).toEqual({ minValue: 85, maxValue: 102 });
  });

  it("decides each liquidation line on its own, whatever their order", () => {
    const flat = { minValue: 100, maxValue: 100 }; // one tick so far
    expect(scaleRange(flat, [], [99])).toEqual({ minValue: 99, maxValue: 100 }); // within 2%
    expect(scaleRange(flat, [], [90])).toEqual(flat);
    expect(scaleRange(candles, [], [97.5, 99])).toEqual(scaleRange(candles, [], [99, 97.5]));
    expect(scaleRange(candles, [], [97.5, 99]).minValue).toBe(99); // 97.5 is past the reach
  });
});
