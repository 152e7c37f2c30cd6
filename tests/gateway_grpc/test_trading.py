"""Trading RPCs end to end through the gateway, with the fake engine answering: commands carry
the session's user, answers map to responses, rejections to the registry's status with
x-error-code / x-order-id, and every order lands in the audit."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from exchange.v1 import commands_pb2, exchange_service_pb2_grpc, responses_pb2, types_pb2
from exchange.v1 import exchange_service_pb2 as xs

from gateway_svc.db import Database
from gateway_svc.grpc_server import GrpcServerHandle
from tests.gateway_grpc.conftest import FakeClock, trailers
from tests.gateway_grpc.fake_engine import FakeEngine, fake_trade_id, reject

Stub = exchange_service_pb2_grpc.ExchangeServiceStub
ORDER_ID = "5a4e3d2c-1b0a-4f9e-8d7c-6b5a4f3e2d1c"
MISSING_TRADE = "00000000-0000-4000-8000-000000000000"


def dec(units: int, scale: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


def trade_request(**override: Any) -> xs.CreateTradeRequest:
    fields: dict[str, Any] = {
        "order_id": ORDER_ID,
        "asset": "SOL_USDC",
        "direction": types_pb2.DIRECTION_SHORT,
        "margin": dec(10_050, 2),  # 100.50 USD
        "leverage": 1000,
        "stop_loss_price": dec(238, 0),
    }
    fields.update(override)
    return xs.CreateTradeRequest(**fields)


async def wait_for_orders(exchange: Stub, alice: Any, count: int) -> list[xs.Order]:
    for _ in range(50):
        reply = await exchange.ListOrders(xs.ListOrdersRequest(), metadata=alice)
        if len(reply.orders) >= count:
            return list(reply.orders)
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} orders in the audit")


async def test_create_trade_sends_engine_units_and_returns_the_trade(
    exchange: Stub, alice: Any, engine: FakeEngine
) -> None:
    reply = await exchange.CreateTrade(trade_request(), metadata=alice)
    assert reply.order_id == ORDER_ID
    sent = engine.commands[-1]
    assert sent.WhichOneof("body") == "create_trade"
    assert sent.order_id == ORDER_ID and sent.reply_to == "gw-test"
    assert sent.email == "alice@example.com" and sent.user_id == reply.opened.trade.user_id
    body = sent.create_trade
    assert (body.margin.units, body.margin.scale) == (1_005_000, 4)
    assert (body.stop_loss_price.units, body.stop_loss_price.scale) == (238_000_000, 6)
    assert not body.HasField("take_profit_price")
    assert body.leverage == 1000 and body.direction == types_pb2.DIRECTION_SHORT
    assert reply.opened.trade.trade_id == fake_trade_id(sent.user_id, ORDER_ID)


async def test_missing_order_id_gets_one_and_leverage_defaults(
    exchange: Stub, alice: Any, engine: FakeEngine
) -> None:
    reply = await exchange.CreateTrade(
        trade_request(order_id="", leverage=0, stop_loss_price=None), metadata=alice
    )
    assert len(reply.order_id) == 36 and reply.order_id == engine.commands[-1].order_id
    assert engine.commands[-1].create_trade.leverage == 10


async def test_trade_not_found_maps_to_not_found_with_metadata(exchange: Stub, alice: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CloseTrade(
            xs.CloseTradeRequest(order_id=ORDER_ID, trade_id=MISSING_TRADE), metadata=alice
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "trade not found"
    assert trailers(info.value) == {"x-error-code": "TRADE_NOT_FOUND", "x-order-id": ORDER_ID}


async def test_open_then_close_and_the_audit_records_both(
    exchange: Stub, alice: Any, clock: FakeClock
) -> None:
    clock.advance(1)  # the audit orders by command time: one second between commands
    opened = await exchange.CreateTrade(trade_request(), metadata=alice)
    trade_id = opened.opened.trade.trade_id
    listed = await exchange.ListOpenTrades(xs.ListOpenTradesRequest(), metadata=alice)
    assert [t.trade_id for t in listed.trades] == [trade_id]
    clock.advance(1)
    closed = await exchange.CloseTrade(xs.CloseTradeRequest(trade_id=trade_id), metadata=alice)
    assert closed.closed.trade.trade_id == trade_id
    clock.advance(1)
    with pytest.raises(grpc.aio.AioRpcError):
        await exchange.CloseTrade(xs.CloseTradeRequest(trade_id=trade_id), metadata=alice)

    orders = await wait_for_orders(exchange, alice, 4)  # sign-in's CREATE_ACCOUNT too
    by_command = [(o.command, o.status) for o in orders]
    assert by_command == [
        ("CLOSE_TRADE", "error"),
        ("CLOSE_TRADE", "success"),
        ("CREATE_TRADE", "success"),
        ("CREATE_ACCOUNT", "success"),
    ]
    failed = orders[0]
    assert failed.error_code == types_pb2.ERROR_CODE_TRADE_NOT_FOUND
    assert failed.trade_id == trade_id and failed.message == "trade not found"
    assert orders[2].order_id == ORDER_ID and orders[2].trade_id == trade_id
    assert all(o.latency_us > 0 for o in orders)


async def test_the_audit_keeps_the_validated_request(
    exchange: Stub, alice: Any, db: Database
) -> None:
    reply = await exchange.CreateTrade(trade_request(), metadata=alice)
    rows, _ = await db.list_orders(reply.opened.trade.user_id, 10, None)
    row = next(r for r in rows if r.order_id == ORDER_ID)
    assert row.request == {
        "asset": "SOL_USDC",
        "direction": "SHORT",
        "margin": "100.5000",
        "leverage": 1000,
        "stop_loss_price": "238.000000",
    }


async def test_balances_and_account_come_from_the_engine(exchange: Stub, alice: Any) -> None:
    usd = await exchange.GetUsdBalance(xs.GetUsdBalanceRequest(), metadata=alice)
    assert (usd.balance.usd_balance.units, usd.balance.usd_balance.scale) == (50_000_000, 4)
    balances = await exchange.GetBalance(xs.GetBalanceRequest(), metadata=alice)
    assert balances.balances.balances["USD"].units == 50_000_000
    account = await exchange.GetAccount(xs.GetAccountRequest(), metadata=alice)
    assert account.account.balance.units == 50_000_000


async def test_second_create_account_is_already_exists(exchange: Stub, alice: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CreateAccount(xs.CreateAccountRequest(), metadata=alice)
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert trailers(info.value)["x-error-code"] == "ACCOUNT_EXISTS"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("INSUFFICIENT_BALANCE", grpc.StatusCode.FAILED_PRECONDITION),
        ("INVALID_STOP_LOSS", grpc.StatusCode.INVALID_ARGUMENT),
        ("TOO_MANY_OPEN_TRADES", grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("PRICE_UNAVAILABLE", grpc.StatusCode.FAILED_PRECONDITION),
    ],
)
async def test_engine_rejections_use_the_registry(
    code: str, status: grpc.StatusCode, exchange: Stub, alice: Any, engine: FakeEngine
) -> None:
    def rejecting(command: commands_pb2.Command) -> responses_pb2.CommandResult:
        out = responses_pb2.CommandResult(order_id=command.order_id)
        return reject(out, code, f"engine says {code.lower()}")

    engine.answer = rejecting
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CreateTrade(trade_request(), metadata=alice)
    assert info.value.code() == status
    assert info.value.details() == f"engine says {code.lower()}"
    assert trailers(info.value) == {"x-error-code": code, "x-order-id": ORDER_ID}


async def test_silent_engine_is_engine_timeout_and_audited(
    gateway: GrpcServerHandle, exchange: Stub, alice: Any, engine: FakeEngine, clock: FakeClock
) -> None:
    clock.advance(1)
    engine.answer = lambda command: None
    gateway.engine.timeout_s = 0.3
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CreateTrade(trade_request(), metadata=alice)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert trailers(info.value) == {"x-error-code": "ENGINE_TIMEOUT", "x-order-id": ORDER_ID}
    orders = await wait_for_orders(exchange, alice, 2)
    assert orders[0].order_id == ORDER_ID
    assert orders[0].error_code == types_pb2.ERROR_CODE_ENGINE_TIMEOUT


async def test_mismatched_engine_answer_is_internal(
    exchange: Stub, alice: Any, engine: FakeEngine
) -> None:
    engine.answer = lambda command: responses_pb2.CommandResult(order_id=command.order_id)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CreateTrade(trade_request(), metadata=alice)
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert info.value.details() == "internal error"


async def test_queries_are_not_audited(exchange: Stub, alice: Any) -> None:
    await exchange.GetAccount(xs.GetAccountRequest(), metadata=alice)
    await exchange.ListOpenTrades(xs.ListOpenTradesRequest(), metadata=alice)
    orders = await wait_for_orders(exchange, alice, 1)
    assert [o.command for o in orders] == ["CREATE_ACCOUNT"]


async def test_a_client_that_hangs_up_still_leaves_an_audit_row(
    gateway: GrpcServerHandle, exchange: Stub, alice: Any, engine: FakeEngine, clock: FakeClock
) -> None:
    clock.advance(1)
    engine.answer = lambda command: None
    gateway.engine.timeout_s = 0.5
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CreateTrade(trade_request(), metadata=alice, timeout=0.1)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # the client's own deadline
    orders = await wait_for_orders(exchange, alice, 2)
    assert orders[0].order_id == ORDER_ID and orders[0].command == "CREATE_TRADE"
