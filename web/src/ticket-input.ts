// The order ticket's text fields -> exact values, or messages naming the field at fault (the
// same field names the server's error envelope uses, so both land next to the same input).

import { isDecimalText, MAX_L10, MIN_L10, toUnits, USD_SCALE } from "./money";
import type { Direction } from "./types";

export type TicketType = "MARKET" | "LIMIT" | "STOP";

export interface TicketText {
  asset: string;
  direction: Direction;
  orderType: TicketType;
  /** The order's price (LIMIT and STOP only). */
  price: string;
  margin: string;
  /** In x as typed: "10", "12.5" (the slider keeps it in step). */
  leverage: string;
  stopLossPrice: string;
  takeProfitPrice: string;
  trailingStopDistance: string;
  /** A `datetime-local` value in the viewer's time zone, or "" for good till cancelled. */
  expiresAt: string;
}

export interface TicketValues {
  asset: string;
  direction: Direction;
  orderType: TicketType;
  price: bigint | null;
  margin: bigint;
  l10: number;
  stopLoss: bigint | null;
  takeProfit: bigint | null;
  trailingDistance: bigint | null;
  expiresAt: number | null;
}

export type FieldErrors = Partial<Record<keyof TicketText, string>>;

/** SPEC 3a: a trade has a trailing stop or a fixed stop loss, not both in one request. */
export const ONE_STOP_ONLY = "a trailing stop replaces the stop loss: give one of them";

/** A positive decimal with at most `scale` decimals, or the message saying what is wrong
 * (an empty field is missing, not a bad number). */
export function positiveDecimal(text: string, scale: number, what: string): bigint | string {
  if (!text.trim()) return `${what} is required`;
  if (!isDecimalText(text)) return `${what} must be a number`;
  const units = toUnits(text, scale);
  if (units === null) return `${what} has at most ${scale} decimals`;
  if (units <= 0n) return `${what} must be above 0`;
  return units;
}

/** Leverage typed in x -> the engine's L10 (1.0x..100.0x = 10..1000, steps of 0.1x), or a
 * message; a trailing "x" is allowed. */
export function leverageL10(text: string): number | string {
  const units = toUnits(text.trim().replace(/x$/i, ""), 1);
  if (units === null || units < BigInt(MIN_L10) || units > BigInt(MAX_L10)) {
    return "leverage is 1x to 100x, in steps of 0.1x";
  }
  return Number(units);
}

/** An optional price-like field: null when empty; its message lands in `errors[field]`. */
export function optionalLevel(
  raw: string, decimals: number, field: string, what: string, errors: Record<string, string>,
): bigint | null {
  if (!raw.trim()) return null;
  const value = positiveDecimal(raw, decimals, what);
  if (typeof value === "string") {
    errors[field] = value;
    return null;
  }
  return value;
}

/** A `datetime-local` text -> ms since the epoch (the viewer's time zone), or a message. */
export function expiryMs(text: string, now: number): number | string | null {
  if (!text.trim()) return null;
  const ms = new Date(text).getTime();
  if (Number.isNaN(ms)) return "expiry must be a date and time";
  if (ms <= now) return "expiry must be in the future";
  return ms;
}

export function readTicket(
  text: TicketText, decimals: number, now: number = Date.now(),
): { values: TicketValues; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const slots = errors as Record<string, string>;
  const margin = positiveDecimal(text.margin, USD_SCALE, "margin");
  if (typeof margin === "string") errors.margin = margin;
  const l10 = leverageL10(text.leverage);
  if (typeof l10 === "string") errors.leverage = l10;
  const pending = text.orderType !== "MARKET";
  let price: bigint | null = null;
  let expiresAt: number | null = null;
  if (pending) {
    if (!text.price.trim()) errors.price = "a limit or stop order needs a price";
    else price = optionalLevel(text.price, decimals, "price", "price", slots);
    const expiry = expiryMs(text.expiresAt, now);
    if (typeof expiry === "string") errors.expiresAt = expiry;
    else expiresAt = expiry;
  }
  const stopLoss = optionalLevel(text.stopLossPrice, decimals, "stopLossPrice", "stop loss", slots);
  const takeProfit = optionalLevel(text.takeProfitPrice, decimals, "takeProfitPrice", "take profit",
    slots);
  const trailingDistance = optionalLevel(text.trailingStopDistance, decimals,
    "trailingStopDistance", "trailing distance", slots);
  if (stopLoss !== null && trailingDistance !== null) {
    errors.trailingStopDistance = ONE_STOP_ONLY;
  }
  return {
    values: {
      asset: text.asset,
      direction: text.direction,
      orderType: text.orderType,
      price,
      margin: typeof margin === "string" ? 0n : margin,
      l10: typeof l10 === "string" ? MIN_L10 : l10,
      stopLoss,
      takeProfit,
      trailingDistance,
      expiresAt,
    },
    errors,
  };
}
