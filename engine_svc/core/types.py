"""Value types the core speaks: commands, ticks, results, events.

Money is an int of 0.0001 USD (`Usd`); a price is an int in its asset's decimals (`Price`).
The service layer converts protobuf to and from these at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NewType

Usd = NewType("Usd", int)
"""An amount of USD in units of 0.0001."""

Price = NewType("Price", int)
"""A price in its asset's decimals (BTC_USDC 4, ETH_USDC 6, SOL_USDC 6)."""

USD_SCALE = 4
USD_ONE = 10**USD_SCALE
INITIAL_USD_BALANCE = Usd(5000 * USD_ONE)
MIN_LEVERAGE = 10
MAX_LEVERAGE = 1000
DEFAULT_LEVERAGE = 10


class Direction(Enum):
    LONG = "LONG"
    SHORT = "SHORT"


class TradeStatus(Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    LIQUIDATED = "LIQUIDATED"
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"


class OrderStatus(Enum):
    """A pending order's statuses. Kept apart from TradeStatus until the contracts (proto)
    carry them: the service maps every TradeStatus member to a proto value at import."""

    PENDING = "PENDING"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


Status = TradeStatus | OrderStatus
"""Every status of a position's life, pending order included (see model.TRANSITIONS)."""


class OrderType(Enum):
    LIMIT = "LIMIT"
    STOP = "STOP"


class RejectCode(Enum):
    """Stable business rejection codes (the proto ErrorCode names without the prefix)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    UNKNOWN_ASSET = "UNKNOWN_ASSET"
    INVALID_LEVERAGE = "INVALID_LEVERAGE"
    INVALID_MARGIN = "INVALID_MARGIN"
    INVALID_PRICE = "INVALID_PRICE"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    PRICE_UNAVAILABLE = "PRICE_UNAVAILABLE"
    INVALID_STOP_LOSS = "INVALID_STOP_LOSS"
    INVALID_TAKE_PROFIT = "INVALID_TAKE_PROFIT"
    TRADE_NOT_FOUND = "TRADE_NOT_FOUND"
    ACCOUNT_NOT_FOUND = "ACCOUNT_NOT_FOUND"
    ACCOUNT_EXISTS = "ACCOUNT_EXISTS"
    TOO_MANY_OPEN_TRADES = "TOO_MANY_OPEN_TRADES"


class OrderRejectCode(Enum):
    """Rejection codes of the trader's toolset (SPEC 3a), apart from RejectCode for the same
    reason as OrderStatus: the proto ErrorCode names without the prefix, once they exist."""

    TOO_MANY_PENDING_ORDERS = "TOO_MANY_PENDING_ORDERS"
    INVALID_TRAILING_STOP = "INVALID_TRAILING_STOP"
    INVALID_EXPIRY = "INVALID_EXPIRY"
    NOT_PENDING = "NOT_PENDING"
    """CANCEL_ORDER, or a change of price or expiry, on a trade that is not a pending order."""
    NOT_OPEN = "NOT_OPEN"
    """CLOSE_TRADE on a pending order."""


Code = RejectCode | OrderRejectCode


class Keep(Enum):
    """MODIFY_TRADE's "absent": keep the field as it is (None removes it, a value sets it)."""

    KEEP = "KEEP"


KEEP = Keep.KEEP


# ---- commands -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateAccount:
    pass


@dataclass(frozen=True, slots=True)
class GetUsdBalance:
    pass


@dataclass(frozen=True, slots=True)
class GetBalance:
    pass


@dataclass(frozen=True, slots=True)
class GetOpenTrades:
    pass


@dataclass(frozen=True, slots=True)
class GetAccount:
    pass


@dataclass(frozen=True, slots=True)
class GetPendingOrders:
    """The caller's pending orders, in placement order (answered with OpenTrades)."""


@dataclass(frozen=True, slots=True)
class CreateTrade:
    asset: str
    direction: Direction
    margin: Usd
    leverage: int = DEFAULT_LEVERAGE
    stop_loss: Price | None = None
    take_profit: Price | None = None
    trailing_distance: Price | None = None
    """A trailing stop's distance D, in the asset's price units (SPEC 3a)."""


@dataclass(frozen=True, slots=True)
class CloseTrade:
    trade_id: str
    margin: Usd | None = None
    """The part of the margin to close; None closes all of it."""


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    asset: str
    direction: Direction
    order_type: OrderType
    price: Price
    margin: Usd
    leverage: int = DEFAULT_LEVERAGE
    stop_loss: Price | None = None
    take_profit: Price | None = None
    trailing_distance: Price | None = None
    expires_at_ms: int | None = None
    """None: good till cancelled."""


@dataclass(frozen=True, slots=True)
class CancelOrder:
    trade_id: str


@dataclass(frozen=True, slots=True)
class ModifyTrade:
    """Each field: a value sets it, None removes it, KEEP leaves it. `price` and
    `expires_at_ms` apply to a pending order only (`price` cannot be removed)."""

    trade_id: str
    stop_loss: Price | Keep | None = KEEP
    take_profit: Price | Keep | None = KEEP
    trailing_distance: Price | Keep | None = KEEP
    price: Price | Keep = KEEP
    expires_at_ms: int | Keep | None = KEEP


CommandBody = (
    CreateAccount
    | GetUsdBalance
    | GetBalance
    | GetOpenTrades
    | GetAccount
    | GetPendingOrders
    | CreateTrade
    | CloseTrade
    | PlaceOrder
    | CancelOrder
    | ModifyTrade
)
MUTATING = (CreateAccount, CreateTrade, CloseTrade, PlaceOrder, CancelOrder, ModifyTrade)
"""Bodies that change state: journaled, and remembered by order_id for idempotency."""


@dataclass(frozen=True, slots=True)
class Command:
    order_id: str
    user_id: str
    email: str
    ts_ms: int
    body: CommandBody


@dataclass(frozen=True, slots=True)
class Tick:
    """Best bid and ask for one asset; `ts_us` is the source time in microseconds."""

    asset: str
    bid: Price
    ask: Price
    ts_us: int


# ---- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejection:
    code: Code
    message: str


@dataclass(frozen=True, slots=True)
class TradeView:
    """A position as clients see it. Closed-only fields are None while it is open.

    A pending order's view has status PENDING, `order_type`, `order_price` and its entry and
    liquidation prices as `order_price` would give them. A trade with a trailing stop shows
    the stop where it stands as `stop_loss`, beside `trailing_distance`. A trade that came
    from an order keeps `order_type` and `order_price`. `partial` marks the part of a partial
    close; `reason` says why an order ended REJECTED.
    """

    trade_id: str
    user_id: str
    email: str
    asset: str
    direction: Direction
    margin: Usd
    leverage: int
    entry_price: Price
    liquidation_price: Price | None
    stop_loss: Price | None
    take_profit: Price | None
    status: Status
    opened_at_ms: int
    exit_price: Price | None = None
    pnl: Usd | None = None
    total_return: Usd | None = None
    closed_at_ms: int | None = None
    unrealized_pnl: Usd | None = None
    trailing_distance: Price | None = None
    order_type: OrderType | None = None
    order_price: Price | None = None
    expires_at_ms: int | None = None
    partial: bool = False
    reason: Rejection | None = None


@dataclass(frozen=True, slots=True)
class AccountCreated:
    email: str
    initial_usd_balance: Usd


@dataclass(frozen=True, slots=True)
class UsdBalance:
    email: str
    usd_balance: Usd


@dataclass(frozen=True, slots=True)
class Balances:
    email: str
    balances: dict[str, Usd]


@dataclass(frozen=True, slots=True)
class TradeOpened:
    email: str
    trade: TradeView


@dataclass(frozen=True, slots=True)
class TradeClosed:
    email: str
    trade: TradeView
    margin_returned: Usd
    remaining_margin: Usd = Usd(0)
    """What stays open after a partial close; 0 after a full one."""


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    email: str
    trade: TradeView


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    email: str
    trade: TradeView
    margin_returned: Usd


@dataclass(frozen=True, slots=True)
class TradeModified:
    email: str
    trade: TradeView


@dataclass(frozen=True, slots=True)
class OpenTrades:
    trades: list[TradeView]


@dataclass(frozen=True, slots=True)
class AccountSummary:
    email: str
    balance: Usd
    equity: Usd
    used_margin: Usd
    free_margin: Usd
    margin_level_ppm: int | None
    """Equity / used margin in parts per million; None with no open trades."""
    unrealized_pnl: Usd
    reserved_margin: Usd = Usd(0)
    """Margins held by pending orders."""


ResultData = (
    AccountCreated
    | UsdBalance
    | Balances
    | TradeOpened
    | TradeClosed
    | OpenTrades
    | AccountSummary
    | OrderPlaced
    | OrderCancelled
    | TradeModified
)


@dataclass(frozen=True, slots=True)
class Response:
    """The answer to one command. Exactly one of `data` and `rejection` is set.

    `seq` is the engine sequence number the command was applied at (0 for read-only queries).
    """

    order_id: str
    seq: int
    data: ResultData | None = None
    rejection: Rejection | None = None

    @property
    def ok(self) -> bool:
        return self.rejection is None


class EventKind(Enum):
    OPENED = "OPENED"
    CLOSED = "CLOSED"
    LIQUIDATED = "LIQUIDATED"
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"


class OrderEventKind(Enum):
    """Events of the trader's toolset (apart from EventKind for the reason OrderStatus is).
    A trade that opens from an order is an EventKind.OPENED whose view has `order_type`."""

    ORDER_PLACED = "ORDER_PLACED"
    ORDER_MODIFIED = "ORDER_MODIFIED"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    ORDER_EXPIRED = "ORDER_EXPIRED"
    ORDER_REJECTED = "ORDER_REJECTED"
    TRADE_MODIFIED = "TRADE_MODIFIED"
    TRADE_PARTIALLY_CLOSED = "TRADE_PARTIALLY_CLOSED"


Kind = EventKind | OrderEventKind


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """A change in a position's life. `event_seq` is unique and increasing across the engine."""

    event_seq: int
    kind: Kind
    trade: TradeView
    order_id: str
    ts_ms: int


@dataclass(slots=True)
class Outcome:
    """What one input produced."""

    response: Response | None = None
    events: list[TradeEvent] = field(default_factory=list)
