"""`POST /api/v1/engine`: the seed's command endpoint, one gRPC call per command."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from exchange.v1 import exchange_service_pb2 as xs
from exchange.v1 import types_pb2
from fastapi import APIRouter, Request

from gateway_svc.errors import ApiError
from gateway_svc.rest import present, present_orders, routes_toolset, schemas
from gateway_svc.rest.auth import auth_metadata, require_token
from gateway_svc.rest.clients import GrpcClients, Metadata
from gateway_svc.rest.commands import EngineCommand, parse_command, parse_order_id
from gateway_svc.rest.envelope import RestError, set_order_id, success
from gateway_svc.rest.jsonio import DecimalJSONResponse, parse_json
from gateway_svc.rest.routes_public import grpc_clients
from mesh.assets import ASSET_DECIMALS, USD_SCALE

router = APIRouter(prefix="/api/v1", tags=["trading"])

_DIRECTIONS = {"LONG": types_pb2.DIRECTION_LONG, "SHORT": types_pb2.DIRECTION_SHORT}
# (the envelope's orderId, engineResponse.data, engineResponse.message)
Reply = tuple[str, dict[str, Any], str]
Handler = Callable[[GrpcClients, EngineCommand, str, Metadata], Awaitable[Reply]]


def _decimal(units: int | None, scale: int) -> types_pb2.Decimal | None:
    return None if units is None else types_pb2.Decimal(units=units, scale=scale)


async def _create_account(c: GrpcClients, cmd: EngineCommand, oid: str, md: Metadata) -> Reply:
    reply = await c.call(c.exchange.CreateAccount, xs.CreateAccountRequest(order_id=oid), md)
    return reply.order_id, present.account_created(reply.account), "account created"


async def _read(c: GrpcClients, method: Callable[..., Any], request: Any, md: Metadata) -> Any:
    """A read changes nothing and the engine does not remember it, so the envelope keeps the
    request's orderId (the client's, or the facade's own), answered or refused, instead of
    the id of the engine's round trip."""
    try:
        return await c.call(method, request, md)
    except RestError as error:
        error.order_id = None
        raise


async def _get_usd_balance(c: GrpcClients, cmd: EngineCommand, oid: str, md: Metadata) -> Reply:
    reply = await _read(c, c.exchange.GetUsdBalance, xs.GetUsdBalanceRequest(), md)
    return oid, present.usd_balance(reply.balance), "usd balance"


async def _get_balance(c: GrpcClients, cmd: EngineCommand, oid: str, md: Metadata) -> Reply:
    reply = await _read(c, c.exchange.GetBalance, xs.GetBalanceRequest(), md)
    return oid, present.balances(reply.balances), "balances"


async def _create_trade(c: GrpcClients, cmd: EngineCommand, oid: str, md: Metadata) -> Reply:
    scale = ASSET_DECIMALS[cmd.asset]
    request = xs.CreateTradeRequest(
        order_id=oid,
        asset=cmd.asset,
        direction=_DIRECTIONS[cmd.direction],
        margin=_decimal(cmd.margin_units, USD_SCALE),
        leverage=cmd.leverage,
        stop_loss_price=_decimal(cmd.stop_loss_units, scale),
        take_profit_price=_decimal(cmd.take_profit_units, scale),
        trailing_stop_distance=_decimal(cmd.trailing_units, scale),
    )
    reply = await c.call(c.exchange.CreateTrade, request, md)
    return reply.order_id, present.trade_opened(reply.opened), "trade opened"


async def _close_trade(c: GrpcClients, cmd: EngineCommand, oid: str, md: Metadata) -> Reply:
    request = xs.CloseTradeRequest(
        order_id=oid, trade_id=cmd.trade_id, margin=_decimal(cmd.close_margin_units, USD_SCALE)
    )
    reply = await c.call(c.exchange.CloseTrade, request, md)
    data = present.trade_closed(reply.closed) | present_orders.remaining_margin(reply.closed)
    return reply.order_id, data, "trade closed"


HANDLERS: dict[str, Handler] = {
    "CREATE_ACCOUNT": _create_account,
    "GET_USD_BALANCE": _get_usd_balance,
    "GET_BALANCE": _get_balance,
    "CREATE_TRADE": _create_trade,
    "CLOSE_TRADE": _close_trade,
    **routes_toolset.HANDLERS,
}


@router.post(
    "/engine",
    response_model=schemas.EngineSuccess,
    responses=schemas.ERROR_RESPONSES,
    openapi_extra=schemas.request_body("EngineRequest"),
    summary="Run one engine command (CREATE_ACCOUNT, GET_USD_BALANCE, GET_BALANCE, "
    "CREATE_TRADE, CLOSE_TRADE, PLACE_ORDER, CANCEL_ORDER, MODIFY_TRADE)",
)
async def engine(request: Request) -> DecimalJSONResponse:
    token = require_token(request, request.app.state.settings)
    body = parse_json(await request.body())
    if isinstance(body, dict):
        # Echo the client's orderId even when another field is rejected.
        with contextlib.suppress(ApiError):
            set_order_id(request, parse_order_id(body.get("orderId")))
    cmd = parse_command(body)
    # The same id goes to gRPC, so the envelope's orderId is the one the engine journals.
    order_id = cmd.order_id or str(uuid.uuid4())
    set_order_id(request, order_id)
    metadata = (*auth_metadata(token), ("x-order-id", order_id))
    engine_order_id, data, message = await HANDLERS[cmd.command](
        grpc_clients(request), cmd, order_id, metadata
    )
    set_order_id(request, engine_order_id)
    return success(request, data, message)
