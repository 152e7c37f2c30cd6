// How a trade or an order ended (SPEC section 3a's lifecycle), as the history reads it.

import type { ClosedTrade } from "./types";

/** Every end a trade or order can have; the history's filter offers them all. */
export const STATUSES = ["CLOSED", "LIQUIDATED", "STOP_LOSS", "TAKE_PROFIT", "CANCELLED",
  "EXPIRED", "REJECTED"] as const;

/** The ends of an order that never became a position: cancelled, expired, or rejected when it
 * would have filled. Such a row has an order price but no entry. */
const UNFILLED = new Set<string>(["CANCELLED", "EXPIRED", "REJECTED"]);

export function unfilled(t: Pick<ClosedTrade, "status">): boolean {
  return UNFILLED.has(t.status);
}
