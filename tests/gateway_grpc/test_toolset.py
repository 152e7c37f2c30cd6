"""The trader's toolset over gRPC (SPEC 3a), with the fake engine answering: PlaceOrder,
CancelOrder, ModifyTrade, CloseTrade with a margin, ListPendingTrades. Each sends engine units,
each bad field is refused naming it with its registry code before anything reaches the stream,
and a MODIFY_TRADE that sets a price reads it at the decimals of the trade's own asset."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
from exchange.v1 import commands_pb2, exchange_service_pb2_grpc, responses_pb2, types_pb2
from exchange.v1 import exchange_service_pb2 as xs

from gateway_svc.grpc_services.trade_assets import TradeAssets
from mesh import streams
from tests.gateway_grpc.conftest import trailers
from tests.gateway_grpc.fake_engine import FakeEngine, reject

Stub = exchange_service_pb2_grpc.ExchangeServiceStub
ORDER_ID = "5a4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c"
TRADE_ID = "0d9b8a7c-6e5f-4d3c-8b2a-1f0e9d8c7b6a"
BTC_TRADE = "1d9b8a7c-6e5f-4d3c-8b2a-1f0e9d8c7b6a"


def dec(units: int, scale: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


def toolset_answer(engine: FakeEngine):  # type: ignore[no-untyped-def]
    """The default answers, plus canned ones for the toolset: one pending SOL order
    (TRADE_ID) and one open BTC trade (BTC_TRADE)."""

    def answer(command: commands_pb2.Command) -> responses_pb2.CommandResult:
        out = responses_pb2.CommandResult(order_id=command.order_id)
        kind = command.WhichOneof("body")
        pending = types_pb2.Trade(
            trade_id=TRADE_ID, asset="SOL_USDC", status=types_pb2.TRADE_STATUS_PENDING
        )
        if kind == "place_order":
            out.order_placed.email = command.email
            out.order_placed.trade.CopyFrom(pending)
            placed, body = out.order_placed.trade, command.place_order  # as it was asked
            placed.asset, placed.direction, placed.order_type = (
                body.asset,
                body.direction,
                body.order_type,
            )
            placed.margin.CopyFrom(body.margin)
            placed.leverage = body.leverage
            placed.order_price.CopyFrom(body.price)
            for level in ("stop_loss_price", "take_profit_price", "trailing_stop_distance"):
                if body.HasField(level):
                    getattr(placed, level).CopyFrom(getattr(body, level))
            if body.HasField("expires_at_ms"):
                placed.expires_at_ms = body.expires_at_ms
        elif kind == "cancel_order":
            if command.cancel_order.trade_id != TRADE_ID:
                return reject(out, "NOT_PENDING", "not a pending order")
            out.order_cancelled.trade.CopyFrom(pending)
            out.order_cancelled.trade.trade_id = command.cancel_order.trade_id
            out.order_cancelled.margin_returned.CopyFrom(dec(100_000, 4))
        elif kind == "modify_trade":
            if command.modify_trade.trade_id not in (TRADE_ID, BTC_TRADE):
                return reject(out, "TRADE_NOT_FOUND", "trade not found")
            modify, modified = command.modify_trade, out.trade_modified.trade
            modified.trade_id = modify.trade_id
            for level in ("stop_loss_price", "take_profit_price", "trailing_stop_distance"):
                if modify.HasField(level) and getattr(modify, level).HasField("value"):
                    getattr(modified, level).CopyFrom(getattr(modify, level).value)
            if modify.HasField("price"):
                modified.order_price.CopyFrom(modify.price)
            if modify.expires_at.HasField("expires_at_ms"):
                modified.expires_at_ms = modify.expires_at.expires_at_ms
        elif kind == "get_pending_orders":
            out.open_trades.trades.add().CopyFrom(pending)
        elif kind == "get_open_trades":
            out.open_trades.trades.add(trade_id=BTC_TRADE, asset="BTC_USDC")
        elif kind == "close_trade":
            close = command.close_trade
            out.trade_closed.trade.trade_id = close.trade_id
            if close.HasField("margin"):  # a part: the answer shows the part's margin
                out.trade_closed.trade.partial = True
                out.trade_closed.trade.margin.CopyFrom(close.margin)
            out.trade_closed.remaining_margin.CopyFrom(dec(50_000, 4))
        else:
            return engine.default_answer(command)
        return out

    return answer


@pytest.fixture
def toolset_engine(engine: FakeEngine) -> FakeEngine:
    engine.answer = toolset_answer(engine)
    return engine


def order(**override: Any) -> xs.PlaceOrderRequest:
    fields: dict[str, Any] = {
        "order_id": ORDER_ID,
        "asset": "SOL_USDC",
        "direction": types_pb2.DIRECTION_LONG,
        "order_type": types_pb2.ORDER_TYPE_LIMIT,
        "price": dec(2301, 1),
        "margin": dec(10, 0),
        "leverage": 100,
    }
    fields.update(override)
    return xs.PlaceOrderRequest(**{k: v for k, v in fields.items() if v is not None})


async def test_place_order_sends_engine_units(
    exchange: Stub, alice: Any, toolset_engine: FakeEngine
) -> None:
    reply = await exchange.PlaceOrder(
        order(
            take_profit_price=dec(25, 0),
            trailing_stop_distance=dec(15, 1),
            expires_at_ms=1_900_000_000_000,
        ),
        metadata=alice,
    )
    assert reply.order_id == ORDER_ID
    assert reply.placed.trade.status == types_pb2.TRADE_STATUS_PENDING
    body = toolset_engine.commands[-1].place_order
    assert (body.price.units, body.price.scale) == (230_100_000, 6)
    assert (body.margin.units, body.margin.scale) == (100_000, 4)
    assert (body.take_profit_price.units, body.take_profit_price.scale) == (25_000_000, 6)
    assert (body.trailing_stop_distance.units, body.trailing_stop_distance.scale) == (1_500_000, 6)
    assert body.expires_at_ms == 1_900_000_000_000
    assert body.order_type == types_pb2.ORDER_TYPE_LIMIT and not body.HasField("stop_loss_price")


BAD_ORDERS = [
    ("no order type", order(order_type=0), "INVALID_ARGUMENT", "order_type"),
    ("order type out of enum", order(order_type=9), "INVALID_ARGUMENT", "order_type"),
    ("no price", order(price=None), "INVALID_PRICE", "price"),
    ("7-decimal price", order(price=dec(1, 7)), "INVALID_PRICE", "price"),
    ("zero price", order(price=dec(0, 0)), "INVALID_PRICE", "price"),
    ("unknown asset", order(asset="XRP"), "UNKNOWN_ASSET", "asset"),
    ("no margin", order(margin=None), "INVALID_MARGIN", "margin"),
    ("leverage 1001", order(leverage=1001), "INVALID_LEVERAGE", "leverage"),
    (
        "5-decimal trailing on BTC",
        order(asset="BTC_USDC", price=dec(9, 0), trailing_stop_distance=dec(1, 5)),
        "INVALID_TRAILING_STOP",
        "trailing_stop_distance",
    ),
    (
        "negative trailing",
        order(trailing_stop_distance=dec(-1, 0)),
        "INVALID_TRAILING_STOP",
        "trailing_stop_distance",
    ),
    (
        "trailing with a stop loss",
        order(trailing_stop_distance=dec(1, 0), stop_loss_price=dec(200, 0)),
        "INVALID_TRAILING_STOP",
        "trailing_stop_distance",
    ),
    ("negative expiry", order(expires_at_ms=-5), "INVALID_EXPIRY", "expires_at_ms"),
    ("zero expiry", order(expires_at_ms=0), "INVALID_EXPIRY", "expires_at_ms"),
    ("expiry past 2286", order(expires_at_ms=10**14), "INVALID_EXPIRY", "expires_at_ms"),
    ("bad order id", order(order_id="x"), "INVALID_ARGUMENT", "order_id"),
]


@pytest.mark.parametrize(
    ("case", "request_", "code", "field"), BAD_ORDERS, ids=[c[0] for c in BAD_ORDERS]
)
async def test_bad_orders_are_refused_before_the_stream(
    case: str,
    request_: xs.PlaceOrderRequest,
    code: str,
    field: str,
    exchange: Stub,
    alice: Any,
    redis: aioredis.Redis,
) -> None:
    before = await redis.xlen(streams.COMMANDS)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.PlaceOrder(request_, metadata=alice)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(field), info.value.details()
    assert trailers(info.value)["x-error-code"] == code
    assert await redis.xlen(streams.COMMANDS) == before


async def test_cancel_order_and_its_rejection(
    exchange: Stub, alice: Any, toolset_engine: FakeEngine
) -> None:
    reply = await exchange.CancelOrder(xs.CancelOrderRequest(trade_id=TRADE_ID), metadata=alice)
    assert reply.cancelled.margin_returned.units == 100_000
    assert toolset_engine.commands[-1].cancel_order.trade_id == TRADE_ID
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CancelOrder(xs.CancelOrderRequest(trade_id=BTC_TRADE), metadata=alice)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert trailers(info.value)["x-error-code"] == "NOT_PENDING"


async def test_partial_close_sends_the_margin(
    exchange: Stub, alice: Any, toolset_engine: FakeEngine
) -> None:
    reply = await exchange.CloseTrade(
        xs.CloseTradeRequest(trade_id=BTC_TRADE, margin=dec(25, 1)), metadata=alice
    )
    assert reply.closed.remaining_margin.units == 50_000
    sent = toolset_engine.commands[-1].close_trade
    assert (sent.margin.units, sent.margin.scale) == (25_000, 4)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CloseTrade(
            xs.CloseTradeRequest(trade_id=BTC_TRADE, margin=dec(1, 5)), metadata=alice
        )
    assert trailers(info.value)["x-error-code"] == "INVALID_MARGIN"
    assert info.value.details().startswith("margin")


async def test_modify_reads_prices_at_the_trade_asset(
    exchange: Stub, alice: Any, toolset_engine: FakeEngine
) -> None:
    await exchange.ModifyTrade(
        xs.ModifyTradeRequest(
            trade_id=TRADE_ID,
            take_profit_price=types_pb2.PriceChange(value=dec(25, 0)),
            stop_loss_price=types_pb2.PriceChange(),
            price=dec(2299, 1),
            expires_at=types_pb2.ExpiryChange(),
        ),
        metadata=alice,
    )
    sent = toolset_engine.commands[-1].modify_trade
    assert sent.asset == "SOL_USDC" and sent.trade_id == TRADE_ID
    assert (sent.take_profit_price.value.units, sent.take_profit_price.value.scale) == (
        25_000_000,
        6,
    )
    assert sent.HasField("stop_loss_price") and not sent.stop_loss_price.HasField("value")
    assert not sent.HasField("trailing_stop_distance")  # absent: kept
    assert (sent.price.units, sent.price.scale) == (229_900_000, 6)
    assert sent.HasField("expires_at") and not sent.expires_at.HasField("expires_at_ms")


async def test_a_failed_lookup_names_the_callers_order_id(
    exchange: Stub, alice: Any, engine: FakeEngine
) -> None:
    """ModifyTrade asks the engine for the trade's asset under an id of the gateway's own;
    when that fails, the error is the caller's request's, with the caller's order id."""
    engine.accounts.clear()  # the engine knows the user no more: the lookup fails
    order_id = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.ModifyTrade(
            xs.ModifyTradeRequest(
                order_id=order_id,
                trade_id=TRADE_ID,
                take_profit_price=types_pb2.PriceChange(value=dec(25, 0)),
            ),
            metadata=alice,
        )
    assert trailers(info.value)["x-error-code"] == "ACCOUNT_NOT_FOUND"
    assert trailers(info.value)["x-order-id"] == order_id
    assert engine.commands[-1].WhichOneof("body") == "get_open_trades"


async def test_modify_with_removals_only_needs_no_lookup(
    exchange: Stub, alice: Any, toolset_engine: FakeEngine
) -> None:
    before = len(toolset_engine.commands)
    await exchange.ModifyTrade(
        xs.ModifyTradeRequest(trade_id=BTC_TRADE, take_profit_price=types_pb2.PriceChange()),
        metadata=alice,
    )
    assert [c.WhichOneof("body") for c in toolset_engine.commands[before:]] == ["modify_trade"]


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (  # 5 decimals pass the first check (SOL has 6) but not BTC_TRADE's 4
            xs.ModifyTradeRequest(
                trade_id=BTC_TRADE, stop_loss_price=types_pb2.PriceChange(value=dec(1, 5))
            ),
            "INVALID_PRICE",
            "stop_loss_price",
        ),
        (
            xs.ModifyTradeRequest(
                trade_id=BTC_TRADE, trailing_stop_distance=types_pb2.PriceChange(value=dec(0, 0))
            ),
            "INVALID_TRAILING_STOP",
            "trailing_stop_distance",
        ),
        (
            xs.ModifyTradeRequest(
                trade_id=BTC_TRADE,
                stop_loss_price=types_pb2.PriceChange(value=dec(1, 0)),
                trailing_stop_distance=types_pb2.PriceChange(value=dec(1, 0)),
            ),
            "INVALID_TRAILING_STOP",
            "trailing_stop_distance",
        ),
        (
            xs.ModifyTradeRequest(trade_id=TRADE_ID, price=dec(1, 7)),
            "INVALID_PRICE",
            "price",
        ),
        (
            xs.ModifyTradeRequest(
                trade_id=TRADE_ID, expires_at=types_pb2.ExpiryChange(expires_at_ms=-1)
            ),
            "INVALID_EXPIRY",
            "expires_at_ms",
        ),
        (xs.ModifyTradeRequest(trade_id="nope"), "INVALID_ARGUMENT", "trade_id"),
        (xs.ModifyTradeRequest(trade_id=TRADE_ID), "INVALID_ARGUMENT", "nothing to change"),
    ],
)
async def test_bad_modifications_never_reach_the_engine(
    request_: xs.ModifyTradeRequest,
    code: str,
    field: str,
    exchange: Stub,
    alice: Any,
    toolset_engine: FakeEngine,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.ModifyTrade(request_, metadata=alice)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(info.value)["x-error-code"] == code
    assert info.value.details().startswith(field), info.value.details()
    assert "modify_trade" not in [c.WhichOneof("body") for c in toolset_engine.commands]


async def test_modify_of_an_unknown_trade_is_not_found(
    exchange: Stub, alice: Any, toolset_engine: FakeEngine
) -> None:
    """A trade the engine lists nowhere has no asset to read a price at: the command goes
    bare (the engine would answer a retry from its memory, the trade having ended since) and
    the engine says it has no such trade."""
    unknown = "2d9b8a7c-6e5f-4d3c-8b2a-1f0e9d8c7b6a"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.ModifyTrade(
            xs.ModifyTradeRequest(
                trade_id=unknown, take_profit_price=types_pb2.PriceChange(value=dec(1, 0))
            ),
            metadata=alice,
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert toolset_engine.commands[-1].modify_trade == commands_pb2.ModifyTrade(trade_id=unknown)


async def test_list_pending_trades(exchange: Stub, alice: Any, toolset_engine: FakeEngine) -> None:
    reply = await exchange.ListPendingTrades(xs.ListPendingTradesRequest(), metadata=alice)
    assert [t.trade_id for t in reply.trades] == [TRADE_ID]
    assert toolset_engine.commands[-1].WhichOneof("body") == "get_pending_orders"


def _bodies_since(engine: FakeEngine, before: int) -> list[str | None]:
    return [c.WhichOneof("body") for c in engine.commands[before:]]


async def test_a_trade_asset_is_looked_up_once(
    exchange: Stub, alice: Any, toolset_engine: FakeEngine
) -> None:
    """A trade's asset never changes: a trailing-stop manager modifying every few seconds
    costs the engine one command each, not three."""
    change = xs.ModifyTradeRequest(
        trade_id=BTC_TRADE, take_profit_price=types_pb2.PriceChange(value=dec(95_000, 0))
    )
    before = len(toolset_engine.commands)
    await exchange.ModifyTrade(change, metadata=alice)
    assert _bodies_since(toolset_engine, before) == ["get_open_trades", "modify_trade"]
    before = len(toolset_engine.commands)
    await exchange.ModifyTrade(change, metadata=alice)
    assert _bodies_since(toolset_engine, before) == ["modify_trade"]
    assert toolset_engine.commands[-1].modify_trade.asset == "BTC_USDC"


async def test_an_order_placed_here_is_modified_without_a_lookup(
    exchange: Stub, alice: Any, toolset_engine: FakeEngine
) -> None:
    await exchange.PlaceOrder(order(), metadata=alice)
    before = len(toolset_engine.commands)
    await exchange.ModifyTrade(
        xs.ModifyTradeRequest(trade_id=TRADE_ID, price=dec(2299, 1)), metadata=alice
    )
    assert _bodies_since(toolset_engine, before) == ["modify_trade"]
    assert toolset_engine.commands[-1].modify_trade.asset == "SOL_USDC"


def test_trade_assets_are_per_user_and_bounded() -> None:
    assets = TradeAssets(capacity=2)
    assets.remember("ann", "t1", "SOL_USDC")
    assert assets.get("ann", "t1") == "SOL_USDC"
    assert assets.get("bob", "t1") is None  # someone else's trade id reads nothing
    assets.remember("ann", "t2", "BTC_USDC")
    assets.remember("ann", "t3", "ETH_USDC")
    assert len(assets) == 2 and assets.get("ann", "t1") is None  # the oldest went


async def test_another_trade_under_a_used_order_id_is_refused_and_not_remembered(
    exchange: Stub, alice: Any, toolset_engine: FakeEngine
) -> None:
    """The engine answers a used order id with its first answer. A CREATE_TRADE for another
    asset under it is another command: refused, like another kind of command is, and its
    asset is not taken for the trade's (an exploratory tester saw a BTC take profit stored
    100 times too high once the request's asset had been remembered)."""
    answer = toolset_engine.answer

    def first_answer(command: commands_pb2.Command) -> responses_pb2.CommandResult:
        if command.WhichOneof("body") != "create_trade":
            return answer(command)
        out = responses_pb2.CommandResult(order_id=command.order_id, engine_seq=1)
        trade = out.trade_opened.trade
        trade.trade_id, trade.asset, trade.leverage = BTC_TRADE, "BTC_USDC", 200
        trade.direction = types_pb2.DIRECTION_LONG
        trade.margin.CopyFrom(dec(100_000, 4))
        return out

    toolset_engine.answer = first_answer
    first = xs.CreateTradeRequest(
        order_id=ORDER_ID, asset="BTC_USDC", direction=types_pb2.DIRECTION_LONG,
        margin=dec(10, 0), leverage=200,
    )  # fmt: skip
    assert (await exchange.CreateTrade(first, metadata=alice)).opened.trade.trade_id == BTC_TRADE
    other = xs.CreateTradeRequest(
        order_id=ORDER_ID, asset="SOL_USDC", direction=types_pb2.DIRECTION_SHORT,
        margin=dec(11, 0), leverage=30,
    )  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CreateTrade(other, metadata=alice)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(info.value)["x-error-field"] == "order_id"
    await exchange.ModifyTrade(
        xs.ModifyTradeRequest(
            trade_id=BTC_TRADE, take_profit_price=types_pb2.PriceChange(value=dec(990005, 1))
        ),
        metadata=alice,
    )
    sent = toolset_engine.commands[-1].modify_trade
    assert sent.asset == "BTC_USDC"
    value = sent.take_profit_price.value
    assert (value.units, value.scale) == (990_005_000, 4)


async def test_a_change_of_an_ended_trade_under_a_used_order_id_is_compared_whole(
    exchange: Stub, alice: Any, toolset_engine: FakeEngine
) -> None:
    """The trade has ended, so no worker knows its asset and the command goes bare (no price
    can be read); the engine's remembered answer names the asset: the whole request is
    compared with it then, so another take profit under that order id is refused on every
    worker, not only where the trade's asset happened to be cached."""
    ended = "2d9b8a7c-6e5f-4d3c-8b2a-1f0e9d8c7b6a"
    answer = toolset_engine.answer

    def remembered(command: commands_pb2.Command) -> responses_pb2.CommandResult:
        if command.WhichOneof("body") != "modify_trade":
            return answer(command)
        assert not command.modify_trade.HasField("take_profit_price")  # sent bare
        out = responses_pb2.CommandResult(order_id=command.order_id, engine_seq=3)
        trade = out.trade_modified.trade
        trade.trade_id, trade.asset = ended, "SOL_USDC"
        trade.take_profit_price.CopyFrom(dec(400_000_000, 6))
        return out

    toolset_engine.answer = remembered

    def change(take_profit: int) -> xs.ModifyTradeRequest:
        return xs.ModifyTradeRequest(
            order_id=ORDER_ID, trade_id=ended,
            take_profit_price=types_pb2.PriceChange(value=dec(take_profit, 0)),
        )  # fmt: skip

    retried = await exchange.ModifyTrade(change(400), metadata=alice)
    assert retried.modified.trade.trade_id == ended
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.ModifyTrade(change(500), metadata=alice)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(info.value)["x-error-field"] == "order_id"
