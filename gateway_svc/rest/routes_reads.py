"""The caller's own data, for the web page: open and closed trades, orders, account summary."""

from __future__ import annotations

from typing import Annotated

from exchange.v1 import exchange_service_pb2 as xs
from fastapi import APIRouter, Depends, Query, Request

from gateway_svc.ledger_caught_up import CATCH_UP_S
from gateway_svc.rest import present, present_orders, schemas
from gateway_svc.rest.auth import auth_metadata, require_token
from gateway_svc.rest.jsonio import DecimalJSONResponse
from gateway_svc.rest.query import unique_query_keys
from gateway_svc.rest.routes_public import grpc_clients

router = APIRouter(prefix="/api/v1", tags=["account"], dependencies=[Depends(unique_query_keys)])

Limit = Annotated[int, Query(ge=1, le=200, description="page size, 1..200")]
# Page tokens are unpadded base64url (gateway_svc.db.pages): anything else is refused here.
Cursor = Annotated[
    str | None,
    Query(max_length=512, pattern=r"^[A-Za-z0-9_-]*$", description="nextCursor of the last page"),
]


def _metadata(request: Request) -> tuple[tuple[str, str], ...]:
    return auth_metadata(require_token(request, request.app.state.settings))


LEDGER_WAIT = (
    f"Read once the ledger has written every answer given before the request (waiting up to "
    f"{CATCH_UP_S:g} s): a trade closed just before is listed. A ledger stopped or further "
    "behind is not waited for, and the newest rows may then be missing."
)


@router.get(
    "/trades/open",
    response_model=schemas.OpenTrades,
    responses=schemas.ERROR_RESPONSES,
    summary="The caller's open positions",
)
async def open_trades(request: Request) -> DecimalJSONResponse:
    metadata = _metadata(request)
    clients = grpc_clients(request)
    reply = await clients.call(
        clients.exchange.ListOpenTrades, xs.ListOpenTradesRequest(), metadata
    )
    return DecimalJSONResponse({"trades": [present.open_trade(t) for t in reply.trades]})


@router.get(
    "/trades/pending",
    response_model=schemas.PendingTrades,
    responses=schemas.ERROR_RESPONSES,
    summary="The caller's pending orders (SPEC 3a), in the order they were placed",
)
async def pending_trades(request: Request) -> DecimalJSONResponse:
    metadata = _metadata(request)
    clients = grpc_clients(request)
    reply = await clients.call(
        clients.exchange.ListPendingTrades, xs.ListPendingTradesRequest(), metadata
    )
    return DecimalJSONResponse({"trades": [present_orders.pending_trade(t) for t in reply.trades]})


@router.get(
    "/trades/closed",
    response_model=schemas.ClosedTrades,
    responses=schemas.ERROR_RESPONSES,
    summary="The caller's closed positions, newest first",
    description="Ended trades and orders and the parts of partial closes. " + LEDGER_WAIT,
)
async def closed_trades(
    request: Request, limit: Limit = 50, cursor: Cursor = None
) -> DecimalJSONResponse:
    metadata = _metadata(request)
    clients = grpc_clients(request)
    reply = await clients.call(
        clients.exchange.ListClosedTrades,
        xs.ListClosedTradesRequest(limit=limit, page_token=cursor or ""),
        metadata,
    )
    return DecimalJSONResponse(
        {
            "trades": [present.closed_trade(t) for t in reply.trades],
            "nextCursor": reply.next_page_token or None,
        }
    )


@router.get(
    "/orders",
    response_model=schemas.Orders,
    responses=schemas.ERROR_RESPONSES,
    summary="The caller's commands with status and latency, newest first",
    description="The audit trail of state-changing commands. " + LEDGER_WAIT,
)
async def orders(request: Request, limit: Limit = 50, cursor: Cursor = None) -> DecimalJSONResponse:
    metadata = _metadata(request)
    clients = grpc_clients(request)
    reply = await clients.call(
        clients.exchange.ListOrders,
        xs.ListOrdersRequest(limit=limit, page_token=cursor or ""),
        metadata,
    )
    return DecimalJSONResponse(
        {
            "orders": [present.order(o) for o in reply.orders],
            "nextCursor": reply.next_page_token or None,
        }
    )


@router.get(
    "/account",
    response_model=schemas.Account,
    responses=schemas.ERROR_RESPONSES,
    summary="Balance, equity and margin of the caller's account",
)
async def account(request: Request) -> DecimalJSONResponse:
    metadata = _metadata(request)
    clients = grpc_clients(request)
    reply = await clients.call(clients.exchange.GetAccount, xs.GetAccountRequest(), metadata)
    return DecimalJSONResponse(present.account(reply.account))
