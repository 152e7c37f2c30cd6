// How numbers and times read on the page. Inputs are BigInt units (money.ts) or the API's
// decimal JSON numbers; nothing here does float arithmetic on money.

import { floorDiv, fromUnits, toUnits, USD_SCALE } from "./money";

/** A market as the page names it: "SOL_USDC" -> "SOL/USDC" (the API's id stays in requests). */
export function market(asset: string): string {
  return asset.replace("_", "/");
}

/** "1234567.5" -> "1,234,567.5" (grouping only; the digits are untouched). */
export function groupThousands(text: string): string {
  const negative = text.startsWith("-");
  const [whole, frac] = (negative ? text.slice(1) : text).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}${grouped}${frac !== undefined ? `.${frac}` : ""}`;
}

/** The one way USD reads on the page: thousands grouped, always the 4 decimals of the USD unit
 * (0.0001), so the figures of a column line up and keep their width from row to row and tick
 * to tick ("-3.8680" under "-2.6292", never "-3.868"). A finer value (a notional is exact to 5
 * decimals, `scale` 5) is rounded down (toward minus infinity, the engine's round_down) to
 * 0.0001. PnL is `signed`: "+12.5000", "-3.0001", "0.0000". */
export function usd(units: bigint, { signed = false, scale = USD_SCALE } = {}): string {
  const shown = scale > USD_SCALE ? floorDiv(units, 10n ** BigInt(scale - USD_SCALE)) : units;
  const text = groupThousands(fromUnits(shown, Math.min(scale, USD_SCALE), USD_SCALE));
  return signed && shown > 0n ? `+${text}` : text;
}

/** Price units -> "90,012.7000": thousands grouped, always every decimal of the asset, so a
 * price keeps its width from tick to tick. */
export function price(units: bigint, decimals: number): string {
  return groupThousands(fromUnits(units, decimals, decimals));
}

/** A chart coordinate (lightweight-charts' number: an axis mark, the crosshair, a label) as
 * `price` shows it. toFixed only turns the double into decimal text, rounded to the nearest
 * unit; nothing is computed with it. */
export function chartPrice(value: number, decimals: number): string {
  if (!Number.isFinite(value)) return "";
  const units = toUnits(value.toFixed(decimals), decimals);
  return units === null ? "" : price(units, decimals);
}

/** An API number (JSON, in units of the currency) as a price or USD text; "–" when absent. */
export function apiPrice(value: number | string | null | undefined, decimals: number): string {
  if (value === null || value === undefined) return "–";
  const units = toUnits(value, decimals);
  return units === null ? String(value) : price(units, decimals);
}

export function apiUsd(value: number | string | null | undefined, { signed = false } = {}): string {
  if (value === null || value === undefined) return "–";
  const units = toUnits(value, USD_SCALE);
  return units === null ? String(value) : usd(units, { signed });
}

/** An API PnL as a table shows it: signed, with its colour class. */
export function apiPnl(value: number | string | null | undefined): { text: string; cls: string } {
  const units = value === null || value === undefined ? null : toUnits(value, USD_SCALE);
  return { text: apiUsd(value, { signed: true }), cls: signClass(units) };
}

/** Percent with 2 decimals from a scale-2 integer: 5000037n -> "50,000.37%". */
export function percent(scaled: bigint | null): string {
  return scaled === null ? "–" : `${groupThousands(fromUnits(scaled, 2, 2))}%`;
}

/** Change from `open` to `last` in percent, 2 decimals, rounded toward zero: "+1.25%". */
export function change(open: bigint, last: bigint): string {
  if (open <= 0n) return "–";
  const diff = (last - open) * 10_000n;
  const scaled = diff < 0n ? -floorDiv(-diff, open) : floorDiv(diff, open);
  const text = `${fromUnits(scaled, 2, 2)}%`;
  return scaled > 0n ? `+${text}` : text;
}

/** L10 -> "10x", "12.5x". */
export function leverage(l10: number): string {
  return `${fromUnits(BigInt(l10), 1)}x`;
}

const pad = (n: number): string => String(n).padStart(2, "0");

/** Milliseconds -> "2026-11-29 10:04:05" in the viewer's time zone. */
export function dateTime(ms: number | null | undefined): string {
  if (!ms) return "–";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${timeOfDay(ms)}`;
}

/** Milliseconds -> "10:04:05" in the viewer's time zone. */
export function timeOfDay(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function signClass(units: bigint | null): string {
  if (units === null || units === 0n) return "";
  return units > 0n ? "pos" : "neg";
}

/** Milliseconds -> a `datetime-local` input's value in the viewer's time zone, to the minute. */
export function localInput(ms: number | null | undefined): string {
  if (!ms) return "";
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
