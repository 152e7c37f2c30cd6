// The order ticket's text fields -> exact values, or messages naming the field at fault (the
// same field names the server's error envelope uses, so both land next to the same input).

import { isDecimalText, MAX_L10, MIN_L10, toUnits, USD_SCALE } from "./money";
import type { Direction } from "./types";

export interface TicketText {
  asset: string;
  direction: Direction;
  margin: string;
  l10: string;
  stopLossPrice: string;
  takeProfitPrice: string;
}

export interface TicketValues {
  asset: string;
  direction: Direction;
  margin: bigint;
  l10: number;
  stopLoss: bigint | null;
  takeProfit: bigint | null;
}

export type FieldErrors = Partial<Record<keyof TicketText, string>>;

function decimal(text: string, scale: number, what: string): bigint | string {
  if (!isDecimalText(text)) return `${what} must be a number`;
  const units = toUnits(text, scale);
  if (units === null) return `${what} has at most ${scale} decimals`;
  if (units <= 0n) return `${what} must be above 0`;
  return units;
}

export function readTicket(
  text: TicketText, decimals: number,
): { values: TicketValues; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const margin = decimal(text.margin, USD_SCALE, "margin");
  if (typeof margin === "string") errors.margin = margin;
  const l10 = Number.parseInt(text.l10, 10);
  if (!Number.isInteger(l10) || l10 < MIN_L10 || l10 > MAX_L10) {
    errors.l10 = "leverage is 1x to 100x";
  }
  const level = (raw: string, field: "stopLossPrice" | "takeProfitPrice", what: string) => {
    if (!raw.trim()) return null;
    const value = decimal(raw, decimals, what);
    if (typeof value === "string") {
      errors[field] = value;
      return null;
    }
    return value;
  };
  const stopLoss = level(text.stopLossPrice, "stopLossPrice", "stop loss");
  const takeProfit = level(text.takeProfitPrice, "takeProfitPrice", "take profit");
  return {
    values: {
      asset: text.asset,
      direction: text.direction,
      margin: typeof margin === "string" ? 0n : margin,
      l10: errors.l10 ? MIN_L10 : l10,
      stopLoss,
      takeProfit,
    },
    errors,
  };
}
