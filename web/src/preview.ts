// What the ticket shows before an order is confirmed: every number from money.ts at the price
// the trade would open at: a market order's LONG at the ask and SHORT at the bid (SPEC section
// 4), a limit or stop order's at its own price (SPEC section 3a checks its levels there too).

import { cappedPnl, liquidationPrice, notional } from "./money";

export type Direction = "LONG" | "SHORT";

export interface TicketInput {
  direction: Direction;
  margin: bigint; // USD units
  l10: number; // 10..1000
  bid: bigint; // asset units
  ask: bigint;
  stopLoss: bigint | null;
  takeProfit: bigint | null;
  maintenancePpm: number;
  /** A LIMIT or STOP order's price; absent or null for a market order. */
  price?: bigint | null;
}

export interface TicketPreview {
  entry: bigint;
  notional: { units: bigint; scale: number };
  requiredMargin: bigint;
  liquidation: bigint | null;
  pnlAtStopLoss: bigint | null;
  pnlAtTakeProfit: bigint | null;
}

export function previewOrder(input: TicketInput): TicketPreview {
  const long = input.direction === "LONG";
  const entry = input.price ?? (long ? input.ask : input.bid);
  const at = (level: bigint | null): bigint | null =>
    level === null || entry <= 0n ? null : cappedPnl(long, input.margin, input.l10, entry, level);
  return {
    entry,
    notional: notional(input.margin, input.l10),
    requiredMargin: input.margin,
    liquidation: entry > 0n ? liquidationPrice(long, entry, input.l10, input.maintenancePpm) : null,
    pnlAtStopLoss: at(input.stopLoss),
    pnlAtTakeProfit: at(input.takeProfit),
  };
}
