"""`POST /api/v1/engine` commands of the trader's toolset (SPEC 3a): PLACE_ORDER, CANCEL_ORDER
and MODIFY_TRADE, each one gRPC call with the body validated by `commands.parse_command`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import types_pb2

from gateway_svc import validation_orders as orders
from gateway_svc.rest import present_orders
from gateway_svc.rest.clients import GrpcClients, Metadata
from gateway_svc.rest.commands import EngineCommand

Reply = tuple[str, dict[str, Any], str]
Handler = Callable[[GrpcClients, EngineCommand, str, Metadata], Awaitable[Reply]]


def _decimal(units: int | None, scale: int) -> types_pb2.Decimal | None:
    return None if units is None else types_pb2.Decimal(units=units, scale=scale)


async def _place_order(c: GrpcClients, cmd: EngineCommand, oid: str, md: Metadata) -> Reply:
    order = cmd.toolset
    assert isinstance(order, orders.PendingOrder)
    request = xs.PlaceOrderRequest(order_id=oid, **order.wire_fields())
    reply = await c.call(c.exchange.PlaceOrder, request, md)
    return reply.order_id, present_orders.order_placed(reply.placed), "order placed"


async def _cancel_order(c: GrpcClients, cmd: EngineCommand, oid: str, md: Metadata) -> Reply:
    request = xs.CancelOrderRequest(order_id=oid, trade_id=cmd.trade_id)
    reply = await c.call(c.exchange.CancelOrder, request, md)
    return reply.order_id, present_orders.order_cancelled(reply.cancelled), "order cancelled"


def _change(value: int | orders.Keep | None) -> types_pb2.PriceChange | None:
    """Validated at the finest decimals: the gRPC server reads it at the trade's asset."""
    if isinstance(value, orders.Keep):
        return None
    if value is None:
        return types_pb2.PriceChange()
    return types_pb2.PriceChange(value=_decimal(value, orders.FINEST_DECIMALS))


async def _modify_trade(c: GrpcClients, cmd: EngineCommand, oid: str, md: Metadata) -> Reply:
    change = cmd.toolset
    assert isinstance(change, orders.TradeChange)
    request = xs.ModifyTradeRequest(
        order_id=oid,
        trade_id=change.trade_id,
        stop_loss_price=_change(change.stop_loss),
        take_profit_price=_change(change.take_profit),
        trailing_stop_distance=_change(change.trailing),
    )
    if isinstance(change.price, int):
        request.price.CopyFrom(_decimal(change.price, orders.FINEST_DECIMALS))
    if not isinstance(change.expires_at_ms, orders.Keep):
        request.expires_at.SetInParent()
        if change.expires_at_ms is not None:
            request.expires_at.expires_at_ms = change.expires_at_ms
    reply = await c.call(c.exchange.ModifyTrade, request, md)
    return reply.order_id, present_orders.trade_modified(reply.modified), "trade modified"


HANDLERS: dict[str, Handler] = {
    "PLACE_ORDER": _place_order,
    "CANCEL_ORDER": _cancel_order,
    "MODIFY_TRADE": _modify_trade,
}
