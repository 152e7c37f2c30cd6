// A small candlestick chart on a <canvas>. Candles are {time, open, high, low, close} with
// prices as JS numbers: only for drawing, never for money.

const UP = "#1a9e5a";
const DOWN = "#d14343";
const GRID = "#d9dde3";
const TEXT = "#5b6470";

export class CandleChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.candles = [];
    this.intervalMs = 60_000;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  setCandles(candles, intervalMs) {
    this.candles = candles.slice(-120);
    this.intervalMs = intervalMs;
    this.draw();
  }

  // Fold a live ask into the last candle, or open a new one when its bucket has passed.
  addPrice(timeMs, price) {
    const bucket = Math.floor(timeMs / this.intervalMs) * this.intervalMs;
    const last = this.candles[this.candles.length - 1];
    if (last && last.time === bucket) {
      last.high = Math.max(last.high, price);
      last.low = Math.min(last.low, price);
      last.close = price;
    } else if (!last || bucket > last.time) {
      this.candles.push({ time: bucket, open: price, high: price, low: price, close: price });
      if (this.candles.length > 120) this.candles.shift();
    }
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = TEXT;
    if (!this.candles.length) {
      ctx.fillText("No candles yet: prices appear as the exchange receives them.", 12, 24);
      return;
    }
    const axis = 64;
    const plotW = width - axis - 8;
    const plotH = height - 28;
    const lows = this.candles.map((c) => c.low);
    const highs = this.candles.map((c) => c.high);
    let min = Math.min(...lows);
    let max = Math.max(...highs);
    if (max === min) { max += 1; min -= 1; }
    const pad = (max - min) * 0.05;
    min -= pad; max += pad;
    const y = (p) => 8 + (max - p) / (max - min) * (plotH - 8);

    ctx.strokeStyle = GRID;
    ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i += 1) {
      const price = min + (max - min) * i / 4;
      const py = Math.round(y(price)) + 0.5;
      ctx.beginPath(); ctx.moveTo(0, py); ctx.lineTo(plotW, py); ctx.stroke();
      ctx.fillText(price.toPrecision(7), plotW + 6, py + 4);
    }
    const slot = plotW / Math.max(this.candles.length, 30);
    const body = Math.max(1, slot * 0.6);
    this.candles.forEach((c, i) => {
      const x = i * slot + slot / 2;
      ctx.strokeStyle = ctx.fillStyle = c.close >= c.open ? UP : DOWN;
      ctx.beginPath(); ctx.moveTo(x, y(c.high)); ctx.lineTo(x, y(c.low)); ctx.stroke();
      const top = y(Math.max(c.open, c.close));
      ctx.fillRect(x - body / 2, top, body, Math.max(1, y(Math.min(c.open, c.close)) - top));
    });
    ctx.fillStyle = TEXT;
    const first = new Date(this.candles[0].time);
    const last = new Date(this.candles[this.candles.length - 1].time);
    ctx.fillText(first.toLocaleTimeString(), 4, height - 8);
    const label = last.toLocaleTimeString();
    ctx.fillText(label, plotW - ctx.measureText(label).width, height - 8);
  }
}
