// What the ticket shows before a market order is confirmed: every number from money.ts at the
// price the order would open at (LONG at the ask, SHORT at the bid; SPEC section 4).

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
}

export interface TicketPreview {
  entry: bigint;
  notional: { units: bigint; scale: number };
  requiredMargin: bigint;
  liquidation: bigint | null;
  pnlAtStopLoss: bigint | null;
  pnlAtTakeProfit: bigint | null;
}

export function previewMarketOrder(input: TicketInput): TicketPreview {
  const long = input.direction === "LONG";
  const entry = long ? input.ask : input.bid;
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
