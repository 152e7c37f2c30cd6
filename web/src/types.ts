// The API's JSON shapes (SPEC section 3) as the page reads them. Money and prices arrive as
// JSON numbers in units and are turned into BigInt units before any arithmetic.

export type Direction = "LONG" | "SHORT";

export interface OpenTrade {
  tradeId: string;
  asset: string;
  direction: Direction;
  margin: number | string;
  leverage: number | string; // display multiplier: 10 = 10.0x
  entryPrice: number | string;
  liquidationPrice: number | string | null;
  stopLossPrice: number | string | null;
  takeProfitPrice: number | string | null;
  unrealizedPnl: number | string | null;
  openedAt: number;
  /** A trailing stop's distance; its current stop is `stopLossPrice` (SPEC section 3a). */
  trailingStopDistance?: number | string | null;
}

export type OrderType = "LIMIT" | "STOP";

/** A row of GET /api/v1/trades/pending: an order waiting for its price. */
export interface PendingOrder extends Omit<OpenTrade, "unrealizedPnl"> {
  status: string;
  orderType: OrderType;
  price: number | string;
  expiresAt: number | null;
}

export interface ClosedTrade extends Omit<OpenTrade, "unrealizedPnl"> {
  status: string;
  exitPrice: number | string | null;
  pnl: number | string | null;
  totalReturn: number | string | null;
  closedAt: number | null;
  partial?: boolean;
  /** Why an order ended REJECTED. */
  reason?: string;
  /** Set when it came from an order, or is an order that ended unfilled. */
  orderType?: OrderType | null;
  price?: number | string | null;
}

export interface AccountReply {
  balance: number | string;
  equity: number | string;
  usedMargin: number | string;
  freeMargin: number | string;
  reservedMargin?: number | string | null;
  marginLevel: number | string | null;
  unrealizedPnl: number | string;
}

export interface Candle {
  time: number; // ms, the candle's start
  open: number | string;
  high: number | string;
  low: number | string;
  close: number | string;
}

export interface PriceMessage {
  type: "price";
  asset: string;
  bid: string; // integer units
  ask: string;
  decimal: number;
  ts: number;
}

export interface TradeEventMessage {
  type: "trade";
  event: string; // OPENED, CLOSED, LIQUIDATED, STOP_LOSS, TAKE_PROFIT, ...
  eventSeq: number;
  orderId: string | null;
  ts: number;
  trade: ClosedTrade & { unrealizedPnl?: number | string | null };
}

export interface Quote {
  bid: bigint;
  ask: bigint;
  decimals: number;
  ts: number;
}
