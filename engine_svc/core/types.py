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
class CreateTrade:
    asset: str
    direction: Direction
    margin: Usd
    leverage: int = DEFAULT_LEVERAGE
    stop_loss: Price | None = None
    take_profit: Price | None = None


@dataclass(frozen=True, slots=True)
class CloseTrade:
    trade_id: str


CommandBody = (
    CreateAccount
    | GetUsdBalance
    | GetBalance
    | GetOpenTrades
    | GetAccount
    | CreateTrade
    | CloseTrade
)
MUTATING = (CreateAccount, CreateTrade, CloseTrade)
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
class TradeView:
    """A position as clients see it. Closed-only fields are None while it is open."""

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
    status: TradeStatus
    opened_at_ms: int
    exit_price: Price | None = None
    pnl: Usd | None = None
    total_return: Usd | None = None
    closed_at_ms: int | None = None
    unrealized_pnl: Usd | None = None


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


ResultData = (
    AccountCreated | UsdBalance | Balances | TradeOpened | TradeClosed | OpenTrades | AccountSummary
)


@dataclass(frozen=True, slots=True)
class Rejection:
    code: RejectCode
    message: str


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


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """A change in a position's life. `event_seq` is unique and increasing across the engine."""

    event_seq: int
    kind: EventKind
    trade: TradeView
    order_id: str
    ts_ms: int


@dataclass(slots=True)
class Outcome:
    """What one input produced."""

    response: Response | None = None
    events: list[TradeEvent] = field(default_factory=list)
