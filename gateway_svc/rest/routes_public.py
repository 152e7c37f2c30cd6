"""Public market data: supported assets, the current price, candles."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from exchange.v1 import exchange_service_pb2 as xs
from fastapi import APIRouter, Depends, Query, Request

from gateway_svc.rest import present, schemas
from gateway_svc.rest.clients import GrpcClients
from gateway_svc.rest.jsonio import DecimalJSONResponse
from gateway_svc.rest.query import unique_query_keys
from mesh.assets import SUPPORTED_ASSETS

router = APIRouter(
    prefix="/api/v1", tags=["market data"], dependencies=[Depends(unique_query_keys)]
)

AssetParam = Literal["SOL_USDC", "ETH_USDC", "BTC_USDC"]
assert set(get_args(AssetParam)) == set(SUPPORTED_ASSETS), "keep AssetParam in step with mesh"

INTERVALS = {
    "1m": xs.CANDLE_INTERVAL_1M,
    "5m": xs.CANDLE_INTERVAL_5M,
    "15m": xs.CANDLE_INTERVAL_15M,
    "1h": xs.CANDLE_INTERVAL_1H,
    "4h": xs.CANDLE_INTERVAL_4H,
    "1d": xs.CANDLE_INTERVAL_1D,
}
# Milliseconds up to the year 2286: enough, and well inside int64.
MAX_TIME_MS = 10**13


def grpc_clients(request: Request) -> GrpcClients:
    clients: GrpcClients = request.app.state.clients
    return clients


@router.get(
    "/supportedAssets",
    response_model=list[str],
    responses=schemas.ERROR_RESPONSES,
    summary="The tradable assets, in the seed's order",
)
async def supported_assets() -> DecimalJSONResponse:
    # The list is part of the contract (mesh.assets), the same one the facade validates
    # `asset` against, so it is answered here without a round trip.
    return DecimalJSONResponse(list(SUPPORTED_ASSETS))


@router.get(
    "/price",
    response_model=schemas.PriceQuote,
    responses=schemas.ERROR_RESPONSES,
    summary="The latest bid/ask; `price` is the ask as an integer scaled by `decimal`",
)
async def get_price(request: Request, asset: AssetParam) -> DecimalJSONResponse:
    clients = grpc_clients(request)
    reply = await clients.call(clients.exchange.GetPrice, xs.GetPriceRequest(asset=asset))
    return DecimalJSONResponse(present.price(reply.tick))


@router.get(
    "/candles",
    response_model=list[schemas.CandleRow],
    responses=schemas.ERROR_RESPONSES,
    summary="OHLC candles of the ask prices the exchange received",
)
async def get_candles(
    request: Request,
    asset: AssetParam,
    interval: Literal["1m", "5m", "15m", "1h", "4h", "1d"] = "1m",
    startTime: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_TIME_MS,
            description="ms since the epoch: bars from the one holding it, oldest first (a "
            "next page: the last bar's time + the interval)",
        ),
    ] = None,
    endTime: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_TIME_MS,
            description="ms since the epoch: bars up to the one holding it; without "
            "startTime, the newest up to it",
        ),
    ] = None,
) -> DecimalJSONResponse:
    # An inverted range is the gRPC server's to refuse, as ListCandles does (one rule).
    clients = grpc_clients(request)
    reply = await clients.call(
        clients.exchange.ListCandles,
        xs.ListCandlesRequest(
            asset=asset,
            interval=INTERVALS[interval],
            start_time_ms=startTime or 0,
            end_time_ms=endTime or 0,
        ),
    )
    return DecimalJSONResponse([present.candle(c) for c in reply.candles])
