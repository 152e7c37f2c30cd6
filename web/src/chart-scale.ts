// What the chart's price scale spans (lightweight-charts' autoscale, in chart numbers).

export interface PriceRange {
  minValue: number;
  maxValue: number;
}

/** The candles' range, widened to every level a trader set or acts on (entries, orders, stops,
 * targets: they must be in view to be seen and dragged), and to a liquidation line only when it
 * lies within one more height of that range: a low leverage's, far away, would flatten the
 * candles into a line. Its price is in the positions list and on the ticket all the same. */
export function scaleRange(candles: PriceRange, levels: number[], liquidations: number[]): PriceRange {
  let minValue = Math.min(candles.minValue, ...levels);
  let maxValue = Math.max(candles.maxValue, ...levels);
  const reach = maxValue - minValue;
  for (const price of liquidations) {
    if (price >= minValue - reach && price <= maxValue + reach) {
      minValue = Math.min(minValue, price);
      maxValue = Math.max(maxValue, price);
    }
  }
  return { minValue, maxValue };
}
