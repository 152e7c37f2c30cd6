// What the chart's price scale spans (lightweight-charts' autoscale, in chart numbers).

export interface PriceRange {
  minValue: number;
  maxValue: number;
}

/** A liquidation line this close to the price joins the scale even when the candles are flat
 * (a new market's first tick): 2%, a 50x position's. */
const NEAR = 0.02;

/** The candles' range, widened to every level a trader set or acts on (entries, orders, stops,
 * targets: they must be in view to be seen and dragged), and to a liquidation line only when it
 * lies within one more height of that range (or within 2% of it): a low leverage's, far away,
 * would flatten the candles into a line. Its price is in the positions list all the same. */
export function scaleRange(candles: PriceRange, levels: number[], liquidations: number[]): PriceRange {
  const minValue = Math.min(candles.minValue, ...levels);
  const maxValue = Math.max(candles.maxValue, ...levels);
  const reach = Math.max(maxValue - minValue, Math.abs(maxValue) * NEAR);
  const near = liquidations.filter((p) => p >= minValue - reach && p <= maxValue + reach);
  return { minValue: Math.min(minValue, ...near), maxValue: Math.max(maxValue, ...near) };
}
