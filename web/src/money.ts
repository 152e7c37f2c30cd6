// Exact money for the page: USD and prices are BigInt integer units with a known scale, never
// JS floats. The formulas mirror engine_svc/core/money.py (SPEC section 4) and are checked
// against vectors the engine itself writes (web/test/money-vectors.json).

export const USD_SCALE = 4;
export const PPM = 1_000_000n;
export const MIN_L10 = 10;
export const MAX_L10 = 1000;

/** ENGINE_MAINTENANCE_MARGIN_RATE's default (SPEC section 4), in parts per million. The API
 * does not publish the rate in force; where an operator sets another, the liquidation price in
 * the answer to the order (and on the position) is the server's and the one that counts. */
export const MAINTENANCE_PPM = 0;
/** The asset's price decimals (SPEC section 4); the WebSocket ticks carry them too. */
export const ASSET_DECIMALS: Record<string, number> = { BTC_USDC: 4, ETH_USDC: 6, SOL_USDC: 6 };

/** A plain decimal: "12", "12.5", or ".5" as typed for 0.5; no exponent, no lone or trailing dot. */
const DECIMAL_TEXT = /^-?(\d+|\d*\.\d+)$/;

/** A decimal as text, from the API's JSON numbers or a user's input. JSON numbers the API
 * sends carry at most 4-6 decimals and <= 15 significant digits, so String() is exact. */
export function decimalText(value: string | number): string {
  return typeof value === "string" ? value.trim() : String(value);
}

export function isDecimalText(text: string): boolean {
  return DECIMAL_TEXT.test(text.trim());
}

/** "235.95", 6 -> 235950000n; null when it is not a plain decimal or has more than `scale`
 * decimals (rejected, never rounded: the server would refuse it too). */
export function toUnits(value: string | number, scale: number): bigint | null {
  const text = decimalText(value);
  if (!DECIMAL_TEXT.test(text) || /e/i.test(text)) return null;
  const negative = text.startsWith("-");
  const [whole, frac = ""] = text.replace("-", "").split(".");
  const significant = frac.replace(/0+$/, "");
  if (significant.length > scale) return null;
  const units = BigInt(whole + significant.padEnd(scale, "0"));
  return negative ? -units : units;
}

/** 235950000n, 6 -> "235.95"; trailing zeros dropped down to `keep` decimals. */
export function fromUnits(units: bigint, scale: number, keep = 0): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale);
  let frac = scale > 0 ? digits.slice(digits.length - scale).replace(/0+$/, "") : "";
  if (frac.length < keep) frac = frac.padEnd(keep, "0");
  const text = frac ? `${whole}.${frac}` : whole;
  return negative ? `-${text}` : text;
}

/** Rounded toward minus infinity (BigInt "/" truncates toward zero): the engine's round_down. */
export function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

export function ceilDiv(a: bigint, b: bigint): bigint {
  return -floorDiv(-a, b);
}

/** PnL in USD units at close price `price`: LONG N*(P-E)/E, SHORT N*(E-P)/E, N = margin*L10/10,
 * one division, rounded down; not capped. */
export function pnl(long: boolean, margin: bigint, l10: number, entry: bigint, price: bigint): bigint {
  const move = long ? price - entry : entry - price;
  return floorDiv(margin * BigInt(l10) * move, 10n * entry);
}

/** PnL with negative balance protection: never a loss beyond the margin. */
export function cappedPnl(
  long: boolean, margin: bigint, l10: number, entry: bigint, price: bigint,
): bigint {
  const value = pnl(long, margin, l10, entry, price);
  return value < -margin ? -margin : value;
}

/** The last grid price where margin + pnl <= N*m: LONG floor(E*(1 - 10/L10 + m)), SHORT
 * ceil(E*(1 + 10/L10 - m)); null for a LONG whose level would be <= 0 (a 1x LONG at m = 0). */
export function liquidationPrice(
  long: boolean, entry: bigint, l10: number, maintenancePpm: number,
): bigint | null {
  const lev = BigInt(l10);
  const m = BigInt(maintenancePpm);
  const denominator = lev * PPM;
  if (long) {
    const level = floorDiv(entry * (denominator - 10n * PPM + m * lev), denominator);
    return level > 0n ? level : null;
  }
  return ceilDiv(entry * (denominator + 10n * PPM - m * lev), denominator);
}

/** Notional N = margin * L10 / 10, exact: USD units at one more decimal (scale 5). */
export function notional(margin: bigint, l10: number): { units: bigint; scale: number } {
  return { units: margin * BigInt(l10), scale: USD_SCALE + 1 };
}

/** A trailing stop after a tick (SPEC section 3a): a LONG's is max(bid since set) - D and only
 * rises, a SHORT's min(ask since set) + D and only falls. From the stop the server last sent,
 * folding each tick the page sees gives the server's stop. */
export function trailedStop(
  long: boolean, stop: bigint, bid: bigint, ask: bigint, distance: bigint,
): bigint {
  if (long) return bid - distance > stop ? bid - distance : stop;
  return ask + distance < stop ? ask + distance : stop;
}
