"""Unicode and very long strings over gRPC: INVALID_ARGUMENT naming the field (in the message
and in `x-error-field`), and nothing on the engine's stream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from exchange.v1 import auth_service_pb2 as au
from exchange.v1 import auth_service_pb2_grpc, exchange_service_pb2_grpc, types_pb2
from exchange.v1 import exchange_service_pb2 as xs

from mesh import streams
from tests.gateway_grpc.conftest import trailers

ExchangeStub = exchange_service_pb2_grpc.ExchangeServiceStub

UUID = "3f2b8c9a-5d1e-4f7a-b6c3-9e8d7a6b5c4d"
FULLWIDTH_UUID = UUID.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
ARABIC_UUID = UUID.translate({ord(d): 0x0660 + int(d) for d in "0123456789"})  # Arabic-Indic digits
# Far past every field's bound, but within the largest request the server takes at all.
HUGE = "x" * 10_000


def _trade(**override: Any) -> xs.CreateTradeRequest:
    fields: dict[str, Any] = {
        "asset": "SOL_USDC",
        "direction": types_pb2.DIRECTION_LONG,
        "margin": types_pb2.Decimal(units=100_000, scale=4),
    }
    fields.update(override)
    return xs.CreateTradeRequest(**fields)


Call = Callable[[ExchangeStub, Any], Awaitable[Any]]

CASES: list[tuple[str, Call, str]] = [
    (
        "fullwidth trade id",
        lambda x, m: x.CloseTrade(xs.CloseTradeRequest(trade_id=FULLWIDTH_UUID), metadata=m),
        "trade_id",
    ),
    (
        "arabic-digit trade id",
        lambda x, m: x.CloseTrade(xs.CloseTradeRequest(trade_id=ARABIC_UUID), metadata=m),
        "trade_id",
    ),
    (
        "huge trade id",
        lambda x, m: x.CloseTrade(xs.CloseTradeRequest(trade_id=HUGE), metadata=m),
        "trade_id",
    ),
    (
        "bidi trade id",
        lambda x, m: x.CloseTrade(xs.CloseTradeRequest(trade_id="\u202e" + UUID[1:]), metadata=m),
        "trade_id",
    ),
    (
        "fullwidth order id",
        lambda x, m: x.CreateTrade(_trade(order_id=FULLWIDTH_UUID), metadata=m),
        "order_id",
    ),
    (
        "zero-width order id",
        lambda x, m: x.CreateAccount(
            xs.CreateAccountRequest(order_id=UUID[:-1] + "\u200b"), metadata=m
        ),
        "order_id",
    ),
    (
        "huge order id",
        lambda x, m: x.CloseTrade(xs.CloseTradeRequest(order_id=HUGE, trade_id=UUID), metadata=m),
        "order_id",
    ),
    (
        "fullwidth asset",
        lambda x, m: x.CreateTrade(_trade(asset="\uff33\uff2f\uff2c_USDC"), metadata=m),
        "asset",
    ),
    (
        "asset with NUL",
        lambda x, m: x.CreateTrade(_trade(asset="SOL_USDC\x00"), metadata=m),
        "asset",
    ),
    ("huge asset", lambda x, m: x.CreateTrade(_trade(asset=HUGE), metadata=m), "asset"),
    (
        "unicode page token",
        lambda x, m: x.ListOrders(xs.ListOrdersRequest(page_token="é" * 10), metadata=m),
        "page_token",
    ),
    (
        "huge page token",
        lambda x, m: x.ListClosedTrades(xs.ListClosedTradesRequest(page_token=HUGE), metadata=m),
        "page_token",
    ),
    ("huge price asset", lambda x, m: x.GetPrice(xs.GetPriceRequest(asset=HUGE)), "asset"),
]


@pytest.mark.parametrize(("case", "call", "field"), CASES, ids=[c[0] for c in CASES])
async def test_odd_strings_are_invalid_argument_naming_the_field(
    case: str,
    call: Call,
    field: str,
    exchange: ExchangeStub,
    alice: Any,
    redis: aioredis.Redis,
) -> None:
    before = await redis.xlen(streams.COMMANDS)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(exchange, alice)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(field), info.value.details()
    assert len(info.value.details()) < 200  # never the input echoed back
    assert trailers(info.value)["x-error-field"] == field
    assert await redis.xlen(streams.COMMANDS) == before


@pytest.mark.parametrize(
    "email",
    [
        "é@example.com",
        "\uff41@example.com",
        "a\u200b@example.com",
        "a@ex\u0430mple.com",  # Cyrillic a
        "a@example.com\u202e",
        "a\uff20example.com",
        "a" * 64 + "é@example.com",
        "a@" + "b" * 10_000 + ".com",
    ],
)
async def test_odd_emails_are_invalid_argument(
    email: str, auth: auth_service_pb2_grpc.AuthServiceStub, mailer: Any
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await auth.RequestSignInLink(au.RequestSignInLinkRequest(email=email))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("email")
    assert trailers(info.value)["x-error-field"] == "email"
    assert mailer.sent == []


@pytest.mark.parametrize(
    ("method", "message", "streaming"),
    [
        ("/exchange.v1.ExchangeService/CreateTrade", "exchange.v1.CreateTradeRequest", False),
        ("/exchange.v1.ExchangeService/GetPrice", "exchange.v1.GetPriceRequest", False),
        ("/exchange.v1.ExchangeService/StreamPrices", "exchange.v1.StreamPricesRequest", True),
        (
            "/exchange.v1.AuthService/RequestSignInLink",
            "exchange.v1.RequestSignInLinkRequest",
            False,
        ),
        ("/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest", False),
    ],
)
async def test_bytes_that_are_no_message_are_invalid_argument(
    channel: grpc.aio.Channel,
    redis: aioredis.Redis,
    alice: Any,
    method: str,
    message: str,
    streaming: bool,
) -> None:
    """A client with a broken encoder or another version of the contract: not UNKNOWN with the
    parser's exception, but bad input with its error code, and nothing reaches the engine."""
    sent_before = await redis.xlen(streams.COMMANDS)  # the sign-in's CreateAccount
    kind = channel.unary_stream if streaming else channel.unary_unary
    call = kind(method, request_serializer=lambda raw: raw, response_deserializer=lambda raw: raw)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        answer = call(b"\xff\xff\xff", metadata=alice)
        if streaming:
            async for _ in answer:
                pass
        else:
            await answer
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert info.value.details() == f"the request is not a valid {message}"
    assert trailers(info.value) == {"x-error-code": "INVALID_ARGUMENT"}
    assert await redis.xlen(streams.COMMANDS) == sent_before


@pytest.mark.parametrize(
    "method",
    ["/exchange.v1.AuthService/RequestSignInLink", "/exchange.v1.ExchangeService/CreateTrade"],
)
async def test_a_request_past_the_largest_the_server_takes_is_refused_unread(
    channel: grpc.aio.Channel, redis: aioredis.Redis, method: str
) -> None:
    """grpc's default (4 MB a message) let a client hold that much memory per unfinished call
    without signing in; the public server takes requests of at most MAX_REQUEST_BYTES."""
    from gateway_svc.grpc_server import MAX_REQUEST_BYTES

    sent_before = await redis.xlen(streams.COMMANDS)
    call = channel.unary_unary(method, request_serializer=lambda raw: raw)
    fits = au.RequestSignInLinkRequest(email="a@" + "b" * (MAX_REQUEST_BYTES - 100) + ".com")
    with pytest.raises(grpc.aio.AioRpcError) as within:
        await call(fits.SerializeToString())
    with pytest.raises(grpc.aio.AioRpcError) as past:
        await call(b"\x0a" + b"\x80\x80\x01" + b"x" * (MAX_REQUEST_BYTES + 1))
    assert within.value.code() != grpc.StatusCode.RESOURCE_EXHAUSTED  # read, then judged
    assert past.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, past.value.details()
    assert await redis.xlen(streams.COMMANDS) == sent_before
