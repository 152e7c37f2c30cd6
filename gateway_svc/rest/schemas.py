"""Request and response schemas, for the OpenAPI document only.

Bodies are validated by `commands.py` on a Decimal-parsed dict (pydantic behind FastAPI would
see floats); these models describe the same rules so /docs and a fuzzer know them. Handlers
return ready `DecimalJSONResponse`s, so FastAPI never re-serializes through these models.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, WithJsonSchema

from gateway_svc.rest.commands import EMAIL_PATTERN, MAX_EMAIL_CHARS, TRADE_ID_PATTERN
from mesh.limits import (
    ASSET_DECIMALS,
    LEVERAGE_DEFAULT,
    LEVERAGE_MAX,
    LEVERAGE_MIN,
    MAX_MARGIN_USD,
    MAX_PRICE,
    MAX_TIME_MS,
    SUPPORTED_ASSETS,
    USD_SCALE,
)


def _step(decimals: int) -> float:
    """JSON Schema's multipleOf for `decimals` places (a float there: the schema is JSON)."""
    return float(Decimal(1).scaleb(-decimals))


Number = Annotated[Decimal, WithJsonSchema({"type": "number"})]
Asset = Annotated[str, WithJsonSchema({"type": "string", "enum": list(SUPPORTED_ASSETS)})]
Margin = Annotated[
    Decimal,
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_MARGIN_USD,
            "multipleOf": _step(USD_SCALE),
            "description": f"USD, more than 0, at most {USD_SCALE} decimals",
        }
    ),
]
Price = Annotated[
    Decimal,
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_PRICE,
            "multipleOf": _step(max(ASSET_DECIMALS.values())),
            "description": "at most the asset's decimals ("
            + ", ".join(f"{asset} {decimals}" for asset, decimals in ASSET_DECIMALS.items())
            + ")",
        }
    ),
]
Leverage = Annotated[
    int,
    Field(
        ge=LEVERAGE_MIN,
        le=LEVERAGE_MAX,
        description=f"{LEVERAGE_MIN}..{LEVERAGE_MAX} meaning "
        f"{LEVERAGE_MIN // 10}.{LEVERAGE_MIN % 10}x..{LEVERAGE_MAX // 10}.{LEVERAGE_MAX % 10}x",
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmailRequest(_Body):
    email: Annotated[str, Field(max_length=MAX_EMAIL_CHARS, pattern=EMAIL_PATTERN)]


class CreateAccountCommand(_Body):
    command: Literal["CREATE_ACCOUNT"]
    orderId: UUID | None = None


class GetUsdBalanceCommand(_Body):
    command: Literal["GET_USD_BALANCE"]
    orderId: UUID | None = None


class GetBalanceCommand(_Body):
    command: Literal["GET_BALANCE"]
    orderId: UUID | None = None


_PRICE_FIELDS = ("price", "stopLossPrice", "takeProfitPrice", "trailingStopDistance")


def _price_decimals_by_asset() -> list[dict[str, Any]]:
    """Price inputs may not have more decimals than their asset; JSON Schema says it with
    one if/then per asset."""
    rules = []
    for asset, decimals in ASSET_DECIMALS.items():
        step = {"multipleOf": _step(decimals)}
        levels = {"anyOf": [{"type": "number", **step}, {"type": "null"}]}
        rules.append(
            {
                "if": {"properties": {"asset": {"const": asset}}, "required": ["asset"]},
                "then": {"properties": {name: levels for name in _PRICE_FIELDS}},
            }
        )
    return rules


class _NewPosition(_Body):
    """The fields CREATE_TRADE and PLACE_ORDER share (each class adds its `command`)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"allOf": _price_decimals_by_asset()}
    )

    orderId: UUID | None = None
    asset: Asset
    direction: Literal["LONG", "SHORT"]
    margin: Margin
    leverage: Leverage | None = LEVERAGE_DEFAULT
    stopLossPrice: Price | None = None
    takeProfitPrice: Price | None = None
    trailingStopDistance: Price | None = Field(
        None, description="a trailing stop's distance, instead of stopLossPrice"
    )


class CreateTradeCommand(_NewPosition):
    command: Literal["CREATE_TRADE"]


TradeId = Annotated[str, Field(pattern=TRADE_ID_PATTERN)]
ExpiresAt = Annotated[
    int,
    Field(ge=1, le=MAX_TIME_MS, description="ms since the epoch; absent = good till cancelled"),
]


class CloseTradeCommand(_Body):
    command: Literal["CLOSE_TRADE"]
    orderId: UUID | None = None
    tradeId: TradeId
    margin: Margin | None = Field(None, description="the part to close; absent = all of it")


class PlaceOrderCommand(_NewPosition):
    command: Literal["PLACE_ORDER"]
    orderType: Literal["LIMIT", "STOP"]
    price: Price
    expiresAt: ExpiresAt | None = None


class CancelOrderCommand(_Body):
    command: Literal["CANCEL_ORDER"]
    orderId: UUID | None = None
    tradeId: TradeId


class ModifyTradeCommand(_Body):
    """A number sets a level, null removes it, absent keeps it; `price` and `expiresAt` are
    for a pending order (price cannot be removed). At least one of them, or nothing is
    changed and the body is refused. The trade's asset bounds the decimals."""

    command: Literal["MODIFY_TRADE"]
    orderId: UUID | None = None
    tradeId: TradeId
    stopLossPrice: Price | None = None
    takeProfitPrice: Price | None = None
    trailingStopDistance: Price | None = None
    price: Price = None  # type: ignore[assignment]  # absent keeps it; null is refused
    expiresAt: ExpiresAt | None = None


EngineRequest = Annotated[
    CreateAccountCommand
    | GetUsdBalanceCommand
    | GetBalanceCommand
    | CreateTradeCommand
    | CloseTradeCommand
    | PlaceOrderCommand
    | CancelOrderCommand
    | ModifyTradeCommand,
    Field(discriminator="command"),
]


class AccountCreatedData(BaseModel):
    email: str
    initialUsdBalance: Number
    assets: list[str]


class UsdBalanceData(BaseModel):
    email: str
    usdBalance: Number


class BalancesData(BaseModel):
    email: str
    balances: dict[str, Number]


class TradeOpenedData(BaseModel):
    email: str
    tradeId: str
    entryPrice: Number
    liquidationPrice: Number | None = None
    stopLossPrice: Number | None = None
    takeProfitPrice: Number | None = None
    trailingStopDistance: Number | None = None
    margin: Number
    leverage: Number


class TradeClosedData(BaseModel):
    email: str
    tradeId: str
    asset: str
    marginReturned: Number
    pnl: Number
    totalReturn: Number
    closePrice: Number
    remainingMargin: Number = Field(description="what stays open; 0 after a full close")


class OrderPlacedData(BaseModel):
    email: str
    tradeId: str
    status: Literal["PENDING"]
    asset: str
    direction: Literal["LONG", "SHORT"]
    orderType: Literal["LIMIT", "STOP"]
    price: Number
    margin: Number
    leverage: Number
    stopLossPrice: Number | None = None
    takeProfitPrice: Number | None = None
    trailingStopDistance: Number | None = None
    expiresAt: int | None = None


class OrderCancelledData(BaseModel):
    email: str
    tradeId: str
    status: Literal["CANCELLED"]
    marginReturned: Number


class TradeModifiedData(BaseModel):
    email: str
    tradeId: str
    status: Literal["PENDING", "OPEN"]
    entryPrice: Number | None = None
    price: Number | None = None
    liquidationPrice: Number | None = None
    stopLossPrice: Number | None = None
    takeProfitPrice: Number | None = None
    trailingStopDistance: Number | None = None
    expiresAt: int | None = None


class EngineResponseOk(BaseModel):
    status: Literal["success"]
    data: (
        AccountCreatedData
        | UsdBalanceData
        | BalancesData
        | TradeOpenedData
        | TradeClosedData
        | OrderPlacedData
        | OrderCancelledData
        | TradeModifiedData
    )
    message: str


class EngineSuccess(BaseModel):
    success: Literal[True]
    orderId: str
    engineResponse: EngineResponseOk
    latency: float


class EngineResponseError(BaseModel):
    status: Literal["error"]
    data: None
    message: str


class ErrorEnvelope(BaseModel):
    success: Literal[False]
    error: str
    code: str = Field(description="the error registry name, e.g. TRADE_NOT_FOUND")
    field: str | None = Field(None, description="the request field at fault, when one is")
    orderId: str
    engineResponse: EngineResponseError
    latency: float


class Message(BaseModel):
    message: str


class PriceQuote(BaseModel):
    asset: str
    price: str = Field(description="the ask as an integer scaled by `decimal`")
    decimal: int
    bid: str
    ask: str
    ts: int = Field(description="the quote's time, ms since the epoch (its source's clock)")


class CandleRow(BaseModel):
    time: int = Field(description="bucket start, ms since the epoch")
    open: Number
    high: Number
    low: Number
    close: Number


class _TradeRow(BaseModel):
    """What every list row of a trade shows (open, closed, pending)."""

    tradeId: str
    asset: str
    direction: Literal["LONG", "SHORT"]
    margin: Number
    leverage: Number
    entryPrice: Number = Field(
        description="the fill price; on a PENDING order, and on one that ended unfilled "
        "(CANCELLED, EXPIRED, REJECTED: exitPrice and pnl null), the order's price, not a fill"
    )
    liquidationPrice: Number | None
    stopLossPrice: Number | None
    takeProfitPrice: Number | None
    openedAt: int
    trailingStopDistance: Number | None = None
    orderType: Literal["LIMIT", "STOP"] | None = Field(
        None, description="set when the trade came from an order or the order ended unfilled"
    )
    price: Number | None = Field(None, description="that order's price")


class OpenTradeRow(_TradeRow):
    unrealizedPnl: Number | None


class ClosedTradeRow(_TradeRow):
    status: Literal[
        "CLOSED", "LIQUIDATED", "STOP_LOSS", "TAKE_PROFIT", "CANCELLED", "EXPIRED", "REJECTED"
    ]
    exitPrice: Number | None
    pnl: Number | None
    totalReturn: Number | None
    closedAt: int | None
    partial: bool = Field(False, description="the part of a partial close (SPEC 3a)")
    reason: str | None = Field(None, description="why an order ended REJECTED")
    reasonCode: str | None = Field(
        None, description="its code: INVALID_LEVERAGE or TOO_MANY_OPEN_TRADES, as at open"
    )


class OpenTrades(BaseModel):
    trades: list[OpenTradeRow]


class PendingTradeRow(_TradeRow):
    status: Literal["PENDING"]
    orderType: Literal["LIMIT", "STOP"]
    price: Number | None
    expiresAt: int | None


class PendingTrades(BaseModel):
    trades: list[PendingTradeRow]


class ClosedTrades(BaseModel):
    trades: list[ClosedTradeRow]
    nextCursor: str | None


class OrderRow(BaseModel):
    """One answered state-changing command, as the audit trail recorded it."""

    orderId: str
    command: str
    status: Literal["success", "error"]
    errorCode: str | None = Field(
        description="a refusal's code; a close, change or cancel of a trade that had ended "
        "reads with how it ended (TRADE_NOT_FOUND or NOT_PENDING, 'has already ended: ...')"
    )
    message: str
    latencyMs: Number = Field(
        description="the engine's: from reading the command to publishing its answer, the "
        "journal's sync included; not the client's round trip"
    )
    createdAt: int
    tradeId: str | None


class Orders(BaseModel):
    orders: list[OrderRow]
    nextCursor: str | None


class Account(BaseModel):
    """USD, exact to 4 decimals (the proto's AccountSummary, field for field)."""

    balance: Number = Field(
        description="the free balance: what open trades and pending orders do not hold "
        "(GET_USD_BALANCE's usdBalance)"
    )
    equity: Number = Field(description="balance + usedMargin + reservedMargin + unrealizedPnl")
    usedMargin: Number = Field(description="the margins of open trades")
    reservedMargin: Number = Field(description="margin held by pending orders (SPEC section 3a)")
    freeMargin: Number = Field(description="the same as balance: what a new trade may use")
    marginLevel: Number | None = Field(
        description="equity / usedMargin as a ratio, not a percentage (1.5 = 150%), 6 "
        "decimals rounded down; null with no open trade"
    )
    unrealizedPnl: Number = Field(
        description="what closing every open trade now would realize (at the bid for a "
        "LONG, the ask for a SHORT)"
    )


class Health(BaseModel):
    status: str = Field(description='"ok", or "unavailable" (503)')
    detail: str | None = Field(
        default=None, description="when unavailable: the gRPC health status or error code"
    )
    down: list[str] | None = Field(
        default=None,
        description='when unavailable: the dependencies reported down ("redis", "postgres", '
        '"engine")',
    )


def request_body(name: str) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its JSON body itself."""
    ref = {"$ref": f"#/components/schemas/{name}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


# Schemas only reachable through `request_body` refs: merged into components by the app.
EXTRA_SCHEMAS: dict[str, Any] = {"EngineRequest": EngineRequest, "EmailRequest": EmailRequest}


def extra_components() -> dict[str, Any]:
    components: dict[str, Any] = {}
    for name, model in EXTRA_SCHEMAS.items():
        schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[name] = schema
    return components


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": text}
    for status, text in (
        (400, "invalid input or business rejection"),
        (401, "missing or invalid session"),
        (403, "a cookie-authenticated write from another origin"),
        (404, "not found"),
        (413, "request body too large"),
        (415, "a request body that is not application/json"),
        (429, "rate limited: wait Retry-After seconds"),
        (500, "internal error"),
        (503, "engine unavailable"),
        (504, "engine timeout"),
    )
}
# A string in the schema (headers arrive as text); the pattern says it is whole seconds >= 1.
ERROR_RESPONSES[429]["headers"] = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "required": True,
        "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
    }
}
