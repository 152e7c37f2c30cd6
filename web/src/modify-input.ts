// A MODIFY_TRADE from the modify dialog's fields: only what the trader changed is sent; a
// cleared level is null (removed), a changed one its exact decimal (SPEC section 3a).

import { type CommandField, Raw } from "./api";
import { fromUnits, liquidationPrice, MAINTENANCE_PPM, toUnits } from "./money";
import { expiryMs, ONE_STOP_ONLY, optionalLevel } from "./ticket-input";

export interface EditText {
  stopLossPrice: string;
  takeProfitPrice: string;
  trailingStopDistance: string;
  /** A pending order's own fields; absent for an open trade. */
  price?: string;
  expiresAt?: string;
}

const NAMES: Record<keyof EditText, string> = {
  stopLossPrice: "stop loss",
  takeProfitPrice: "take profit",
  trailingStopDistance: "trailing distance",
  price: "price",
  expiresAt: "expiry",
};

export function changedFields(
  before: EditText, after: EditText, decimals: number, now: number = Date.now(),
): { fields: Record<string, CommandField>; errors: Record<string, string> } {
  const fields: Record<string, CommandField> = {};
  const errors: Record<string, string> = {};
  for (const key of Object.keys(NAMES) as (keyof EditText)[]) {
    const was = (before[key] ?? "").trim();
    const now_ = after[key];
    if (now_ === undefined || now_.trim() === was) continue;
    const text = now_.trim();
    if (key === "expiresAt") {
      const ms = expiryMs(text, now);
      if (typeof ms === "string") errors.expiresAt = ms;
      else fields.expiresAt = ms;
    } else if (!text) {
      if (key === "price") errors.price = "an order needs a price";
      else fields[key] = null;
    } else {
      const units = optionalLevel(text, decimals, key, NAMES[key], errors);
      if (units !== null) fields[key] = new Raw(fromUnits(units, decimals));
    }
  }
  // A trailing stop and a fixed stop loss replace each other: setting one removes the other on
  // the server, so the other's removal is not sent beside it (that would be both in one).
  if (fields.stopLossPrice instanceof Raw && fields.trailingStopDistance === null) {
    delete fields.trailingStopDistance;
  }
  if (fields.trailingStopDistance instanceof Raw && fields.stopLossPrice === null) {
    delete fields.stopLossPrice;
  }
  if (fields.stopLossPrice instanceof Raw && fields.trailingStopDistance instanceof Raw) {
    errors.trailingStopDistance = ONE_STOP_ONLY;
  }
  return { fields, errors };
}

/** A pending order's liquidation price if it filled at the price being typed (`typed`), as
 * the ticket previews it; undefined while the field is empty, unchanged from `stored`, or not
 * a price (the dialog then shows the server's own figure for the stored price), null when a
 * fill there has none (a 1x LONG). */
export function typedLiquidation(
  typed: string, stored: string, long: boolean, l10: number, decimals: number,
): bigint | null | undefined {
  const units = toUnits(typed.trim(), decimals);
  if (!typed.trim() || units === null || units <= 0n) return undefined;
  if (units === toUnits(stored, decimals)) return undefined;
  return liquidationPrice(long, units, l10, MAINTENANCE_PPM);
}
