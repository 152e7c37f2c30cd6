// The price chart: lightweight-charts candles from GET /api/v1/candles, extended by the live
// ticks (asks, as the server's candles are), with crosshair, zoom and scroll from the library,
// local-time axes, and the asset's positions and pending orders as price lines, the movable
// ones with grips (chart-handles.ts).

import {
  type AutoscaleInfo, CandlestickSeries, ColorType, CrosshairMode, createChart, LineStyle, TickMarkType,
  type IChartApi, type IPriceLine, type ISeriesApi, type Time, type UTCTimestamp,
} from "lightweight-charts";
import { foldTick, type Interval, type UnitCandle } from "./candles";
import { LineHandles, type PriceLineSpec } from "./chart-handles";
import { scaleRange } from "./chart-scale";
import { chartPrice, dateTime, leverage, price } from "./format";
import { fromUnits, toUnits } from "./money";

export type { PriceLineSpec } from "./chart-handles";

const LINE_COLORS = { entry: "#4c8dff", sl: "#f0616d", tp: "#2ebd85", liq: "#f5a524",
  order: "#b58cff", trail: "#f0616d" };
/** A level moved on the chart snaps to the cent: the pointer picks no finer than that. */
const DRAG_PLACES = 2;
const pad = (n: number): string => String(n).padStart(2, "0");

/** Axis labels in the viewer's time zone (the library's own are UTC). */
function tickLabel(time: Time, type: TickMarkType): string {
  const d = new Date((time as number) * 1000);
  switch (type) {
    case TickMarkType.Year: return String(d.getFullYear());
    case TickMarkType.Month: return d.toLocaleString(undefined, { month: "short" });
    case TickMarkType.DayOfMonth: return `${d.getDate()} ${d.toLocaleString(undefined, { month: "short" })}`;
    default: return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
}

export class PriceChart {
  private readonly chart: IChartApi;
  private readonly series: ISeriesApi<"Candlestick">;
  /** The market whose candles the chart holds ("" until the first are set). */
  private asset = "";
  private candles: UnitCandle[] = [];
  private decimals = 2;
  private interval: Interval = "1m";
  private lines: IPriceLine[] = [];
  private linePrices: number[] = [];
  private liquidationPrices: number[] = [];
  private readonly handles: LineHandles;
  /** Lines that arrived during a drag, drawn once it ends. */
  private deferred: PriceLineSpec[] | null = null;

  constructor(
    private readonly container: HTMLElement,
    private readonly legend: HTMLElement,
    /** A line let go: settles once the server has answered and the lines are redrawn. */
    onMove: (spec: PriceLineSpec, price: string) => Promise<void>,
  ) {
    this.chart = createChart(container, {
      autoSize: true,
      layout: { background: { type: ColorType.Solid, color: "#12161f" }, textColor: "#aab3c5",
        attributionLogo: false },
      grid: { vertLines: { color: "#1e2430" }, horzLines: { color: "#1e2430" } },
      crosshair: { mode: CrosshairMode.Normal },
      rightPriceScale: { borderColor: "#2a3140" },
      timeScale: { borderColor: "#2a3140", timeVisible: true, secondsVisible: false, rightOffset: 4,
        tickMarkFormatter: tickLabel },
      localization: { timeFormatter: (time: Time) => dateTime((time as number) * 1000) },
    });
    this.series = this.chart.addSeries(CandlestickSeries, {
      upColor: "#2ebd85", downColor: "#f0616d", borderVisible: false,
      wickUpColor: "#2ebd85", wickDownColor: "#f0616d",
      // The positions' levels stay in view: the scale spans the candles and the lines (a far
      // liquidation line aside: chart-scale.ts).
      autoscaleInfoProvider: (original: () => AutoscaleInfo | null) => {
        const info = original();
        if (!info?.priceRange || !this.lines.length) return info;
        return { ...info,
          priceRange: scaleRange(info.priceRange, this.linePrices, this.liquidationPrices) };
      },
    });
    const places = (): number => Math.min(DRAG_PLACES, this.decimals);
    this.handles = new LineHandles(container, this.series,
      { snap: (value) => value.toFixed(places()), unit: () => 10 ** -places(),
        show: (level) => {
          const units = toUnits(level, this.decimals);
          return units === null ? level : price(units, this.decimals);
        } },
      onMove, () => this.drawDeferred());
    this.chart.subscribeCrosshairMove((param) => {
      const bar = param.time === undefined ? undefined : param.seriesData.get(this.series);
      this.showLegend(bar && "open" in bar ? param.time as number : null);
    });
  }

  /** A new history (asset or interval changed, or a catch-up after a reconnect). */
  setCandles(asset: string, candles: UnitCandle[], decimals: number, interval: Interval): void {
    this.asset = asset;
    this.candles = candles;
    this.decimals = decimals;
    this.interval = interval;
    // The axis, the crosshair and the last-price label read as the rest of the page: every
    // decimal of the asset, thousands grouped (format.ts).
    this.series.applyOptions({ priceFormat: { type: "custom", minMove: 1 / 10 ** decimals,
      formatter: (value: number) => chartPrice(value, decimals) } });
    this.series.setData(candles.map((c) => this.bar(c)));
    this.container.dataset.candles = String(candles.length);
    this.showLegend(null);
  }

  /** A tick of the chart's asset: folds into the last candle or starts the next. Another
   * asset's tick is dropped: after a switch of market, until the new market's candles come,
   * the chart still holds the old one's (with its decimals). */
  addTick(asset: string, ms: number, units: bigint): void {
    if (asset !== this.asset) return;
    const last = this.candles[this.candles.length - 1];
    const next = foldTick(last, ms, units, this.interval);
    if (next === null) return;
    if (last && next.time === last.time) this.candles[this.candles.length - 1] = next;
    else this.candles.push(next);
    this.series.update(this.bar(next));
    this.container.dataset.candles = String(this.candles.length);
    this.container.dataset.last = fromUnits(next.close, this.decimals);
    this.showLegend(null);
  }

  setLines(specs: PriceLineSpec[]): void {
    if (this.handles.busy) {
      this.deferred = specs;
      return;
    }
    for (const line of this.lines) this.series.removePriceLine(line);
    this.linePrices = specs.filter((s) => s.kind !== "liq").map((s) => this.number(s.price));
    this.liquidationPrices = specs.filter((s) => s.kind === "liq").map((s) => this.number(s.price));
    this.lines = specs.map((spec) => this.series.createPriceLine({
      price: this.number(spec.price),
      color: LINE_COLORS[spec.kind],
      lineWidth: 1,
      lineStyle: spec.kind === "entry" || spec.kind === "order" ? LineStyle.Solid
        : spec.kind === "trail" ? LineStyle.SparseDotted : LineStyle.Dashed,
      axisLabelVisible: true,
      title: spec.title,
    }));
    // What is drawn, readable outside the canvas (assistive tech and the browser tests).
    this.container.dataset.lines = specs.map((s) => `${s.title} ${fromUnits(s.price, this.decimals)}`)
      .join("; ");
    this.container.setAttribute("aria-description", this.container.dataset.lines || "no positions");
    this.handles.set(specs, this.lines, (units) => this.number(units),
      (units) => fromUnits(units, this.decimals));
  }

  private drawDeferred(): void {
    const specs = this.deferred;
    this.deferred = null;
    if (specs) this.setLines(specs);
  }

  private showLegend(time: number | null): void {
    const candle = time === null ? this.candles[this.candles.length - 1]
      : this.candles.find((c) => c.time === time * 1000);
    if (!candle) {
      this.legend.textContent = "No candles yet";
      return;
    }
    const f = (units: bigint): string => price(units, this.decimals);
    this.legend.textContent = `${dateTime(candle.time)}  O ${f(candle.open)}  H ${f(candle.high)}` +
      `  L ${f(candle.low)}  C ${f(candle.close)}`;
  }

  /** Drawing coordinates only: the chart library takes numbers; no money is computed here. */
  private number(units: bigint): number {
    return Number(fromUnits(units, this.decimals));
  }

  private bar(c: UnitCandle): { time: UTCTimestamp; open: number; high: number; low: number; close: number } {
    return { time: (c.time / 1000) as UTCTimestamp, open: this.number(c.open),
      high: this.number(c.high), low: this.number(c.low), close: this.number(c.close) };
  }
}

/** A position's lines: entry, stop loss (or its trailing stop), take profit, liquidation. */
export interface PositionLevels {
  tradeId: string;
  direction: string;
  l10: number;
  entry: bigint;
  stopLoss: bigint | null;
  trailing: boolean;
  takeProfit: bigint | null;
  liquidation: bigint | null;
}

/** A pending order's lines: its price, and the stop loss and take profit it will carry. */
export interface OrderLevels {
  tradeId: string;
  direction: string;
  orderType: string;
  l10: number;
  price: bigint;
  stopLoss: bigint | null;
  takeProfit: bigint | null;
}

export function positionLines(trades: PositionLevels[], orders: OrderLevels[] = []): PriceLineSpec[] {
  const specs: PriceLineSpec[] = [];
  for (const t of trades) {
    const tradeId = t.tradeId;
    specs.push({ price: t.entry, title: `${t.direction} ${leverage(t.l10)}`, kind: "entry" });
    if (t.stopLoss !== null) {
      specs.push(t.trailing ? { price: t.stopLoss, title: "Trail", kind: "trail", tradeId }
        : { price: t.stopLoss, title: "SL", kind: "sl", tradeId });
    }
    if (t.takeProfit !== null) specs.push({ price: t.takeProfit, title: "TP", kind: "tp", tradeId });
    if (t.liquidation !== null) specs.push({ price: t.liquidation, title: "Liq.", kind: "liq" });
  }
  for (const o of orders) {
    const tradeId = o.tradeId;
    specs.push({ price: o.price, title: `${o.orderType} ${o.direction} ${leverage(o.l10)}`,
      kind: "order", tradeId });
    if (o.stopLoss !== null) specs.push({ price: o.stopLoss, title: "Order SL", kind: "sl", tradeId });
    if (o.takeProfit !== null) {
      specs.push({ price: o.takeProfit, title: "Order TP", kind: "tp", tradeId });
    }
  }
  return specs;
}
