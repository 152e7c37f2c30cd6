"""Trading RPCs end to end through the gateway, with the fake engine answering: commands carry
the session's user, answers map to responses, rejections to the registry's status with
x-error-code / x-order-id. The gateway writes no audit rows itself (the engine's audit stream
and the ledger do), so nothing here waits for one."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from exchange.v1 import commands_pb2, exchange_service_pb2_grpc, responses_pb2, types_pb2
from exchange.v1 import exchange_service_pb2 as xs

from gateway_svc.db import Database
from gateway_svc.grpc_server import GrpcServerHandle
from mesh import engine_heartbeat
from tests.gateway_grpc.conftest import trailers
from tests.gateway_grpc.fake_engine import FakeEngine, fake_trade_id, reject
from tests.polling import poll_async

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
    assert trailers(info.value) == {
        "x-error-code": "TRADE_NOT_FOUND",
        "x-error-field": "trade_id",  # the one field at fault
        "x-order-id": ORDER_ID,
    }


async def test_open_list_close_and_close_again(exchange: Stub, alice: Any) -> None:
    opened = await exchange.CreateTrade(trade_request(), metadata=alice)
    trade_id = opened.opened.trade.trade_id
    listed = await exchange.ListOpenTrades(xs.ListOpenTradesRequest(), metadata=alice)
    assert [t.trade_id for t in listed.trades] == [trade_id]
    closed = await exchange.CloseTrade(xs.CloseTradeRequest(trade_id=trade_id), metadata=alice)
    assert closed.closed.trade.trade_id == trade_id
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await exchange.CloseTrade(xs.CloseTradeRequest(trade_id=trade_id), metadata=alice)
    assert trailers(again.value)["x-error-code"] == "TRADE_NOT_FOUND"


async def test_the_gateway_writes_no_orders_rows(
    exchange: Stub, alice: Any, db: Database, engine: FakeEngine
) -> None:
    reply = await exchange.CreateTrade(trade_request(), metadata=alice)
    await exchange.GetUsdBalance(xs.GetUsdBalanceRequest(), metadata=alice)
    await asyncio.sleep(0.2)  # an audit write spawned after the answer would land by now
    rows, _ = await db.list_orders(reply.opened.trade.user_id, 10, None)
    assert rows == []
    assert [c.WhichOneof("body") for c in engine.commands][-2:] == [
        "create_trade",
        "get_usd_balance",
    ]


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
    ("code", "status", "field"),
    [
        ("INSUFFICIENT_BALANCE", grpc.StatusCode.FAILED_PRECONDITION, "margin"),
        ("INVALID_STOP_LOSS", grpc.StatusCode.INVALID_ARGUMENT, "stop_loss_price"),
        ("TOO_MANY_OPEN_TRADES", grpc.StatusCode.RESOURCE_EXHAUSTED, None),
        ("PRICE_UNAVAILABLE", grpc.StatusCode.FAILED_PRECONDITION, None),
    ],
)
async def test_engine_rejections_use_the_registry(
    code: str,
    status: grpc.StatusCode,
    field: str | None,
    exchange: Stub,
    alice: Any,
    engine: FakeEngine,
) -> None:
    def rejecting(command: commands_pb2.Command) -> responses_pb2.CommandResult:
        out = responses_pb2.CommandResult(order_id=command.order_id)
        return reject(out, code, f"engine says {code.lower()}")

    engine.answer = rejecting
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CreateTrade(trade_request(), metadata=alice)
    assert info.value.code() == status
    assert info.value.details() == f"engine says {code.lower()}"
    # A code about one request field names it, as a validation error does.
    expected = {"x-error-code": code, "x-order-id": ORDER_ID}
    if field:
        expected["x-error-field"] = field
    assert trailers(info.value) == expected


async def test_silent_engine_is_engine_timeout(
    gateway: GrpcServerHandle, exchange: Stub, alice: Any, engine: FakeEngine
) -> None:
    engine.answer = lambda command: None
    gateway.engine.timeout_s = 0.3
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CreateTrade(trade_request(), metadata=alice)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert trailers(info.value) == {"x-error-code": "ENGINE_TIMEOUT", "x-order-id": ORDER_ID}
    assert engine.commands[-1].order_id == ORDER_ID  # it was sent; nobody answered
    assert not gateway.engine._waiting


async def test_mismatched_engine_answer_is_internal(
    exchange: Stub, alice: Any, engine: FakeEngine
) -> None:
    engine.answer = lambda command: responses_pb2.CommandResult(order_id=command.order_id)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CreateTrade(trade_request(), metadata=alice)
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert info.value.details() == "internal error"


async def test_an_order_id_reused_for_another_command_is_refused_as_the_callers_mistake(
    exchange: Stub, alice: Any, engine: FakeEngine
) -> None:
    """The engine answers a used (user, order id) with its first answer: here a CreateTrade's,
    to a CloseTrade sent under the same order id."""
    trade = types_pb2.Trade(trade_id=MISSING_TRADE, asset="SOL_USDC")
    engine.answer = lambda command: responses_pb2.CommandResult(
        order_id=command.order_id, trade_opened=responses_pb2.TradeOpened(trade=trade)
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CloseTrade(
            xs.CloseTradeRequest(order_id=ORDER_ID, trade_id=MISSING_TRADE), metadata=alice
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(info.value) == {
        "x-error-code": "INVALID_ARGUMENT",
        "x-error-field": "order_id",
        "x-order-id": ORDER_ID,
    }
    assert info.value.details().startswith("order_id was already used for another command")


async def test_a_client_that_hangs_up_leaves_its_command_sent_and_nothing_behind(
    gateway: GrpcServerHandle, exchange: Stub, alice: Any, engine: FakeEngine
) -> None:
    slow: list[commands_pb2.Command] = []

    def answer_later(command: commands_pb2.Command) -> None:
        slow.append(command)  # no answer: the client gives up first

    engine.answer = answer_later
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CreateTrade(trade_request(), metadata=alice, timeout=0.1)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # the client's own deadline
    for _ in range(50):
        if slow:
            break
        await asyncio.sleep(0.02)
    assert [c.order_id for c in slow] == [ORDER_ID]  # the engine got it all the same
    await asyncio.sleep(0.1)
    assert not gateway.engine._waiting  # the abandoned wait was cleaned up


async def test_commands_are_refused_at_once_while_the_engine_has_no_heartbeat(
    exchange: Stub, alice: Any, engine: FakeEngine, gateway: GrpcServerHandle, redis: Any
) -> None:
    """A frozen or dead engine would take each command up in its stream and run it whenever
    it came back, at that moment's price, for a caller who had a timeout long before: once the
    health round sees its heartbeat gone, a command is not sent (503, surely not run)."""
    engine.beating = False
    await poll_async(
        lambda: redis.exists(engine_heartbeat.KEY),
        lambda exists: not exists,
        timeout_s=5,
        what="the heartbeat's expiry",
    )
    await gateway.dependencies.check_once()
    sent = len(engine.commands)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await exchange.CreateTrade(trade_request(), metadata=alice, timeout=2)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert trailers(info.value)["x-error-code"] == "ENGINE_UNAVAILABLE"
    assert "not sent" in (info.value.details() or "")
    assert len(engine.commands) == sent

    engine.beating = True
    await poll_async(
        lambda: redis.exists(engine_heartbeat.KEY), bool, timeout_s=5, what="a new heartbeat"
    )
    await gateway.dependencies.check_once()
    reply = await exchange.CreateTrade(trade_request(), metadata=alice)
    assert reply.opened.trade.trade_id
