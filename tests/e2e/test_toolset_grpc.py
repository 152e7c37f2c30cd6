"""The trader's toolset through gRPC with a real engine (SPEC 3a): PlaceOrder, ListPendingTrades,
ModifyTrade (its prices read at the trade's own asset, looked up from the engine), CancelOrder,
CreateTrade with a trailing stop and CloseTrade with a margin; rejections with their codes."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import grpc
import pytest
from exchange.v1 import (
    auth_service_pb2,
    auth_service_pb2_grpc,
    exchange_service_pb2_grpc,
    types_pb2,
)
from exchange.v1 import exchange_service_pb2 as xs

from tests.e2e.harness import MailCatcher, Mesh
from tests.e2e.money import pnl


def dec(units: int, scale: int) -> types_pb2.Decimal:
    return types_pb2.Decimal(units=units, scale=scale)


def code(error: grpc.aio.AioRpcError) -> str:
    return dict(error.trailing_metadata() or ())["x-error-code"]


async def test_toolset_through_grpc(mesh: Mesh, mail: MailCatcher) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.grpc_port}") as channel:
        auth = auth_service_pb2_grpc.AuthServiceStub(channel)
        exchange = exchange_service_pb2_grpc.ExchangeServiceStub(channel)
        await auth.RequestSignInLink(
            auth_service_pb2.RequestSignInLinkRequest(email="dave@example.com", signup=True)
        )
        link = await asyncio.to_thread(mail.link_for, "dave@example.com")
        token = parse_qs(urlparse(link).query)["token"][0]
        session = await auth.CompleteSignIn(auth_service_pb2.CompleteSignInRequest(token=token))
        meta = (("authorization", f"Bearer {session.session_token}"),)

        # BTC_USDC: bid 90012.6, ask 90012.7, 4 decimals.
        placed = await exchange.PlaceOrder(
            xs.PlaceOrderRequest(
                asset="BTC_USDC",
                direction=types_pb2.DIRECTION_LONG,
                order_type=types_pb2.ORDER_TYPE_LIMIT,
                price=dec(89_000, 0),
                margin=dec(100, 0),
                leverage=50,
            ),
            metadata=meta,
        )
        order = placed.placed.trade
        assert order.status == types_pb2.TRADE_STATUS_PENDING
        assert (order.order_price.units, order.order_price.scale) == (890_000_000, 4)
        pending = await exchange.ListPendingTrades(xs.ListPendingTradesRequest(), metadata=meta)
        assert [t.trade_id for t in pending.trades] == [order.trade_id]

        # 5 decimals pass the edge's first check (SOL has 6) but not BTC's 4.
        with pytest.raises(grpc.aio.AioRpcError) as too_fine:
            await exchange.ModifyTrade(
                xs.ModifyTradeRequest(
                    trade_id=order.trade_id,
                    take_profit_price=types_pb2.PriceChange(value=dec(9_500_000_001, 5)),
                ),
                metadata=meta,
            )
        assert code(too_fine.value) == "INVALID_PRICE"
        modified = await exchange.ModifyTrade(
            xs.ModifyTradeRequest(
                trade_id=order.trade_id,
                take_profit_price=types_pb2.PriceChange(value=dec(950_005, 1)),
                price=dec(88_500, 0),
            ),
            metadata=meta,
        )
        trade = modified.modified.trade
        assert (trade.take_profit_price.units, trade.take_profit_price.scale) == (950_005_000, 4)
        assert trade.order_price.units == 885_000_000

        with pytest.raises(grpc.aio.AioRpcError) as not_open:
            await exchange.CloseTrade(xs.CloseTradeRequest(trade_id=order.trade_id), metadata=meta)
        assert code(not_open.value) == "NOT_OPEN"
        cancelled = await exchange.CancelOrder(
            xs.CancelOrderRequest(trade_id=order.trade_id), metadata=meta
        )
        assert cancelled.cancelled.margin_returned.units == 1_000_000
        with pytest.raises(grpc.aio.AioRpcError) as not_pending:
            await exchange.CancelOrder(
                xs.CancelOrderRequest(trade_id=order.trade_id), metadata=meta
            )
        assert code(not_pending.value) in ("NOT_PENDING", "TRADE_NOT_FOUND")

        opened = await exchange.CreateTrade(
            xs.CreateTradeRequest(
                asset="BTC_USDC",
                direction=types_pb2.DIRECTION_LONG,
                margin=dec(100, 0),
                leverage=100,
                trailing_stop_distance=dec(500, 0),
            ),
            metadata=meta,
        )
        view = opened.opened.trade
        assert view.trailing_stop_distance.units == 5_000_000
        assert view.stop_loss_price.units == 900_126_000 - 5_000_000  # bid - D, as it stands
        part = await exchange.CloseTrade(
            xs.CloseTradeRequest(trade_id=view.trade_id, margin=dec(25, 0)), metadata=meta
        )
        closed = part.closed
        assert closed.remaining_margin.units == 750_000 and closed.trade.partial
        expected = pnl("LONG", Decimal(25), 100, Decimal("90012.7"), Decimal("90012.6"))
        assert Decimal(closed.trade.pnl.units).scaleb(-closed.trade.pnl.scale) == expected
