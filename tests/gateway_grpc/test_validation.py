"""Edge validation: bad input is refused with a message naming the field, and nothing reaches
the engine's command stream."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import exchange_service_pb2_grpc, types_pb2

from gateway_svc import validation
from gateway_svc.errors import ApiError
from mesh import streams
from tests.gateway_grpc.conftest import trailers

ORDER_ID = "3f2b8c9a-5d1e-4f7a-b6c3-9e8d7a6b5c4d"


def dec(units: int, scale: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


def good(**override: Any) -> xs.CreateTradeRequest:
    fields: dict[str, Any] = {
        "order_id": ORDER_ID,
        "asset": "SOL_USDC",
        "direction": types_pb2.DIRECTION_LONG,
        "margin": dec(1_000_000, 4),
        "leverage": 100,
    }
    fields.update(override)
    return xs.CreateTradeRequest(**{k: v for k, v in fields.items() if v is not None})


# (case, request, error code, field the message starts with)
BAD_TRADES = [
    ("unknown asset", good(asset="DOGE_USDC"), "UNKNOWN_ASSET", "asset"),
    ("empty asset", good(asset=""), "UNKNOWN_ASSET", "asset"),
    (
        "no direction",
        good(direction=types_pb2.DIRECTION_UNSPECIFIED),
        "INVALID_ARGUMENT",
        "direction",
    ),
    ("direction out of enum", good(direction=7), "INVALID_ARGUMENT", "direction"),
    ("5-decimal margin", good(margin=dec(1_000_001, 5)), "INVALID_MARGIN", "margin"),
    ("zero margin", good(margin=dec(0, 4)), "INVALID_MARGIN", "margin"),
    ("negative margin", good(margin=dec(-10_000, 4)), "INVALID_MARGIN", "margin"),
    ("missing margin", good(margin=None), "INVALID_MARGIN", "margin"),
    ("absurd margin scale", good(margin=dec(1, 4_000_000_000)), "INVALID_MARGIN", "margin"),
    ("huge margin", good(margin=dec(2**62, 0)), "INVALID_MARGIN", "margin"),
    ("leverage 5", good(leverage=5), "INVALID_LEVERAGE", "leverage"),
    ("leverage 1001", good(leverage=1001), "INVALID_LEVERAGE", "leverage"),
    (
        "SL with 7 decimals on SOL",
        good(stop_loss_price=dec(2_300_000_001, 7)),
        "INVALID_PRICE",
        "stop_loss_price",
    ),
    (
        "TP with 5 decimals on BTC",
        good(asset="BTC_USDC", take_profit_price=dec(1, 5)),
        "INVALID_PRICE",
        "take_profit_price",
    ),
    ("negative SL", good(stop_loss_price=dec(-1, 0)), "INVALID_PRICE", "stop_loss_price"),
    ("zero TP", good(take_profit_price=dec(0, 6)), "INVALID_PRICE", "take_profit_price"),
    ("bad order id", good(order_id="not-a-uuid"), "INVALID_ARGUMENT", "order_id"),
    ("braced order id", good(order_id="{" + ORDER_ID + "}"), "INVALID_ARGUMENT", "order_id"),
]


@pytest.mark.parametrize(
    ("case", "request_", "code", "field"), BAD_TRADES, ids=[case[0] for case in BAD_TRADES]
)
async def test_bad_create_trade_is_refused_before_the_stream(
    case: str,
    request_: xs.CreateTradeRequest,
    code: str,
    field: str,
    exchange: exchange_service_pb2_grpc.ExchangeServiceStub,
    alice: Any,
    redis: aioredis.Redis,
) -> None:
    before = await redis.xlen(streams.COMMANDS)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CreateTrade(request_, metadata=alice)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(field), info.value.details()
    assert trailers(info.value)["x-error-code"] == code
    assert await redis.xlen(streams.COMMANDS) == before


@pytest.mark.parametrize(
    "trade_id", ["", "abc", "3f2b8c9a-5d1e-4f7a-b6c3-9e8d7a6b5c4dX", "../../etc/passwd"]
)
async def test_bad_trade_id_is_refused_before_the_stream(
    trade_id: str,
    exchange: exchange_service_pb2_grpc.ExchangeServiceStub,
    alice: Any,
    redis: aioredis.Redis,
) -> None:
    before = await redis.xlen(streams.COMMANDS)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CloseTrade(xs.CloseTradeRequest(trade_id=trade_id), metadata=alice)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("trade_id")
    assert await redis.xlen(streams.COMMANDS) == before


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (xs.ListCandlesRequest(asset="SOL_USDC"), "interval"),
        (xs.ListCandlesRequest(asset="XRP", interval=xs.CANDLE_INTERVAL_1M), "asset"),
        (
            xs.ListCandlesRequest(
                asset="SOL_USDC", interval=xs.CANDLE_INTERVAL_1M, start_time_ms=-1
            ),
            "start_time_ms",
        ),
        (
            xs.ListCandlesRequest(
                asset="SOL_USDC",
                interval=xs.CANDLE_INTERVAL_1M,
                start_time_ms=2000,
                end_time_ms=1000,
            ),
            "start_time_ms",
        ),
    ],
)
async def test_bad_candle_queries(
    request_: xs.ListCandlesRequest,
    field: str,
    exchange: exchange_service_pb2_grpc.ExchangeServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.ListCandles(request_)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(field)


@pytest.mark.parametrize("limit", [201, 10_000])
async def test_page_limit_out_of_range(
    limit: int, exchange: exchange_service_pb2_grpc.ExchangeServiceStub, alice: Any
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.ListOrders(xs.ListOrdersRequest(limit=limit), metadata=alice)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("limit")


async def test_foreign_page_token_is_invalid_argument(
    exchange: exchange_service_pb2_grpc.ExchangeServiceStub, alice: Any
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.ListClosedTrades(
            xs.ListClosedTradesRequest(page_token="bm90LWEtdG9rZW4"), metadata=alice
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("page_token")


# ---- the converters, without a server ---------------------------------------------------


def test_valid_trade_converts_to_engine_units() -> None:
    order = validation.create_trade(
        good(
            order_id=ORDER_ID.upper(),
            margin=dec(1_000_000, 5),  # 10.00000: trailing zeros are not extra precision
            leverage=0,
            stop_loss_price=dec(23_000, 2),  # 230.00 at SOL's 6 decimals
            take_profit_price=dec(240_123_456, 6),
        )
    )
    assert order.order_id == ORDER_ID  # canonical lower-case form
    assert order.margin_units == 100_000  # 10 USD at scale 4
    assert order.leverage == 10  # 0 means the default
    assert order.stop_loss_units == 230_000_000
    assert order.take_profit_units == 240_123_456


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("margin", dec(10**18, 19), "INVALID_MARGIN"),  # exactly 0.1 USD, at scale 19
        ("margin", dec(1, 4_294_967_295), "INVALID_MARGIN"),
        ("stop_loss_price", dec(23 * 10**17, 19), "INVALID_PRICE"),  # exactly 0.23
    ],
)
def test_a_scale_past_18_is_refused_as_such(
    field: str, value: types_pb2.Decimal, code: str
) -> None:
    """Not as "at most 4 decimals": the value may have none past its field's scale."""
    with pytest.raises(ApiError) as info:
        validation.create_trade(good(**{field: value}))
    assert (info.value.spec.name, info.value.field) == (code, field)
    assert info.value.message == f"{field} has scale {value.scale}: at most 18"


def test_missing_order_id_gets_a_fresh_uuid() -> None:
    first, second = validation.order_id(""), validation.order_id("")
    assert first != second and len(first) == 36


@pytest.mark.parametrize(
    "email", ["a@b.co", "first.last+tag@sub.example.org", "x@localhost", "  Mixed@Case.COM  "]
)
def test_good_emails(email: str) -> None:
    assert validation.email(email) == email.strip().lower()


@pytest.mark.parametrize(
    "email",
    [
        ".a@b.co",
        "a..b@c.co",
        "a@-b.co",
        "a@b.co.",
        "a@b_c.co",
        "é@example.com",
        "x" * 65 + "@example.com",
    ],
)
def test_bad_emails(email: str) -> None:
    with pytest.raises(ApiError) as info:
        validation.email(email)
    assert info.value.field == "email"


def test_stream_price_assets_must_be_supported() -> None:
    assert validation.assets([]) == ("SOL_USDC", "ETH_USDC", "BTC_USDC")
    assert validation.assets(["BTC_USDC", "BTC_USDC"]) == ("BTC_USDC",)
    with pytest.raises(ApiError) as info:
        validation.assets(["BTC_USDC", "NOPE"])
    assert info.value.message.startswith("assets")
