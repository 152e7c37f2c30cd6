// Exact decimal helpers for the page: money and prices as BigInt units, never float math.
// JSON numbers from the API (at most ~15 significant digits) round-trip exactly through
// String(), so they are turned back into decimal text before any arithmetic.

const DECIMAL_RE = /^-?\d+(\.\d+)?$/;

export function decimalText(value) {
  if (typeof value === "string") return value;
  let text = String(value);
  if (/e/i.test(text)) text = Number(value).toFixed(8); // only for tiny/huge display values
  return text;
}

// "235.95", 6 -> 235950000n. Returns null when the text has more decimals than `scale`.
export function toUnits(value, scale) {
  const text = decimalText(value).trim();
  if (!DECIMAL_RE.test(text)) return null;
  const negative = text.startsWith("-");
  const [whole, frac = ""] = text.replace("-", "").split(".");
  const trimmed = frac.replace(/0+$/, "");
  if (trimmed.length > scale) return null;
  const units = BigInt(whole + trimmed.padEnd(scale, "0"));
  return negative ? -units : units;
}

// 235950000n, 6 -> "235.95" (trailing zeros dropped unless `keep` decimals are asked for).
export function fromUnits(units, scale, keep = 0) {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale) || "0";
  let frac = scale ? digits.slice(digits.length - scale) : "";
  frac = frac.replace(/0+$/, "");
  if (frac.length < keep) frac = frac.padEnd(keep, "0");
  const text = frac ? `${whole}.${frac}` : whole;
  return negative && units !== 0n ? `-${text}` : text;
}

// Integer division rounded toward minus infinity (BigInt "/" truncates toward zero).
export function floorDiv(a, b) {
  const q = a / b;
  return (a % b !== 0n) && ((a < 0n) !== (b < 0n)) ? q - 1n : q;
}

export const USD_SCALE = 4;

// PnL of SPEC section 4, in 0.0001 USD units: N*(P-E)/E for LONG, N*(E-P)/E for SHORT,
// N = margin * L10 / 10, floored, and never a loss beyond the margin.
export function pnlUnits({ marginUnits, l10, entryUnits, priceUnits, direction }) {
  const move = direction === "LONG" ? priceUnits - entryUnits : entryUnits - priceUnits;
  const pnl = floorDiv(marginUnits * BigInt(l10) * move, 10n * entryUnits);
  return pnl < -marginUnits ? -marginUnits : pnl;
}

export function isDecimalText(text) {
  return DECIMAL_RE.test(text.trim());
}
